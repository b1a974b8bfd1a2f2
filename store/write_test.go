package store

import (
	"context"
	"path/filepath"
	"testing"
)

// TestWriteConnection: the writable connection keeps SQLite's statement
// journals in memory rather than in temporary files, and pages up to
// writeCacheKiB, however often database/sql opens it again.
func TestWriteConnection(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "dream.db"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 2 {
		var tempStore, cacheSize int
		if err := db.write.QueryRowContext(context.Background(), `PRAGMA temp_store`).Scan(&tempStore); err != nil {
			t.Fatal(err)
		}
		if err := db.write.QueryRowContext(context.Background(), `PRAGMA cache_size`).Scan(&cacheSize); err != nil {
			t.Fatal(err)
		}
		// temp_store 2 is MEMORY; a negative cache_size is in KiB.
		if tempStore != 2 || cacheSize != -writeCacheKiB {
			t.Errorf("the writable connection has temp_store %d and cache_size %d, want 2 (memory) and %d", tempStore, cacheSize, -writeCacheKiB)
		}
		// A connection opened anew is set up the same way.
		db.write.SetMaxIdleConns(0)
		db.write.SetMaxIdleConns(1)
	}
}
