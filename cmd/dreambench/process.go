package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/dream-api/dream/e2e/harness"
)

// process is a child process of the bench: a server under load. Its output
// goes to a log file, it has its own process group so that a Ctrl-C at the
// terminal reaches the bench alone, which then stops it in order, and it is
// killed if the bench dies first.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	// exited is closed once the process has been waited for.
	exited chan struct{}
}

// startProcess starts path with args, appending its output to logPath.
func startProcess(name, logPath, path string, args ...string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: log, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stopGrace is how long a process has to shut down before it is killed.
const stopGrace = 10 * time.Second

// Stop asks the process to end and kills it if it has not within
// stopGrace. Stopping a process twice is harmless.
func (p *process) Stop() error {
	defer p.log.Close()
	select {
	case <-p.exited:
		return nil
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopGrace):
	}
	p.cmd.Process.Kill()
	<-p.exited
	return fmt.Errorf("%s did not stop within %s and was killed", p.name, stopGrace)
}

// Kill kills the process at once, as a crash would, and waits for it.
func (p *process) Kill() {
	defer p.log.Close()
	p.cmd.Process.Kill()
	<-p.exited
}

// Pid is the process id.
func (p *process) Pid() int { return p.cmd.Process.Pid }

// peakRSS is the largest resident set process pid has had, from the
// kernel's VmHWM.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmHWM(b)
}

// parseVmHWM reads the "VmHWM:   1234 kB" line of a /proc status file, in
// bytes.
func parseVmHWM(status []byte) (int64, error) {
	s := bufio.NewScanner(bytes.NewReader(status))
	for s.Scan() {
		rest, ok := bytes.CutPrefix(s.Bytes(), []byte("VmHWM:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			break
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmHWM line in the process status")
}

// cpuTime is the CPU time the processes have used in all. A process that
// is gone counts nothing.
func cpuTime(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		if s, err := harness.ReadProcStat(pid); err == nil {
			total += s.CPU
		}
	}
	return total
}

// waitHealthy polls url until it answers 200, for at most within.
func waitHealthy(ctx context.Context, url string, within time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		res, err := client.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		select {
		case <-exited:
			return fmt.Errorf("%s: the process exited", url)
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy within %s: %v", url, within, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cpuBusy is the share of the machine's CPU time spent working during d,
// from the kernel's counters in /proc/stat.
func cpuBusy(ctx context.Context, d time.Duration) (float64, error) {
	before, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	after, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	busy0, total0, err := parseCPUTimes(before)
	if err != nil {
		return 0, err
	}
	busy1, total1, err := parseCPUTimes(after)
	if err != nil {
		return 0, err
	}
	if total1 <= total0 {
		return 0, nil
	}
	return float64(busy1-busy0) / float64(total1-total0), nil
}

// parseCPUTimes reads the first line of /proc/stat, "cpu user nice system
// idle iowait irq softirq steal ...", in clock ticks: the time spent
// working and in all. Guest time is already counted in user time.
func parseCPUTimes(stat []byte) (busy, total uint64, err error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 9 || string(fields[0]) != "cpu" {
		return 0, 0, errors.New("unexpected /proc/stat format")
	}
	for i, f := range fields[1:9] {
		n, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += n
		// idle and iowait are the 4th and 5th.
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, total, nil
}
