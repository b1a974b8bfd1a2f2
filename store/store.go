// Package store is Dream API's SQLite database, through mattn/go-sqlite3.
//
// A DB has a pool of read-only connections for the queries every node
// serves locally and, on the primary, one writable connection on which the
// primary package runs its transactions. Nothing here knows about HTTP;
// nothing outside it writes SQL.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dream-api/dream/internal/sqlite"
	"github.com/dream-api/dream/migrations"
	"github.com/mattn/go-sqlite3" // also registers the "sqlite3" driver
)

// DB is the database of one node.
type DB struct {
	path string
	// write is the single writable connection; nil on a read-only node.
	write *sql.DB
	read  *readPool
}

// readPool is the pool of read-only connections. It counts the statements
// run on it: the hot paths promise to run none once their caches are
// warm, and tests hold them to it.
type readPool struct {
	*sql.DB
	statements atomic.Int64
}

func (p *readPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	p.statements.Add(1)
	return p.DB.QueryContext(ctx, query, args...)
}

func (p *readPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	p.statements.Add(1)
	return p.DB.QueryRowContext(ctx, query, args...)
}

// ReadStatements is the number of statements run on the read pool since
// Open.
func (db *DB) ReadStatements() int64 { return db.read.statements.Load() }

// Open opens the database file at path. With readOnly false it is created
// if missing and opened for writing too (the primary); with readOnly true
// it must exist and only reads are possible (a replica, whose file the
// replication layer writes).
func Open(path string, readOnly bool) (*DB, error) {
	db := &DB{path: path}
	if !readOnly {
		// One writable connection: SQLite has one writer at a time anyway,
		// and queuing in database/sql is cheaper than SQLITE_BUSY retries.
		// Write transactions begin IMMEDIATE so that a transaction which
		// reads before it writes holds the write lock from its first read.
		w, err := sql.Open("sqlite3", sqlite.DSN(path, "_journal_mode=WAL", "_synchronous=NORMAL",
			"_busy_timeout=5000", "_foreign_keys=on", "_txlock=immediate", "_cache_size="+strconv.Itoa(-writeCacheKiB), stmtCache))
		if err != nil {
			return nil, err
		}
		w.SetMaxOpenConns(1)
		w.SetConnMaxIdleTime(0)
		if err := w.Ping(); err != nil {
			w.Close()
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		db.write = w
	}
	r, err := sql.Open("sqlite3", sqlite.DSN(path, "mode=ro", "_busy_timeout=5000", "_foreign_keys=on", stmtCache))
	if err != nil {
		db.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4 * runtime.GOMAXPROCS(0))
	r.SetMaxIdleConns(4 * runtime.GOMAXPROCS(0))
	if err := r.Ping(); err != nil {
		r.Close()
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db.read = &readPool{DB: r}
	return db, nil
}

// stmtCache keeps the statements each connection prepared, by their SQL,
// for the next query with the same SQL: compiling a statement costs more
// than running it, and a read of an end user's usage, which every end user
// new to a node costs, compiled a join each time.
const stmtCache = "_stmt_cache_size=64"

// writeCacheKiB is the page cache of the writable connection, SQLite's
// default being 2 MiB: a batch of usage units reads the pages of each of
// its end users, and the pages of a node's active end users outgrow the
// default long before they outgrow this. It fills as pages are read,
// outside Go's memory budget, on the primary only.
const writeCacheKiB = 64 << 10

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.read.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// Close closes every connection.
func (db *DB) Close() error {
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// Migrate applies pending schema migrations and returns their names. Only
// the primary migrates.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	if db.write == nil {
		return nil, errors.New("store: cannot migrate a read-only database")
	}
	if err := db.useIncrementalVacuumIfNew(ctx); err != nil {
		return nil, err
	}
	return migrations.Schema.Apply(ctx, db.write)
}

// PendingMigrations returns the names of migrations the database lacks.
func (db *DB) PendingMigrations(ctx context.Context) ([]string, error) {
	pending, err := migrations.Schema.Pending(ctx, db.read.DB)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(pending))
	for i, m := range pending {
		names[i] = m.Name
	}
	return names, nil
}

// Tx is a write transaction on the primary. Its reads see its own writes.
type Tx struct {
	tx *sql.Tx
	// users are the end users whose state (plan, subscription) the
	// transaction changed and counters those whose usage counter alone
	// changed; Commit logs them.
	users, counters map[UserRef]struct{}
	usersAt         time.Time
	// touched are the users touch added to users or counters since the
	// savepoint began, which rolling back to it takes out again: a write
	// undone leaves nothing in the log either.
	touched []touchedUser
}

// touchedUser is an end user touch added to one of a Tx's sets.
type touchedUser struct {
	user        UserRef
	counterOnly bool
}

// Begin starts a write transaction. It holds SQLite's write lock until
// Commit or Rollback.
func (db *DB) Begin(ctx context.Context) (*Tx, error) {
	if db.write == nil {
		return nil, errors.New("store: cannot write to a read-only database")
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &Tx{tx: tx}, nil
}

// Commit logs the end users whose state changed, then commits the
// transaction.
func (tx *Tx) Commit() error {
	if err := tx.logUsers(context.Background()); err != nil {
		return err
	}
	return tx.tx.Commit()
}

// Rollback abandons the transaction; after Commit it does nothing.
func (tx *Tx) Rollback() error {
	if err := tx.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}

// Savepoint begins a nested part of the transaction that can be undone on
// its own: the primary applies many writes in one transaction and one
// write's failure must not undo the others.
func (tx *Tx) Savepoint(ctx context.Context) error {
	tx.touched = tx.touched[:0]
	_, err := tx.tx.ExecContext(ctx, `SAVEPOINT write`)
	return err
}

// RollbackToSavepoint undoes the part since Savepoint, the users it
// touched included, and ends it.
func (tx *Tx) RollbackToSavepoint(ctx context.Context) error {
	if _, err := tx.tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT write`); err != nil {
		return err
	}
	for _, t := range tx.touched {
		if t.counterOnly {
			delete(tx.counters, t.user)
		} else {
			delete(tx.users, t.user)
		}
	}
	return tx.ReleaseSavepoint(ctx)
}

// ReleaseSavepoint keeps the part since Savepoint.
func (tx *Tx) ReleaseSavepoint(ctx context.Context) error {
	tx.touched = tx.touched[:0]
	_, err := tx.tx.ExecContext(ctx, `RELEASE SAVEPOINT write`)
	return err
}

// queryer is what read queries need; both the read pool and a write
// transaction provide it, so each query is written once.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// millis is the storage form of a time: Unix milliseconds, NULL for zero.
func millis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// fromMillis reads a stored time; NULL is the zero time.
func fromMillis(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

// nullString stores "" as NULL.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// isConstraint reports whether err is an SQLite constraint violation:
// unique, foreign key, check or not null.
func isConstraint(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) && e.Code == sqlite3.ErrConstraint
}

// IsReadOnly reports whether err comes from writing to a database this node
// may not write: a LiteFS replica's copy, which LiteFS refuses with EACCES.
// The lease can move between deciding to write locally and writing.
func IsReadOnly(err error) bool {
	var e sqlite3.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == sqlite3.ErrReadonly ||
		(e.Code == sqlite3.ErrIoErr && (e.SystemErrno == syscall.EACCES || e.SystemErrno == syscall.EPERM))
}
