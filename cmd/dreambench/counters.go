package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Counters are cumulative figures of the processes serving a load, read as
// its window opens and closes; a Result holds what they grew by in the
// window.
type Counters struct {
	// CPU is the processes' CPU time, from the kernel.
	CPU time.Duration
	// GC and Busy are the Go runtime's own estimates, in seconds, of the
	// CPU time its collector took and of all the time its processors were
	// not idle, from the processes' metrics (go_cpu_classes_*). Both are
	// counted the same way, so GC/Busy is the collector's share.
	GC, Busy float64
	// IO is what the processes read and wrote.
	IO IOCounters
}

// IOCounters are the bytes of a process's /proc/<pid>/io: Read and Written
// through system calls (rchar, wchar: files, whether the page cache had
// them or not, and sockets), StorageRead and StorageWritten those that
// reached or will reach the disk (read_bytes, write_bytes).
type IOCounters struct {
	Read, Written, StorageRead, StorageWritten int64
}

// GCShare is the collector's share of the CPU the runtime was busy with,
// 0 when it was not measured.
func (c Counters) GCShare() float64 {
	if c.Busy <= 0 {
		return 0
	}
	return c.GC / c.Busy
}

// Since is what the counters grew by since earlier.
func (c Counters) Since(earlier Counters) Counters {
	return Counters{
		CPU: c.CPU - earlier.CPU, GC: c.GC - earlier.GC, Busy: c.Busy - earlier.Busy,
		IO: IOCounters{
			Read: c.IO.Read - earlier.IO.Read, Written: c.IO.Written - earlier.IO.Written,
			StorageRead: c.IO.StorageRead - earlier.IO.StorageRead, StorageWritten: c.IO.StorageWritten - earlier.IO.StorageWritten,
		},
	}
}

// readCounters reads the counters of the processes pids and of the
// metrics at urls. A process that is gone or a scrape that fails counts
// nothing: a figure that misses one is visibly low.
func readCounters(pids []int, urls []string) Counters {
	c := Counters{CPU: cpuTime(pids)}
	for _, pid := range pids {
		if io, err := readIO(pid); err == nil {
			c.IO.Read += io.Read
			c.IO.Written += io.Written
			c.IO.StorageRead += io.StorageRead
			c.IO.StorageWritten += io.StorageWritten
		}
	}
	for _, url := range urls {
		if gc, busy, err := scrapeCPUClasses(url); err == nil {
			c.GC += gc
			c.Busy += busy
		}
	}
	return c
}

// readIO reads /proc/<pid>/io.
func readIO(pid int) (IOCounters, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return IOCounters{}, err
	}
	return parseIO(b)
}

// parseIO reads the "rchar: 123" lines of a /proc/<pid>/io file.
func parseIO(b []byte) (IOCounters, error) {
	var c IOCounters
	fields := map[string]*int64{"rchar": &c.Read, "wchar": &c.Written, "read_bytes": &c.StorageRead, "write_bytes": &c.StorageWritten}
	found := 0
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		name, value, ok := bytes.Cut(s.Bytes(), []byte(":"))
		dst := fields[string(name)]
		if !ok || dst == nil {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64)
		if err != nil {
			return IOCounters{}, fmt.Errorf("/proc/<pid>/io: %s: %w", name, err)
		}
		*dst = n
		found++
	}
	if found != len(fields) {
		return IOCounters{}, errors.New("/proc/<pid>/io lacks rchar, wchar, read_bytes or write_bytes")
	}
	return c, nil
}

// scrapeCPUClasses reads the runtime's CPU time of its collector and of
// all its non-idle time, in seconds, from the metrics at url.
func scrapeCPUClasses(url string) (gc, busy float64, err error) {
	v, err := scrapeValues(url, "go_cpu_classes_gc_total_cpu_seconds_total",
		"go_cpu_classes_total_cpu_seconds_total", "go_cpu_classes_idle_cpu_seconds_total")
	if err != nil {
		return 0, 0, err
	}
	return v[0], v[1] - v[2], nil
}

// scrapeValues reads the values of the unlabelled metrics names, in their
// order, from the Prometheus metrics at url.
func scrapeValues(url string, names ...string) ([]float64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d", url, res.StatusCode)
	}
	return parseValues(res.Body, names...)
}

// parseValues reads the values of the unlabelled metrics names, in their
// order, from Prometheus's text format.
func parseValues(r io.Reader, names ...string) ([]float64, error) {
	index := make(map[string]int, len(names))
	for i, name := range names {
		index[name] = i
	}
	values := make([]float64, len(names))
	found := 0
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		fields := bytes.Fields(s.Bytes())
		if len(fields) != 2 {
			continue
		}
		i, ok := index[string(fields[0])]
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(string(fields[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fields[0], err)
		}
		values[i] = v
		delete(index, string(fields[0]))
		found++
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if found != len(names) {
		return nil, fmt.Errorf("the metrics lack some of %v", names)
	}
	return values, nil
}
