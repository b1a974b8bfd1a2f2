package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/outbox"
	_ "github.com/mattn/go-sqlite3"
)

var ctx = context.Background()

func open(t *testing.T, path string) *outbox.Outbox {
	t.Helper()
	o, err := outbox.Open(path, time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func unit(user, writeID string) dream.Increment {
	return dream.Increment{EnvironmentID: 1, UserID: user, Plan: "free", At: time.Now().UnixMilli(), WriteID: writeID}
}

func TestOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path)
	node := o.NodeID()
	if node == "" {
		t.Fatal("the new outbox has no node id, want one")
	}

	// Concurrent appends share transactions and get distinct, growing
	// sequence numbers.
	var wg sync.WaitGroup
	seqs := make([]int64, 200)
	for i := range seqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq, dup, err := o.Append(ctx, unit("u", ""))
			if err != nil || dup {
				t.Errorf("a concurrent append to the outbox returned duplicate %v (error %v), want a new unit", dup, err)
			}
			seqs[i] = seq
		}()
	}
	wg.Wait()
	units, err := o.Units(ctx, 0, 1000)
	if err != nil || len(units) != 200 {
		t.Fatalf("the outbox holds %d units (error %v) after 200 appends, want 200", len(units), err)
	}
	for i, u := range units {
		if u.Seq != int64(i+1) || u.UserID != "u" || u.Plan != "free" || u.EnvironmentID != 1 {
			t.Fatalf("outbox unit %d is %+v, want seq %d of end user u on plan free in environment 1", i, u, i+1)
		}
	}
	if page, _ := o.Units(ctx, 150, 20); len(page) != 20 || page[0].Seq != 151 {
		t.Fatalf("the page of 20 units after seq 150 is %+v, want 20 units from seq 151", page)
	}

	// A write id is taken once.
	if _, dup, err := o.Append(ctx, unit("v", "idem_a")); err != nil || dup {
		t.Fatalf("the first append with write id idem_a returned duplicate %v (error %v), want a new unit", dup, err)
	}
	if seq, dup, err := o.Append(ctx, unit("v", "idem_a")); err != nil || !dup || seq != 0 {
		t.Fatalf("the second append with write id idem_a returned seq %d, duplicate %v (error %v); "+
			"want a duplicate with seq 0", seq, dup, err)
	}
	if seen, err := o.Seen(ctx, "idem_a"); err != nil || !seen {
		t.Fatalf("after its append, write id idem_a was seen %v (error %v), want true", seen, err)
	}

	// Trimming everything and reopening keeps the node and never reuses
	// a sequence number: the primary skips every one at or below its mark.
	if done, err := o.Trim(ctx, 201); err != nil || !done {
		t.Fatalf("trimming the outbox up to seq 201 returned done %v (error %v), want done", done, err)
	}
	if n, age, err := o.Backlog(ctx); err != nil || n != 0 || age != 0 {
		t.Fatalf("the outbox holds %d units, the oldest %s old (error %v), after trimming them all, want 0 and 0", n, age, err)
	}
	o.Close()
	o = open(t, path)
	if o.NodeID() != node {
		t.Fatalf("the outbox has node id %s after reopening, want %s kept", o.NodeID(), node)
	}
	seq, _, err := o.Append(ctx, unit("w", ""))
	if err != nil || seq != 202 {
		t.Fatalf("first sequence after reopening: %d %v, want 202", seq, err)
	}
	if seen, err := o.Seen(ctx, "idem_a"); err != nil || !seen {
		t.Fatalf("after reopening the outbox, write id idem_a was seen %v (error %v); "+
			"want true: write ids are remembered across a restart", seen, err)
	}

	// A new file is a new node.
	if other := open(t, filepath.Join(t.TempDir(), "outbox.db")); other.NodeID() == node {
		t.Fatalf("a new outbox file got node id %s of another outbox, want a new node id", node)
	}

	o.Close()
	if _, _, err := o.Append(ctx, unit("x", "")); err == nil {
		t.Fatal("an append to a closed outbox succeeded, want an error")
	}
}

