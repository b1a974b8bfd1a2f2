package ratelimit

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/dream-api/dream/internal/memtest"
)

// TestBucketBytes holds BucketBytes to what an end user's bucket costs:
// its key (a project and a user id), the token bucket and the cache's
// bookkeeping.
func TestBucketBytes(t *testing.T) {
	const n = 20_000
	l, err := New(n)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	per := memtest.BytesPerEntry(n, func(i int) {
		l.Allow(fmt.Sprintf("prj_%032x\x00user_%027d", i, i), 100, now)
	})
	runtime.KeepAlive(l)
	t.Logf("a bucket costs %.0f bytes", per)
	if per > BucketBytes {
		t.Errorf("a bucket costs %.0f bytes, more than BucketBytes (%d)", per, BucketBytes)
	}
}
