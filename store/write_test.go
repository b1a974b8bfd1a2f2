package store

import (
	"context"
	"path/filepath"
	"testing"
)

// TestWriteConnection: the writable connection keeps pages up to
// writeCacheKiB, however often database/sql opens it again.
func TestWriteConnection(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "dream.db"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 2 {
		var cacheSize int
		if err := db.write.QueryRowContext(context.Background(), `PRAGMA cache_size`).Scan(&cacheSize); err != nil {
			t.Fatal(err)
		}
		// A negative cache_size is in KiB.
		if cacheSize != -writeCacheKiB {
			t.Errorf("the writable connection has cache_size %d, want %d", cacheSize, -writeCacheKiB)
		}
		// A connection opened anew is set up the same way.
		db.write.SetMaxIdleConns(0)
		db.write.SetMaxIdleConns(1)
	}
}
