package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

// fakeMount lays out the files LiteFS serves in a mount.
func fakeMount(t *testing.T) (dir, db string) {
	dir = t.TempDir()
	db = filepath.Join(dir, "dream.db")
	write(t, filepath.Join(dir, ".lag"), "+0000000000\n")
	write(t, db+"-pos", "000000000000012f/996a596a71c4f216\n")
	return dir, db
}

// write replaces the file at path whole, as LiteFS's files read: a
// reader never sees it empty or half written (WaitPosition polls "-pos"
// while a goroutine rewrites it).
func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Error(err)
	}
}

func TestLiteFS(t *testing.T) {
	if store.DetectLiteFS(filepath.Join(t.TempDir(), "dream.db")) != nil {
		t.Fatal("DetectLiteFS found a LiteFS mount in a plain directory, want none")
	}
	dir, db := fakeMount(t)
	l := store.DetectLiteFS(db)
	if l == nil {
		t.Fatalf("DetectLiteFS(%s) in a fake mount returned %v, want the LiteFS mount", db, l)
	}
	if isPrimary, host, err := l.Primary(); err != nil || !isPrimary || host != "" {
		t.Fatalf("with no .primary file and no lag, Primary returned primary %v, host %q (error %v); "+
			"want this node the primary", isPrimary, host, err)
	}
	// A replica that lost its primary has no .primary either, but a lag.
	write(t, filepath.Join(dir, ".lag"), "+0000000012\n")
	if isPrimary, host, err := l.Primary(); err != nil || isPrimary || host != "" {
		t.Fatalf("with a lag and no .primary file, Primary returned primary %v, host %q (error %v); "+
			"want a replica with no known primary", isPrimary, host, err)
	}
	write(t, filepath.Join(dir, ".primary"), "primary.internal:8080\n")
	if isPrimary, host, err := l.Primary(); err != nil || isPrimary || host != "primary.internal:8080" {
		t.Fatalf("with .primary naming primary.internal:8080, Primary returned primary %v, host %q (error %v); "+
			"want a replica of that host", isPrimary, host, err)
	}
	if pos, err := l.Position(); err != nil || pos != 0x12f || pos.String() != "000000000000012f" {
		t.Fatalf("Position read %v (error %v) from the -pos file, want 000000000000012f", pos, err)
	}
	if lag, err := l.Lag(); err != nil || lag != 12*time.Millisecond {
		t.Fatalf("Lag read %v (error %v) from .lag, want 12ms", lag, err)
	}
	if p, err := store.ParsePosition("000000000000012f"); err != nil || p != 0x12f {
		t.Fatalf("ParsePosition(000000000000012f) returned %v (error %v), want 0x12f", p, err)
	}
	if _, err := store.ParsePosition("zz"); err == nil {
		t.Fatal(`ParsePosition accepted "zz", want an error`)
	}

	t.Run("WaitPosition", func(t *testing.T) {
		go func() {
			time.Sleep(20 * time.Millisecond)
			write(t, db+"-pos", "0000000000000200/0000000000000000\n")
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.WaitPosition(ctx, 0x200); err != nil {
			t.Fatalf("waiting for position 0x200, written after 20ms, returned %v; want it reached", err)
		}
		short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := l.WaitPosition(short, 0x300); err == nil {
			t.Fatal("WaitPosition returned for position 0x300, which is never reached, want the deadline's error")
		}
	})
}

func TestChanges(t *testing.T) {
	db := storetest.Open(t)
	w := primary.New(db, time.Now, nil)
	last, err := db.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var notified atomic.Int32
	watching, stop := context.WithCancel(ctx)
	defer stop()
	go db.WatchDataVersion(watching, time.Millisecond, func() { notified.Add(1) })

	p := storetest.CreateProject(t, db, w, storetest.Platform(t, w), dream.ProjectStore, nil)
	_, hash := dream.NewSecretKey(dream.ModeTest)
	if err := w.Write(ctx, dream.RotateSecretKey{EnvironmentID: p.Test.EnvironmentID, NewHash: hash}, nil); err != nil {
		t.Fatal(err)
	}
	changes, err := db.ChangesSince(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Change{
		{Kind: store.ChangeEnvironment, Key: p.Test.PublishableKey},
		{Kind: store.ChangeEnvironment, Key: p.Live.PublishableKey},
		{Kind: store.ChangeSecretKeys, Key: itoa(p.Test.EnvironmentID)},
	}
	if len(changes) != len(want) {
		t.Fatalf("the database recorded changes %+v, want %+v", changes, want)
	}
	for i, c := range changes {
		if c.Kind != want[i].Kind || c.Key != want[i].Key || (i > 0 && c.ID <= changes[i-1].ID) {
			t.Fatalf("change %d: %+v, want %+v", i, c, want[i])
		}
	}
	// The watcher may have taken its first reading after the writes above;
	// keep writing (bounded) until it reports one.
	for i := 0; notified.Load() == 0 && i < 1000; i++ {
		storetest.Exec(t, db, `UPDATE platforms SET email = ? WHERE id = ?`, fmt.Sprint(i), p.PlatformID)
		time.Sleep(5 * time.Millisecond)
	}
	if notified.Load() == 0 {
		t.Fatal("WatchDataVersion reported no change after the writes, want at least one")
	}
	if err := w.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := db.ChangesSince(ctx, last); len(again) != 3 {
		t.Fatalf("after pruning the database holds changes %+v, want the 3 recent ones kept", again)
	}
}

func itoa(n int64) string { return fmt.Sprint(n) }
