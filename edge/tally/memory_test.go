package tally

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/internal/lru"
	"github.com/dream-api/dream/internal/memtest"
	"github.com/dream-api/dream/store"
)

// TestViewEntryBytes holds ViewEntryBytes to what an end user's view costs
// in the cache: the key, the state of a user who used the API this period
// and the cache's bookkeeping.
func TestViewEntryBytes(t *testing.T) {
	// About what a full cache holds on the fly.toml Machine: what the
	// cache's index costs an entry depends on how many it holds.
	const n = 250_000
	views, err := lru.New[store.UserRef, view](n)
	if err != nil {
		t.Fatal(err)
	}
	period := dream.PeriodStartingAt(time.Now())
	per := memtest.BytesPerEntry(n, func(i int) {
		views.Add(store.UserRef{EnvironmentID: int64(i % 7), UserID: fmt.Sprintf("user_%027d", i)},
			newView(dream.UserState{Counter: &dream.UsageCounter{Count: int64(i), Period: period}}, int64(i)))
	})
	runtime.KeepAlive(views)
	t.Logf("a cached view costs %.0f bytes", per)
	if per > ViewEntryBytes {
		t.Errorf("a cached view costs %.0f bytes, more than ViewEntryBytes (%d)", per, ViewEntryBytes)
	}
}
