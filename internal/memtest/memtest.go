// Package memtest measures what the entries of a node's caches cost in
// memory, so that the bytes per entry a cache declares, which divide the
// node's memory budget, are held to what its entries really take.
package memtest

import "runtime"

// BytesPerEntry is the live heap that n calls of add grow, per call:
// what holding one more entry costs, with the cache's own bookkeeping.
func BytesPerEntry(n int, add func(i int)) float64 {
	var before, after runtime.MemStats
	// Two collections: the first moves pooled objects to the pools'
	// victim caches, the second frees them.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		add(i)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}
