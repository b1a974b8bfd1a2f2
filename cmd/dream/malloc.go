package main

/*
#include <stdlib.h> // defines __GLIBC__ with glibc
#ifdef __GLIBC__
#include <malloc.h>
#endif

// dream_tune_malloc keeps up to trim bytes of memory that C code freed
// (SQLite is the C code here) instead of handing it back to the kernel at
// once, and serves allocations below mmap from the heap. It returns 1 when
// the C library took both settings, 0 when it refused one, and 2 when it
// is not glibc and has no such settings.
static int dream_tune_malloc(size_t trim, size_t mmap) {
#ifdef __GLIBC__
	return mallopt(M_TRIM_THRESHOLD, (int)trim) && mallopt(M_MMAP_THRESHOLD, (int)mmap);
#else
	return 2;
#endif
}
*/
import "C"

import "errors"

// glibc's malloc returns freed memory at the top of a thread's heap to the
// kernel with madvise once it passes a threshold, and every such call
// shoots down the TLBs of every CPU the process ran on. SQLite allocates and
// frees on every statement, from whichever thread cgo runs it on, so under
// tracks those calls took a share of the CPU that profiles showed plainly.
// Keeping up to 64 MiB of freed C memory stops them (RSS is what SQLite's
// bounded caches need, well under that). Setting the trim
// threshold turns off glibc's dynamic mmap threshold, so allocations up to
// 32 MiB, the most glibc allows, are set to come from the heap as before
// rather than from an mmap and munmap each.
const (
	mallocTrimThreshold = 64 << 20
	mallocMmapThreshold = 32 << 20
)

// tuneMalloc applies the settings above; applied is false when the C
// library is not glibc.
func tuneMalloc() (applied bool, err error) {
	switch C.dream_tune_malloc(mallocTrimThreshold, mallocMmapThreshold) {
	case 0:
		return false, errors.New("the C library refused the malloc settings")
	case 2:
		return false, nil
	}
	return true, nil
}
