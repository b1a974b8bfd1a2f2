package harness

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Alone is a dream serve outside the cluster: one node on a plain SQLite
// file, as on a machine without LiteFS, that trusts the cluster's identity
// provider, so that the cluster's end-user tokens work there too. A node
// restored from a backup runs this way.
type Alone struct {
	// Addr is the 127.0.0.1:port it listens on, which it chose itself.
	Addr string
	// Dir holds its outbox and its log.
	Dir string

	cmd    *exec.Cmd
	exited chan struct{}
}

// ServeAlone starts dream serve on the database file db, with its outbox
// and log in dir, and returns once it is ready. It listens on a port the
// kernel gives it, read from its "listening" log line, so that no other
// process can take the port between choosing and binding it.
func (c *Cluster) ServeAlone(dir, db string, within time.Duration) (*Alone, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	a := &Alone{Dir: dir, exited: make(chan struct{})}
	log, err := os.OpenFile(a.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	a.cmd = exec.Command(c.dream, "serve")
	a.cmd.Env = append(c.environment(db, filepath.Join(dir, "outbox.db"), "127.0.0.1:0", "127.0.0.1:0"), c.env...)
	a.cmd.Stdout = log
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		log.Close()
		return nil, err
	}
	if err := a.cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	listening := make(chan string, 1)
	go func() {
		defer close(a.exited)
		defer log.Close()
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			fmt.Fprintln(log, lines.Text())
			var line struct{ Msg, Addr string }
			if json.Unmarshal(lines.Bytes(), &line) == nil && line.Msg == "listening" {
				select {
				case listening <- line.Addr:
				default:
				}
			}
		}
		io.Copy(log, stderr)
		a.cmd.Wait()
	}()
	select {
	case a.Addr = <-listening:
	case <-a.exited:
		return nil, fmt.Errorf("dream serve on %s exited before it listened:\n%s", db, a.LogTail(20))
	case <-time.After(within):
		a.Stop()
		return nil, fmt.Errorf("dream serve on %s did not listen within %s:\n%s", db, within, a.LogTail(20))
	}
	if err := waitReady("dream serve on "+db, a.URL("/readyz"), within); err != nil {
		a.Stop()
		return nil, err
	}
	return a, nil
}

// URL is the address of path on this dream.
func (a *Alone) URL(path string) string { return "http://" + a.Addr + path }

// LogPath is the file dream writes its output to.
func (a *Alone) LogPath() string { return filepath.Join(a.Dir, "log") }

// LogTail returns the last lines of its log.
func (a *Alone) LogTail(lines int) string { return logTail(a.LogPath(), lines) }

// Stop stops dream with SIGTERM, as a deploy does, and kills it if it has
// not exited after stopTimeout.
func (a *Alone) Stop() error {
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(stopTimeout):
		a.cmd.Process.Kill()
		<-a.exited
		return fmt.Errorf("dream serve still ran %s after SIGTERM", stopTimeout)
	}
	if state := a.cmd.ProcessState; !state.Success() {
		return errors.New("dream serve exited with " + state.String())
	}
	return nil
}
