package store_test

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/migrations"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

// usageFixture is a migrated database with one SaaS project whose test
// environment has counted units of node "node_a": batches of five units,
// one per user, each batch raising the node's mark by five.
type usageFixture struct {
	db      *store.DB
	w       *primary.Primary
	project storetest.Project
	now     time.Time
	mark    int64
}

func newUsageFixture(t *testing.T) *usageFixture {
	t.Helper()
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	db := storetest.Open(t)
	w := primary.New(db, func() time.Time { return now }, nil)
	t.Cleanup(func() { w.Close() })
	return &usageFixture{db: db, w: w, now: now,
		project: storetest.CreateProject(t, db, w, storetest.Platform(t, w), dream.ProjectSaaS, storetest.SaaSTiers())}
}

// count applies one batch.
func (f *usageFixture) count() error {
	var items []dream.Increment
	for u := range 5 {
		f.mark++
		items = append(items, dream.Increment{Seq: f.mark, EnvironmentID: f.project.Test.EnvironmentID,
			UserID: "user_" + string(rune('a'+u)), Plan: "free", At: f.now.UnixMilli()})
	}
	_, err := dream.Apply(ctx, f.w, dream.ApplyIncrements{NodeID: "node_a", Items: items})
	return err
}

// counted is the sum of the usage counters of the file at path.
func counted(t *testing.T, path string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT coalesce(sum(count), 0) FROM usage_counters`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// exec runs statements on the SQLite file at path.
func exec(t *testing.T, path string, statements ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range statements {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestBackup(t *testing.T) {
	t.Run("ConsistentWhileWritesGoOn", func(t *testing.T) {
		f := newUsageFixture(t)
		stop := make(chan struct{})
		var writes sync.WaitGroup
		var writeErr error
		writes.Add(1)
		go func() {
			defer writes.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if writeErr = f.count(); writeErr != nil {
					return
				}
			}
		}()
		dir := t.TempDir()
		var backups []store.Backup
		for i := range 5 {
			time.Sleep(20 * time.Millisecond)
			b, err := f.db.Backup(ctx, filepath.Join(dir, "backup-"+string(rune('0'+i))+".db"), nil, false)
			if err != nil {
				close(stop)
				t.Fatalf("a backup while batches are applied: %v, want it written", err)
			}
			backups = append(backups, b)
		}
		close(stop)
		writes.Wait()
		if writeErr != nil {
			t.Fatal(writeErr)
		}
		final := f.mark
		for _, b := range backups {
			// A copy of one moment counts exactly the units up to the
			// mark it holds: each batch commits both together.
			mark := b.UsageMarks["node_a"]
			if got := counted(t, b.Path); got != mark || mark == 0 || mark >= final {
				t.Errorf("%s counts %d units at mark %d (the writer reached %d), want as many units as its mark, taken while the writer went on",
					b.Path, got, mark, final)
			}
			st, err := os.Stat(b.Path)
			if err != nil || st.Size() != b.Size || b.Migration.Name == "" || b.LastChange == 0 || b.Position != 0 {
				t.Errorf("backup %+v (file %v, %v), want its size, last migration and change log entry, and no LiteFS position", b, st, err)
			}
			if _, err := os.Stat(b.Path + "-wal"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s has a write-ahead log beside it (%v), want the file complete by itself", b.Path, err)
			}
		}
		leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
		if len(leftovers) > 0 {
			t.Errorf("the backups left %v in their directory, want no temporary files", leftovers)
		}
	})
	t.Run("ReadsTheLiteFSPosition", func(t *testing.T) {
		mount, path := fakeMount(t)
		db, err := store.Open(path, false)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		l := store.DetectLiteFS(path)
		out := t.TempDir()
		b, err := db.Backup(ctx, filepath.Join(out, "primary.db"), l, false)
		if err != nil || b.Position != 0x12f {
			t.Fatalf("a backup on the primary: %+v, %v; want position 000000000000012f, read while it held the write lock", b, err)
		}
		write(t, filepath.Join(mount, ".primary"), "primary.internal:8080\n")
		write(t, filepath.Join(mount, ".lag"), "+0000000003\n")
		write(t, path+"-pos", "0000000000000130/996a596a71c4f216\n")
		if b, err := db.Backup(ctx, filepath.Join(out, "replica.db"), l, false); err != nil || b.Position != 0x130 {
			t.Fatalf("a backup on a replica: %+v, %v; want position 0000000000000130", b, err)
		}
	})
	t.Run("RefusesToReplaceUnlessTold", func(t *testing.T) {
		f := newUsageFixture(t)
		out := filepath.Join(t.TempDir(), "backup.db")
		if err := os.WriteFile(out, []byte("yesterday's"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.Backup(ctx, out, nil, false); !errors.Is(err, store.ErrExists) {
			t.Fatalf("a backup over an existing file: %v, want ErrExists", err)
		}
		if b, _ := os.ReadFile(out); string(b) != "yesterday's" {
			t.Fatalf("the refused backup left %q in the file, want it untouched", b)
		}
		if _, err := f.db.Backup(ctx, out, nil, true); err != nil {
			t.Fatalf("a backup told to replace the file: %v, want it written", err)
		}
	})
	t.Run("RefusesTheLiteFSMount", func(t *testing.T) {
		f := newUsageFixture(t)
		mount, _ := fakeMount(t)
		if _, err := f.db.Backup(ctx, filepath.Join(mount, "backup.db"), nil, false); !errors.Is(err, store.ErrOnLiteFS) {
			t.Fatalf("a backup onto a LiteFS mount: %v, want ErrOnLiteFS", err)
		}
	})
}

func TestRestore(t *testing.T) {
	// backup returns a backup of a database with counted units.
	backup := func(t *testing.T) (*usageFixture, store.Backup) {
		t.Helper()
		f := newUsageFixture(t)
		for range 4 {
			if err := f.count(); err != nil {
				t.Fatal(err)
			}
		}
		b, err := f.db.Backup(ctx, filepath.Join(t.TempDir(), "backup.db"), nil, false)
		if err != nil {
			t.Fatal(err)
		}
		return f, b
	}

	t.Run("RestoredDatabaseServes", func(t *testing.T) {
		f, b := backup(t)
		path := filepath.Join(t.TempDir(), "dream.db")
		r, err := store.Restore(ctx, b.Path, path, false)
		if err != nil {
			t.Fatal(err)
		}
		if r.Path != path || r.Size != b.Size || r.LastChange != b.LastChange || r.UsageMarks["node_a"] != 20 || len(r.Applied) != 0 {
			t.Fatalf("Restore returned %+v, want the backup's size, change log entry and mark 20, no migration applied", r)
		}
		db, err := store.Open(path, false)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		env, err := db.EnvironmentByPublishableKey(ctx, f.project.Test.PublishableKey)
		if err != nil || env == nil {
			t.Fatalf("the restored database found environment %v (error %v) for the project's test key, want it", env, err)
		}
		state, err := db.UserState(ctx, env.ID, "user_c")
		if err != nil || state.Counter.At(f.now).Count != 4 {
			t.Fatalf("the restored database counts %+v (error %v) for user_c, want 4 units", state.Counter, err)
		}
		if pending, err := db.PendingMigrations(ctx); err != nil || len(pending) != 0 {
			t.Fatalf("the restored database lacks migrations %v (error %v), want none", pending, err)
		}
	})
	t.Run("AppliesPendingMigrations", func(t *testing.T) {
		all, err := migrations.Schema.All()
		if err != nil {
			t.Fatal(err)
		}
		older := fstest.MapFS{}
		for _, m := range all[:len(all)-1] {
			older[m.Name] = &fstest.MapFile{Data: []byte(m.SQL)}
		}
		from := filepath.Join(t.TempDir(), "older.db")
		raw, err := sql.Open("sqlite3", "file:"+from+"?_foreign_keys=on")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := migrations.NewSet(older).Apply(ctx, raw); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		r, err := store.Restore(ctx, from, filepath.Join(t.TempDir(), "dream.db"), false)
		last := all[len(all)-1]
		if err != nil || len(r.Applied) != 1 || r.Applied[0] != last.Name || r.Migration.Name != last.Name {
			t.Fatalf("restoring a backup one migration behind returned %+v, %v; want %s applied", r, err, last.Name)
		}
	})
	t.Run("RefusesACorruptFile", func(t *testing.T) {
		_, b := backup(t)
		data, err := os.ReadFile(b.Path)
		if err != nil {
			t.Fatal(err)
		}
		copy(data[3*4096:4*4096], bytes.Repeat([]byte{0xA5}, 4096))
		if err := os.WriteFile(b.Path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "dream.db")
		if _, err := store.Restore(ctx, b.Path, path, false); !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("restoring a backup with a damaged page: %v, want ErrCorrupt", err)
		}
		if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
			t.Fatalf("the refused restore left %v behind, want nothing", entries)
		}
	})
	t.Run("RefusesAFileThatIsNoDatabase", func(t *testing.T) {
		from := filepath.Join(t.TempDir(), "notes.txt")
		os.WriteFile(from, bytes.Repeat([]byte("not a database\n"), 500), 0o600)
		if _, err := store.Restore(ctx, from, filepath.Join(t.TempDir(), "dream.db"), false); !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("restoring a text file: %v, want ErrCorrupt", err)
		}
	})
	t.Run("RefusesAnotherProgramsDatabase", func(t *testing.T) {
		from := filepath.Join(t.TempDir(), "other.db")
		exec(t, from, `CREATE TABLE notes (body TEXT)`, `INSERT INTO notes VALUES ('hello')`)
		if _, err := store.Restore(ctx, from, filepath.Join(t.TempDir(), "dream.db"), false); !errors.Is(err, migrations.ErrOtherSchema) {
			t.Fatalf("restoring another program's SQLite file: %v, want ErrOtherSchema", err)
		}
	})
	t.Run("RefusesANewerSchema", func(t *testing.T) {
		_, b := backup(t)
		exec(t, b.Path, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`)
		if _, err := store.Restore(ctx, b.Path, filepath.Join(t.TempDir(), "dream.db"), false); !errors.Is(err, migrations.ErrNewerSchema) {
			t.Fatalf("restoring a backup of a newer schema: %v, want ErrNewerSchema", err)
		}
	})
	t.Run("RefusesAnExistingDatabaseUnlessTold", func(t *testing.T) {
		_, b := backup(t)
		path := filepath.Join(t.TempDir(), "dream.db")
		exec(t, path, `CREATE TABLE kept (x)`)
		if _, err := store.Restore(ctx, b.Path, path, false); !errors.Is(err, store.ErrExists) {
			t.Fatalf("restoring over a database with data: %v, want ErrExists", err)
		}
		// A log and shared memory left by the old database's last
		// process would be read over the new one.
		for _, suffix := range []string{"-wal", "-shm"} {
			os.WriteFile(path+suffix, []byte("stale"), 0o600)
		}
		if _, err := store.Restore(ctx, b.Path, path, true); err != nil {
			t.Fatalf("restoring over a database when told to: %v, want it replaced", err)
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(path + suffix); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after the restore %s%s exists (%v), want the old database's file removed", path, suffix, err)
			}
		}
		if got := counted(t, path); got != 20 {
			t.Fatalf("the replaced database counts %d units, want the backup's 20", got)
		}
	})
	t.Run("RefusesTheLiteFSMount", func(t *testing.T) {
		_, b := backup(t)
		mount, path := fakeMount(t)
		if _, err := store.Restore(ctx, b.Path, path, false); !errors.Is(err, store.ErrOnLiteFS) {
			t.Fatalf("restoring onto a LiteFS mount: %v, want ErrOnLiteFS", err)
		}
		if entries, _ := os.ReadDir(mount); len(entries) != 2 {
			t.Fatalf("the refused restore left %v in the mount, want only LiteFS's files", entries)
		}
	})
}
