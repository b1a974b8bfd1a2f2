package main

import (
	"testing"
)

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tdream\nVmPeak:\t 1000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n"
	if got, err := parseVmHWM([]byte(status)); err != nil || got != 50<<20 {
		t.Fatalf("%d, %v; want %d", got, err, 50<<20)
	}
	if _, err := parseVmHWM([]byte("Name:\tdream\n")); err == nil {
		t.Fatal("a status without VmHWM parsed")
	}
}

func TestParseCPUTimes(t *testing.T) {
	busy, total, err := parseCPUTimes([]byte("cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n"))
	if err != nil || busy != 160 || total != 1000 {
		t.Fatalf("busy %d, total %d, %v; want 160, 1000", busy, total, err)
	}
	if _, _, err := parseCPUTimes([]byte("intr 1 2 3\n")); err == nil {
		t.Fatal("a file without the cpu line parsed")
	}
}
