package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

// pragma reads an integer PRAGMA of the database.
func pragma(t *testing.T, db *store.DB, name string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(storetest.Rows(t, db, "PRAGMA "+name)), "[]"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReclaimFreePages: a new database returns the pages deletions free to
// the file system, in bounded steps.
func TestReclaimFreePages(t *testing.T) {
	db := storetest.Open(t)
	if mode := pragma(t, db, "auto_vacuum"); mode != 2 {
		t.Fatalf("a new database has auto_vacuum %d, want 2 (incremental)", mode)
	}
	storetest.Exec(t, db, `CREATE TABLE ballast (b BLOB)`)
	storetest.Exec(t, db, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
		INSERT INTO ballast SELECT randomblob(4000) FROM n`)
	full := pragma(t, db, "page_count")
	storetest.Exec(t, db, `DELETE FROM ballast`)
	free := pragma(t, db, "freelist_count")
	if free < 2000 {
		t.Fatalf("after the deletion %d pages are free, want at least 2000", free)
	}
	ctx := context.Background()
	if n, err := db.ReclaimFreePages(ctx, 500); err != nil || n != 500 || pragma(t, db, "freelist_count") != free-500 {
		t.Fatalf("reclaiming at most 500 pages returned %d (%v) and left %d free, want 500 returned and %d free",
			n, err, pragma(t, db, "freelist_count"), free-500)
	}
	if n, err := db.ReclaimFreePages(ctx, 1<<20); err != nil || n != free-500 || pragma(t, db, "freelist_count") != 0 {
		t.Fatalf("reclaiming the rest returned %d (%v) and left %d free, want %d returned and none free",
			n, err, pragma(t, db, "freelist_count"), free-500)
	}
	if pages := pragma(t, db, "page_count"); pages > full-free {
		t.Fatalf("the database holds %d pages after reclaiming, want at most %d", pages, full-free)
	}
}

// TestConvertToIncrementalVacuum: a database created without incremental
// auto_vacuum gets it once, with its data.
func TestConvertToIncrementalVacuum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('still here')`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	db, err := store.Open(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if mode := pragma(t, db, "auto_vacuum"); mode != 0 {
		t.Fatalf("the old database has auto_vacuum %d, want 0", mode)
	}
	ctx := context.Background()
	if converted, err := db.ConvertToIncrementalVacuum(ctx); err != nil || !converted || pragma(t, db, "auto_vacuum") != 2 {
		t.Fatalf("converting answered %v, %v and left auto_vacuum %d, want it converted to 2", converted, err, pragma(t, db, "auto_vacuum"))
	}
	if converted, err := db.ConvertToIncrementalVacuum(ctx); err != nil || converted {
		t.Fatalf("converting again answered %v, %v, want nothing done", converted, err)
	}
	if rows := storetest.Rows(t, db, `SELECT v FROM kept`); !strings.Contains(rows, "still here") {
		t.Fatalf("after converting the table holds %q, want its row", rows)
	}
}
