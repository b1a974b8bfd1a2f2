package store

import (
	"context"
	"errors"
	"fmt"
)

// The database is migrated with SQLite's incremental auto_vacuum: the pages
// that pruning and deletions free stay in the file until ReclaimFreePages
// returns them to the file system, a few at a time, so that the file
// shrinks back after a burst without a VACUUM that would hold the write
// lock while it rewrites the whole file.

// useIncrementalVacuumIfNew gives a database without tables incremental
// auto_vacuum, whose VACUUM costs nothing while it is empty: Migrate calls
// it before the first migration. Only the primary migrates; a replica's
// copy, which LiteFS writes, has the mode of the primary's.
func (db *DB) useIncrementalVacuumIfNew(ctx context.Context) error {
	var tables int
	if err := db.write.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&tables); err != nil {
		return err
	}
	if tables > 0 {
		return nil
	}
	_, err := db.ConvertToIncrementalVacuum(ctx)
	return err
}

// reclaimStep is how many pages one step of ReclaimFreePages returns: one
// short write transaction, after which queued writes go first.
const reclaimStep = 256

// autoVacuumIncremental is PRAGMA auto_vacuum's value for incremental.
const autoVacuumIncremental = 2

// ReclaimFreePages returns up to limit free pages to the file system, in
// steps of reclaimStep pages that each hold the write lock briefly, and
// reports how many it returned. A database without incremental auto_vacuum
// returns none: ConvertToIncrementalVacuum makes it one.
func (db *DB) ReclaimFreePages(ctx context.Context, limit int) (int, error) {
	var mode int
	if err := db.write.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return 0, err
	}
	if mode != autoVacuumIncremental {
		return 0, nil
	}
	reclaimed := 0
	for reclaimed < limit {
		var free int
		if err := db.write.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
			return reclaimed, err
		}
		step := min(free, reclaimStep, limit-reclaimed)
		if step == 0 {
			break
		}
		// The pragma does its work as it is stepped, which Exec stops
		// short of: it is read to the end.
		rows, err := db.write.QueryContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, step))
		if err != nil {
			return reclaimed, err
		}
		for rows.Next() {
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return reclaimed, err
		}
		reclaimed += step
	}
	return reclaimed, nil
}

// ConvertToIncrementalVacuum gives a database created without incremental
// auto_vacuum that mode, which takes a VACUUM: the whole file rewritten
// while the write lock is held. It reports whether it converted; a
// database in the mode already is left alone.
func (db *DB) ConvertToIncrementalVacuum(ctx context.Context) (bool, error) {
	var mode int
	if err := db.write.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return false, err
	}
	if mode == autoVacuumIncremental {
		return false, nil
	}
	if _, err := db.write.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
		return false, err
	}
	if _, err := db.write.ExecContext(ctx, `VACUUM`); err != nil {
		return false, fmt.Errorf("store: converting to incremental auto_vacuum: %w", err)
	}
	return true, nil
}
