// Package migrations holds the database schema as numbered SQL files
// embedded in the binary, and the runner that applies them in order, each
// in its own transaction. Only the primary applies migrations; replicas
// receive the result through replication. The runner serves every SQLite
// file of the binary with a schema of its own, a node's outbox among them.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed *.sql
var files embed.FS

// Schema is the database's schema: the files of this package.
var Schema = NewSet(files)

// Set is a schema as numbered SQL files, "0001_initial.sql" and on.
type Set struct {
	files fs.FS
}

// NewSet returns the set of the SQL files at the root of files.
func NewSet(files fs.FS) Set { return Set{files: files} }

// Migration is one numbered schema change.
type Migration struct {
	Version int
	// Name is the file name, e.g. "0001_initial.sql".
	Name string
	SQL  string
}

// All returns the migrations in version order.
func (s Set) All() ([]Migration, error) {
	names, err := fs.Glob(s.files, "*.sql")
	if err != nil {
		return nil, err
	}
	var all []Migration
	for _, name := range names {
		prefix, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %q: name must start with a positive number and '_'", name)
		}
		body, err := fs.ReadFile(s.files, name)
		if err != nil {
			return nil, err
		}
		all = append(all, Migration{Version: version, Name: name, SQL: string(body)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Version < all[j].Version })
	for i := 1; i < len(all); i++ {
		if all[i].Version == all[i-1].Version {
			return nil, fmt.Errorf("migrations %q and %q share version %d", all[i-1].Name, all[i].Name, all[i].Version)
		}
	}
	return all, nil
}

// Pending returns the migrations not yet applied to db, in order.
func (s Set) Pending(ctx context.Context, db *sql.DB) ([]Migration, error) {
	all, err := s.All()
	if err != nil {
		return nil, err
	}
	applied, err := appliedVersion(ctx, db)
	if err != nil {
		return nil, err
	}
	var pending []Migration
	for _, m := range all {
		if m.Version > applied {
			pending = append(pending, m)
		}
	}
	return pending, nil
}

// Apply applies every pending migration to db, each in a transaction with
// the record of its application, and returns the names of those it applied.
// db must be a writable handle: the primary's, for the database.
func (s Set) Apply(ctx context.Context, db *sql.DB) ([]string, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version     INTEGER PRIMARY KEY,
		name        TEXT NOT NULL,
		applied_at  INTEGER NOT NULL
	)`); err != nil {
		return nil, fmt.Errorf("creating schema_migrations: %w", err)
	}
	pending, err := s.Pending(ctx, db)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range pending {
		if err := apply(ctx, db, m); err != nil {
			return names, err
		}
		names = append(names, m.Name)
	}
	return names, nil
}

func apply(ctx context.Context, db *sql.DB, m Migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("recording migration %s: %w", m.Name, err)
	}
	return tx.Commit()
}

// ErrNewerSchema reports a database that records migrations the set lacks:
// a newer binary migrated it, and this one cannot know its tables.
var ErrNewerSchema = errors.New("the database's schema is newer than this binary's")

// ErrOtherSchema reports a database that does not hold the set's schema at
// all: another program's SQLite file, or another of this binary's.
var ErrOtherSchema = errors.New("the database does not hold this schema")

// Check checks that db holds the set's schema, at its version or an older
// one, and returns the last migration applied. Each migration db records
// must be one of the set's under the same name: a version alone could be
// anyone's.
func (s Set) Check(ctx context.Context, db *sql.DB) (Migration, error) {
	all, err := s.All()
	if err != nil {
		return Migration{}, err
	}
	applied, err := Applied(ctx, db)
	if err != nil {
		return Migration{}, err
	}
	if len(applied) == 0 {
		return Migration{}, fmt.Errorf("%w: it records no migrations", ErrOtherSchema)
	}
	byVersion := make(map[int]string, len(all))
	for _, m := range all {
		byVersion[m.Version] = m.Name
	}
	for _, m := range applied {
		name, ok := byVersion[m.Version]
		switch {
		case !ok && m.Version > all[len(all)-1].Version:
			return Migration{}, fmt.Errorf("%w: it records %s, which this binary lacks", ErrNewerSchema, m.Name)
		case name != m.Name:
			return Migration{}, fmt.Errorf("%w: it records migration %s where this binary has %q", ErrOtherSchema, m.Name, name)
		}
	}
	return applied[len(applied)-1], nil
}

// Applied returns the migrations db records as applied, in version order,
// without their SQL; none for a database that was never migrated.
func Applied(ctx context.Context, db *sql.DB) ([]Migration, error) {
	var exists int
	err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists)
	if err != nil || exists == 0 {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var applied []Migration
	for rows.Next() {
		var m Migration
		if err := rows.Scan(&m.Version, &m.Name); err != nil {
			return nil, err
		}
		applied = append(applied, m)
	}
	return applied, rows.Err()
}

// appliedVersion is the highest version applied to db, 0 for a new database.
func appliedVersion(ctx context.Context, db *sql.DB) (int, error) {
	applied, err := Applied(ctx, db)
	if err != nil || len(applied) == 0 {
		return 0, err
	}
	return applied[len(applied)-1].Version, nil
}
