package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopTimeout is how long Stop waits for LiteFS and dream to shut down
// before it kills them.
const stopTimeout = 15 * time.Second

// Node is one LiteFS node running dream. Its methods may be called from
// several goroutines; Start, Stop and Kill take turns.
type Node struct {
	// Name is "primary" or "replica-<i>".
	Name string
	// Dir holds the node's litefs.yml, mount (mnt), LiteFS data (data),
	// outbox and log.
	Dir string
	// Addr is the 127.0.0.1:port dream listens on, and MetricsAddr the
	// one of its metrics: every node shares the host, so none can have
	// the default port.
	Addr        string
	MetricsAddr string

	config string
	litefs string
	dream  string
	env    []string

	// lifecycle serializes Start, Stop and Kill.
	lifecycle sync.Mutex
	// mu guards cmd and exited: the running litefs process, and a channel
	// closed once it has exited. cmd is nil when the node was never
	// started or has been stopped.
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// URL is the address of path on the node's dream.
func (n *Node) URL(path string) string { return "http://" + n.Addr + path }

// MetricsURL is the address of the node's metrics.
func (n *Node) MetricsURL() string { return "http://" + n.MetricsAddr + "/metrics" }

// DB is the database file in the node's mount, dream's DREAM_DB.
func (n *Node) DB() string { return filepath.Join(n.Dir, "mnt", "dream.db") }

// Outbox is the node's DREAM_OUTBOX file, outside the mount.
func (n *Node) Outbox() string { return filepath.Join(n.Dir, "outbox.db") }

// LogPath is the file LiteFS and dream write their output to, across
// restarts.
func (n *Node) LogPath() string { return filepath.Join(n.Dir, "log") }

// mount is the FUSE mount directory.
func (n *Node) mount() string { return filepath.Join(n.Dir, "mnt") }

// Start mounts LiteFS in a process group of its own, and LiteFS runs dream
// once the node is in the cluster.
func (n *Node) Start() error {
	n.lifecycle.Lock()
	defer n.lifecycle.Unlock()
	if n.Running() {
		return fmt.Errorf("%s is running already", n.Name)
	}
	log, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "---- harness: starting %s at %s ----\n", n.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(n.litefs, "mount", "-config", n.config)
	cmd.Env = n.env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		log.Close()
		close(exited)
	}()
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	return nil
}

// Running reports whether the node's litefs process is alive. dream may
// not be serving yet; Cluster.Ready waits for that.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Stop stops LiteFS, which stops dream first, as a deploy does: SIGTERM,
// then after stopTimeout SIGKILL to the whole process group. Stopping a
// node that is not running only clears its mount.
func (n *Node) Stop() error {
	n.lifecycle.Lock()
	defer n.lifecycle.Unlock()
	return n.end(func(cmd *exec.Cmd, exited <-chan struct{}) {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			n.kill(cmd)
		}
	})
}

// Kill kills LiteFS and dream at once with SIGKILL, as a crash of the
// machine would, leaving the database, LiteFS's data and the outbox as
// they were at that instant.
func (n *Node) Kill() error {
	n.lifecycle.Lock()
	defer n.lifecycle.Unlock()
	return n.end(func(cmd *exec.Cmd, _ <-chan struct{}) { n.kill(cmd) })
}

// kill sends SIGKILL to the process group of cmd and aborts the FUSE
// connection of the mount. Without the abort the processes may never die:
// a LiteFS thread that was invalidating pages in the kernel when the
// signal came waits, unkillable, for a writeback only LiteFS itself could
// answer, and dream's threads wait on LiteFS. A forced unmount aborts the
// connection (the mount itself stays until end detaches it), failing every
// request in flight, which no killed process returns to see.
func (n *Node) kill(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	syscall.Unmount(n.mount(), syscall.MNT_FORCE)
}

// end ends the running process with how, waits until LiteFS and every
// process it started are gone, so that the next start finds dream's port
// free, and removes the mount: one left behind by a killed LiteFS would
// stop the next.
func (n *Node) end(how func(cmd *exec.Cmd, exited <-chan struct{})) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	var err error
	if cmd != nil {
		descendants := descendants(cmd.Process.Pid)
		how(cmd, exited)
		select {
		case <-exited:
			// Children left in another process group die here too.
			for _, pid := range descendants {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			err = waitGone(descendants, stopTimeout)
		case <-time.After(stopTimeout):
			err = fmt.Errorf("LiteFS (process %d) has not exited %s after it was told to", cmd.Process.Pid, stopTimeout)
		}
	}
	exec.Command("fusermount3", "-uz", n.mount()).Run()
	return err
}

// DreamPID returns the process id of the node's dream, LiteFS's child, for
// readings such as its resident memory in /proc/<pid>/status.
func (n *Node) DreamPID() (int, error) {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil || !n.Running() {
		return 0, fmt.Errorf("%s is not running", n.Name)
	}
	for _, pid := range descendants(cmd.Process.Pid) {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err == nil && strings.TrimSuffix(exe, " (deleted)") == n.dream {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("%s: LiteFS has not started dream", n.Name)
}

// LogTail returns the last lines of the node's log.
func (n *Node) LogTail(lines int) string { return logTail(n.LogPath(), lines) }

// logTail returns the last lines of the file at path.
func logTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// descendants returns the ids of the processes below pid, read from the
// parent ids in /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if stat, err := ReadProcStat(child); err == nil {
			children[stat.PPID] = append(children[stat.PPID], child)
		}
	}
	var out []int
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}

// waitGone waits until none of pids is alive. A process that has exited
// but is not reaped yet counts as gone: it holds no port or file.
func waitGone(pids []int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for _, pid := range pids {
		for {
			stat, err := ReadProcStat(pid)
			if err != nil || stat.State == 'Z' || stat.State == 'X' {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("process %d still alive after %s", pid, within)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// ProcStat is what the kernel's /proc/<pid>/stat says of a process that
// the harness and the bench need.
type ProcStat struct {
	// State is the process state: R, S, D, Z (a zombie), X (dead), ...
	State byte
	// PPID is the parent's process id.
	PPID int
	// CPU is the CPU time the process has used, in user and kernel mode.
	CPU time.Duration
}

// clockTick is the unit of the CPU times in /proc, USER_HZ, which Linux
// fixes at 100 per second for every program.
const clockTick = 10 * time.Millisecond

// ReadProcStat reads /proc/<pid>/stat.
func ReadProcStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcStat{}, err
	}
	return ParseProcStat(b)
}

// ParseProcStat parses a /proc/<pid>/stat line: "pid (comm) state ppid
// ... utime stime ...". The command name may hold spaces and parentheses,
// so the fields are counted from its last closing parenthesis.
func ParseProcStat(stat []byte) (ProcStat, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ProcStat{}, errors.New("unexpected /proc/<pid>/stat format")
	}
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 13 || len(fields[0]) != 1 {
		return ProcStat{}, errors.New("unexpected /proc/<pid>/stat format")
	}
	number := func(field int) (int64, error) { return strconv.ParseInt(string(fields[field]), 10, 64) }
	parent, err := number(1)
	if err != nil {
		return ProcStat{}, err
	}
	user, err := number(11)
	if err != nil {
		return ProcStat{}, err
	}
	system, err := number(12)
	if err != nil {
		return ProcStat{}, err
	}
	return ProcStat{State: fields[0][0], PPID: int(parent), CPU: time.Duration(user+system) * clockTick}, nil
}