// The backlog is the units the outbox holds and the age of the oldest,
// which is what the metrics report of it.
func TestBacklogAgesFromTheOldestUnit(t *testing.T) {
	start := time.Date(2025, 1, 15, 9, 0, 0, 0, time.UTC)
	now := start.Add(5 * time.Second)
	o, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if n, age, err := o.Backlog(ctx); err != nil || n != 0 || age != 0 {
		t.Fatalf("the new outbox's backlog is %d units, the oldest %s old (error %v); want 0 and 0", n, age, err)
	}
	for _, at := range []time.Time{start, start.Add(time.Second), start.Add(3 * time.Second)} {
		if _, _, err := o.Append(ctx, dream.Increment{EnvironmentID: 1, UserID: "u", Plan: "free", At: at.UnixMilli()}); err != nil {
			t.Fatal(err)
		}
	}
	if n, age, err := o.Backlog(ctx); err != nil || n != 3 || age != 5*time.Second {
		t.Fatalf("the backlog is %d units, the oldest %s old (error %v); want 3 units, the oldest acknowledged 5s ago", n, age, err)
	}
	if _, err := o.Trim(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n, age, err := o.Backlog(ctx); err != nil || n != 2 || age != 4*time.Second {
		t.Fatalf("after trimming the first unit the backlog is %d units, the oldest %s old (error %v); want 2 and 4s", n, age, err)
	}
}

// A trim deletes at most trimLimit units, oldest first, so that the appends
// sharing its transaction never wait for a long delete; it says when
// nothing at or below the mark is left.
func TestTrimIsBounded(t *testing.T) {
	ctx := context.Background()
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"))
	defer o.Close()
	const total = outbox.TrimLimit + 700
	var wg sync.WaitGroup
	errs := make(chan error, total)
	for w := range 50 {
		wg.Go(func() {
			for i := w; i < total; i += 50 {
				if _, _, err := o.Append(ctx, unit(fmt.Sprint("u", i%7), "")); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("an append to the outbox failed with %v, want every append taken", err)
	}
	done, err := o.Trim(ctx, total-100)
	if err != nil || done {
		t.Fatalf("the first trim of the outbox returned done %v (error %v); want more left", done, err)
	}
	if n, _, _ := o.Backlog(ctx); n != total-outbox.TrimLimit {
		t.Fatalf("the outbox holds %d units after the first trim, want %d", n, total-outbox.TrimLimit)
	}
	if units, _ := o.Units(ctx, 0, 1); len(units) != 1 || units[0].Seq != outbox.TrimLimit+1 {
		t.Fatalf("the oldest unit left in the outbox is %v, want seq %d", units, outbox.TrimLimit+1)
	}
	if done, err := o.Trim(ctx, total-100); err != nil || !done {
		t.Fatalf("the second trim of the outbox returned done %v (error %v), want done", done, err)
	}
	if n, _, _ := o.Backlog(ctx); n != 100 {
		t.Fatalf("the outbox holds %d units after the second trim, want the 100 above the mark", n)
	}
}

// BenchmarkAppend measures appends from as many concurrent requests as a
// loaded node has in flight, so that they share their syncs as they do
// under load: ns/op is the wall time per unit, units/sync how many share
// one commit.
func BenchmarkAppend(b *testing.B) {
	o, err := outbox.Open(filepath.Join(b.TempDir(), "outbox.db"), time.Now, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := unit("bench-user", "")
			u.Email = "bench-user@example.com"
			if _, _, err := o.Append(ctx, u); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestOpenOutboxFromBeforeMigrations opens a file made when the outbox
// created its tables itself, without a record of migrations: its node id
// and units are kept, and its schema is recorded as migrated.
func TestOpenOutboxFromBeforeMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE node (id TEXT NOT NULL);
		CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, environment_id INTEGER NOT NULL, user_id TEXT NOT NULL,
			email TEXT NOT NULL, plan TEXT NOT NULL, at INTEGER NOT NULL, write_id TEXT NOT NULL);
		CREATE TABLE idempotency (write_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
		CREATE INDEX idempotency_age ON idempotency (created_at);
		INSERT INTO node (id) VALUES ('node_old');
		INSERT INTO outbox (environment_id, user_id, email, plan, at, write_id) VALUES (1, 'user_1', '', 'free', 1, '')`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	o := open(t, path)
	units, err := o.Units(ctx, 0, 10)
	if o.NodeID() != "node_old" || err != nil || len(units) != 1 || units[0].UserID != "user_1" {
		t.Fatalf("node %s with units %+v (%v), want node_old with the one unit of user_1", o.NodeID(), units, err)
	}
	o.Close()
	db, err = sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	if err := db.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&version); err != nil || version != 1 {
		t.Fatalf("schema version %d (%v), want 1", version, err)
	}
}
