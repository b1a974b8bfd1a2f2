package tally

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/outbox"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

// A node takes the counters of its own batches from the change log, with
// the mark they go with, and reads back only those another node's units
// changed; either way its count is the database's.
func TestReconcileTakesItsOwnBatchesCounters(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	p := primary.New(db, time.Now, nil)
	t.Cleanup(func() { p.Close() })
	proj := storetest.CreateProject(t, db, p, storetest.Platform(t, p), dream.ProjectSaaS, storetest.SaaSTiers())
	env := proj.Test.EnvironmentID
	tiers, err := db.Tiers(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	last, err := db.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := Open(ctx, Options{DB: db, Writer: p, Outbox: ob, Now: time.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })

	// reconcile brings the tally in step with every change since the last
	// call and returns the statements it ran, reading the changes
	// included.
	reconcile := func() int64 {
		t.Helper()
		before := db.ReadStatements()
		err := tl.Reconcile(ctx, func() ([]store.Change, error) {
			changes, err := db.ChangesSince(ctx, last)
			if len(changes) > 0 {
				last = changes[len(changes)-1].ID
			}
			return changes, err
		})
		if err != nil {
			t.Fatal(err)
		}
		return db.ReadStatements() - before
	}
	pending := func() int {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		return tl.pending
	}
	count := func() int64 {
		t.Helper()
		u, err := tl.Usage(ctx, tiers, store.UserRef{EnvironmentID: env, UserID: "u1"}, "")
		if err != nil {
			t.Fatal(err)
		}
		return u.Count
	}

	for range 3 {
		if _, err := tl.Track(ctx, tiers, dream.TrackUsage{EnvironmentID: env, UserID: "u1"}, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := tl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := reconcile(); n != 2 {
		t.Errorf("following the node's own batch ran %d statements, want 2 (its mark and the change log)", n)
	}
	if n := count(); n != 3 || pending() != 0 {
		t.Errorf("after its own batch the node counts %d with %d units pending, want 3 and none", n, pending())
	}

	// Another node's unit for the same user: the node reads the counter.
	if _, err := dream.Apply(ctx, p, dream.ApplyIncrements{NodeID: "node_other", Items: []dream.Increment{
		{Seq: 1, EnvironmentID: env, UserID: "u1", At: time.Now().UnixMilli()}}}); err != nil {
		t.Fatal(err)
	}
	if n := reconcile(); n != 3 {
		t.Errorf("following another node's batch ran %d statements, want 3 (its mark, the change log, the counter)", n)
	}
	if n := count(); n != 4 {
		t.Errorf("after another node's unit the node counts %d, want 4", n)
	}

	// Its own unit after that: the entry's counter has the other's too.
	if _, err := tl.Track(ctx, tiers, dream.TrackUsage{EnvironmentID: env, UserID: "u1"}, false); err != nil {
		t.Fatal(err)
	}
	if err := tl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	reconcile()
	if n := count(); n != 5 || pending() != 0 {
		t.Errorf("after its next batch the node counts %d with %d units pending, want 5 and none", n, pending())
	}
}
