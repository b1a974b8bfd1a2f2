package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"testing/fstest"
)

func TestReadNodeMemory(t *testing.T) {
	meminfo := &fstest.MapFile{Data: []byte("MemTotal:        524288 kB\nMemFree:          1000 kB\n")}
	for _, tt := range []struct {
		name  string
		files fstest.MapFS
		want  nodeMemory
	}{
		{"Machine", fstest.MapFS{"proc/meminfo": meminfo}, nodeMemory{512 << 20, "machine"}},
		{"CgroupV2", fstest.MapFS{"proc/meminfo": meminfo, "proc/self/cgroup": {Data: []byte("0::/fly/app\n")},
			"sys/fs/cgroup/fly/app/memory.max": {Data: []byte("268435456\n")}}, nodeMemory{256 << 20, "cgroup"}},
		{"CgroupV2Unlimited", fstest.MapFS{"proc/meminfo": meminfo, "proc/self/cgroup": {Data: []byte("0::/\n")},
			"sys/fs/cgroup/memory.max": {Data: []byte("max\n")}}, nodeMemory{512 << 20, "machine"}},
		{"CgroupV1", fstest.MapFS{"proc/meminfo": meminfo, "proc/self/cgroup": {Data: []byte("5:cpu,cpuacct:/\n4:memory:/docker/abc\n")},
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": {Data: []byte("134217728\n")}}, nodeMemory{128 << 20, "cgroup"}},
		{"CgroupV1NamespacedUnlimited", fstest.MapFS{"proc/meminfo": meminfo, "proc/self/cgroup": {Data: []byte("4:memory:/docker/abc\n")},
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")}}, nodeMemory{512 << 20, "machine"}},
		{"CgroupAboveTheMachine", fstest.MapFS{"proc/meminfo": meminfo, "proc/self/cgroup": {Data: []byte("0::/big\n")},
			"sys/fs/cgroup/big/memory.max": {Data: []byte("1073741824\n")}}, nodeMemory{512 << 20, "machine"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readNodeMemory(tt.files)
			if err != nil || got != tt.want {
				t.Fatalf("readNodeMemory = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if _, err := readNodeMemory(fstest.MapFS{}); err == nil {
		t.Fatal("readNodeMemory without /proc/meminfo succeeded, want an error")
	}
}

func TestParseMemoryBudget(t *testing.T) {
	for v, want := range map[string]MemoryBudget{"50%": {Percent: 50}, "256MiB": {Bytes: 256 << 20}, "1GiB": {Bytes: 1 << 30},
		"300MB": {Bytes: 300e6}, "100000000": {Bytes: 1e8}} {
		if got, err := parseMemoryBudget(v); err != nil || got != want {
			t.Errorf("parseMemoryBudget(%q) = %+v, %v; want %+v", v, got, err, want)
		}
	}
	for _, v := range []string{"", "0%", "95%", "x%", "1MiB", "-5GiB", "lots", "99999999999GiB"} {
		if _, err := parseMemoryBudget(v); err == nil {
			t.Errorf("parseMemoryBudget(%q) succeeded, want an error", v)
		}
	}
}

// TestPlanMemory: the fly.toml machine of 512 MB keeps 100,000 end users
// warm within half its memory.
func TestPlanMemory(t *testing.T) {
	p := planMemory(nodeMemory{Bytes: 512 << 20, Source: "machine"}, MemoryBudget{Percent: 50})
	if p.Budget != 256<<20 || p.CachedEndUsers < 100_000 || int64(p.CachedEndUsers)*endUserBytes > p.Budget/2 {
		t.Fatalf("the plan of a 512 MB machine is %+v, want a budget of 256 MiB whose half keeps at least 100,000 end users", p)
	}
	if p := planMemory(nodeMemory{Bytes: 8 << 30}, MemoryBudget{Bytes: 32 << 20}); p.Budget != 32<<20 || p.CachedEndUsers != 16<<20/endUserBytes {
		t.Fatalf("the plan of a 32 MiB budget is %+v, want its half for the caches", p)
	}

	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	defer func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) }()
	p.applyGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GC percent %d without GOGC, want %d", got, gcPercent)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != p.Budget {
		t.Errorf("memory limit %d without GOMEMLIMIT, want the budget %d", got, p.Budget)
	}
	// The environment's settings are the runtime's to apply: left alone.
	p.applyGC(func(k string) string { return map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}[k] })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d with GOGC set, want it left at 100", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("memory limit %d with GOMEMLIMIT set, want it left alone", got)
	}
}

func TestTuneMalloc(t *testing.T) {
	applied, err := tuneMalloc()
	if err != nil {
		t.Fatal(err)
	}
	// Debian, the image and CI run glibc; musl has no such settings.
	if _, musl := os.Stat("/lib/ld-musl-x86_64.so.1"); runtime.GOOS == "linux" && musl != nil && !applied {
		t.Fatal("tuneMalloc applied no settings on glibc, want the malloc settings applied")
	}
}
