package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseIO(t *testing.T) {
	io, err := parseIO([]byte("rchar: 1000\nwchar: 2000\nsyscr: 7\nsyscw: 8\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"))
	if err != nil || io != (IOCounters{Read: 1000, Written: 2000, StorageRead: 4096, StorageWritten: 8192}) {
		t.Fatalf("%+v, %v; want rchar, wchar, read_bytes and write_bytes", io, err)
	}
	if _, err := parseIO([]byte("rchar: 1000\nwchar: 2000\n")); err == nil {
		t.Fatal("a file without read_bytes and write_bytes parsed")
	}
}

func TestParseValues(t *testing.T) {
	text := `# HELP go_cpu_classes_gc_total_cpu_seconds_total Estimated total CPU time.
# TYPE go_cpu_classes_gc_total_cpu_seconds_total counter
go_cpu_classes_gc_total_cpu_seconds_total 1.5
go_cpu_classes_idle_cpu_seconds_total 10
go_cpu_classes_total_cpu_seconds_total 40
dream_cache_lookups_total{cache="tokens",result="hit"} 3
`
	v, err := parseValues(strings.NewReader(text), "go_cpu_classes_total_cpu_seconds_total", "go_cpu_classes_gc_total_cpu_seconds_total")
	if err != nil || len(v) != 2 || v[0] != 40 || v[1] != 1.5 {
		t.Fatalf("%v, %v; want [40 1.5] in the order asked", v, err)
	}
	if _, err := parseValues(strings.NewReader(text), "go_memstats_sys_bytes"); err == nil {
		t.Fatal("a metric the text lacks was found")
	}
}

func TestCountersSince(t *testing.T) {
	opened := Counters{CPU: time.Second, GC: 1, Busy: 10, IO: IOCounters{Read: 100, Written: 200, StorageRead: 1, StorageWritten: 2}}
	closed := Counters{CPU: 3 * time.Second, GC: 1.5, Busy: 20, IO: IOCounters{Read: 150, Written: 500, StorageRead: 1, StorageWritten: 10}}
	d := closed.Since(opened)
	if d.CPU != 2*time.Second || d.GCShare() != 0.05 || d.IO != (IOCounters{Read: 50, Written: 300, StorageWritten: 8}) {
		t.Fatalf("%+v with share %v; want 2s, a share of 0.05 and the bytes' growth", d, d.GCShare())
	}
	if (Counters{}).GCShare() != 0 {
		t.Fatal("counters without the runtime's figures have a share")
	}
}
