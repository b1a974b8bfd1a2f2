package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	defer func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) }()

	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GC percent %d without GOGC, want %d", got, gcPercent)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != memoryLimit {
		t.Errorf("memory limit %d without GOMEMLIMIT, want %d", got, memoryLimit)
	}

	// The environment's settings are the runtime's to apply: left alone.
	tuneGC(func(k string) string { return map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}[k] })
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
