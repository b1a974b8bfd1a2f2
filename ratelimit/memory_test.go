package ratelimit

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/dream-api/dream/internal/memtest"
)

// TestBucketBytes holds BucketBytes to what an end user's bucket costs:
// its key (a project and a user id, hashed), the token bucket and the
// cache's bookkeeping.
func TestBucketBytes(t *testing.T) {
	// About what a full cache holds on the fly.toml Machine: what the
	// cache's index costs an entry depends on how many it holds.
	const n = 250_000
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
