package main

import "runtime/debug"

// Garbage collection for a server whose live heap is its bounded caches
// and whose every request allocates a little: at Go's default GOGC=100 a
// dream node collected many times a second under load, and the collector
// with the scavenger returning pages to the kernel took a noticeable share
// of its CPU. A goal of five times the live heap, capped by a soft memory
// limit, trades memory for that time. GOGC and GOMEMLIMIT in the
// environment override either, as for any Go program.
const (
	gcPercent   = 400
	memoryLimit = 128 << 20
)

// tuneGC applies the defaults above where the environment sets none.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}
