package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dream-api/dream/internal/sqlite"
	"github.com/dream-api/dream/migrations"
	"github.com/mattn/go-sqlite3"
)

// Backups are copies of the database taken while the node runs, through
// SQLite's online backup API inside one read transaction: the copy is the
// database as one moment saw it, and writers never wait for it. A backup
// file is checked (PRAGMA integrity_check) before it takes its name, and is
// a plain SQLite file in rollback-journal mode, complete by itself.

var (
	// ErrExists reports a backup or restore that would replace a file
	// that holds data, which it does only when told to.
	ErrExists = errors.New("the file exists")
	// ErrOnLiteFS reports a file on a LiteFS mount where only LiteFS may
	// put it: a backup belongs off the mount, and a restore there must go
	// through `litefs import` so that every node receives it.
	ErrOnLiteFS = errors.New("the file is on a LiteFS mount")
	// ErrCorrupt reports a file that is not an intact SQLite database.
	ErrCorrupt = errors.New("the file is not an intact SQLite database")
)

// Snapshot is what a copy of the database holds, read from the copy.
type Snapshot struct {
	// Migration is the last schema migration applied to it; zero for none.
	Migration migrations.Migration
	// LastChange is the id of its newest change log entry, 0 for none:
	// the primary logs one in every transaction that changes what nodes
	// cache, every batch of usage units included.
	LastChange int64
	// UsageMarks is each node's high-water mark, by node id: of the usage
	// units a node acknowledged, those numbered up to its mark are counted
	// in the copy, and none after.
	UsageMarks map[string]int64
}

// Backup is a backup file that DB.Backup wrote.
type Backup struct {
	Path string
	// Size is the file's size in bytes.
	Size int64
	Snapshot
	// Position is the LiteFS transaction the copy was taken at, 0 when the
	// database is a plain file. The copy holds every transaction up to it
	// and none after.
	Position Position
}

// Backup writes a consistent copy of the database to out, through a
// temporary file beside it that is checked, synced and renamed. An
// existing out is replaced only when replace is set. On a LiteFS mount, l,
// the copy's position is read while its read transaction holds the
// database where it is: on a replica LiteFS applies no transaction while
// a reader is open, and on the primary the backup holds the write lock for
// as long as starting the read takes, so that no commit is half visible.
func (db *DB) Backup(ctx context.Context, out string, l *LiteFS, replace bool) (Backup, error) {
	if DetectLiteFS(out) != nil {
		return Backup{}, fmt.Errorf("backup to %s: %w; write it to the node's own disk", out, ErrOnLiteFS)
	}
	if same, err := sameFile(db.path, out); err != nil {
		return Backup{}, err
	} else if same {
		return Backup{}, fmt.Errorf("backup to %s: that is the database itself", out)
	}
	if err := refuseExisting(out, replace); err != nil {
		return Backup{}, fmt.Errorf("backup to %s: %w", out, err)
	}
	tmp, err := tempBeside(out)
	if err != nil {
		return Backup{}, fmt.Errorf("backup to %s: %w", out, err)
	}
	defer removeDatabase(tmp)
	pos, err := db.copyTo(ctx, tmp, l)
	if err != nil {
		return Backup{}, fmt.Errorf("backup to %s: %w", out, err)
	}
	snapshot, err := seal(ctx, tmp)
	if err != nil {
		return Backup{}, fmt.Errorf("backup to %s: the copy: %w", out, err)
	}
	size, err := install(tmp, out)
	if err != nil {
		return Backup{}, fmt.Errorf("backup to %s: %w", out, err)
	}
	return Backup{Path: out, Size: size, Snapshot: snapshot, Position: pos}, nil
}

// copyTo copies the database into the new file at path in one read
// transaction and returns the LiteFS position it read at.
func (db *DB) copyTo(ctx context.Context, path string, l *LiteFS) (Position, error) {
	src, err := db.read.DB.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	pos, err := db.beginSnapshot(ctx, src, l)
	if err != nil {
		return 0, err
	}
	defer src.ExecContext(context.Background(), `ROLLBACK`)
	file, err := sql.Open("sqlite3", sqlite.DSN(path))
	if err != nil {
		return 0, err
	}
	defer file.Close()
	dst, err := file.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer dst.Close()
	err = dst.Raw(func(d any) error {
		return src.Raw(func(s any) error {
			b, err := d.(*sqlite3.SQLiteConn).Backup("main", s.(*sqlite3.SQLiteConn), "main")
			if err != nil {
				return err
			}
			for {
				// All pages in one step, inside the read transaction the
				// source connection holds open.
				done, err := b.Step(-1)
				if done || err != nil {
					return errors.Join(err, b.Finish())
				}
				select {
				case <-ctx.Done():
					return errors.Join(ctx.Err(), b.Finish())
				case <-time.After(10 * time.Millisecond):
				}
			}
		})
	})
	return pos, err
}

// beginSnapshot begins a read transaction on conn and returns the LiteFS
// position of what it reads, 0 off LiteFS.
func (db *DB) beginSnapshot(ctx context.Context, conn *sql.Conn, l *LiteFS) (Position, error) {
	if l != nil {
		isPrimary, _, err := l.Primary()
		if err != nil {
			return 0, err
		}
		if isPrimary {
			// LiteFS moves the primary's position when a writer releases
			// the write lock, after its commit became visible to readers.
			if db.write == nil {
				return 0, errors.New("a backup on the primary needs the database opened for writing")
			}
			lock, err := db.write.BeginTx(ctx, nil)
			if err != nil {
				return 0, fmt.Errorf("holding writes while the backup begins: %w", err)
			}
			defer lock.Rollback()
		}
	}
	if _, err := conn.ExecContext(ctx, `BEGIN`); err != nil {
		return 0, err
	}
	// The transaction's snapshot is taken by its first read.
	var tables int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&tables); err != nil {
		conn.ExecContext(context.Background(), `ROLLBACK`)
		return 0, err
	}
	if l == nil {
		return 0, nil
	}
	pos, err := l.Position()
	if err != nil {
		conn.ExecContext(context.Background(), `ROLLBACK`)
		return 0, err
	}
	return pos, nil
}

// seal makes the backup file at path complete by itself (rollback-journal
// mode, no write-ahead log beside it), checks its integrity and reads what
// it holds.
func seal(ctx context.Context, path string) (Snapshot, error) {
	file, err := openFile(path)
	if err != nil {
		return Snapshot{}, err
	}
	defer file.Close()
	var mode string
	if err := file.QueryRowContext(ctx, `PRAGMA journal_mode = DELETE`).Scan(&mode); err != nil {
		return Snapshot{}, corrupt(err)
	}
	if err := checkIntegrity(ctx, file); err != nil {
		return Snapshot{}, err
	}
	return readSnapshot(ctx, file)
}

// Restored is a database that Restore installed.
type Restored struct {
	Path string
	// Size is the backup file's size in bytes.
	Size int64
	Snapshot
	// Applied are the migrations applied to the backup's schema to bring
	// it to this binary's.
	Applied []string
}

// Restore installs the backup file from as the database at path: it
// copies it to a temporary file beside path, checks the copy (its
// integrity, that it holds this schema and not a newer one), applies
// pending migrations to it, and renames it into place, removing the old
// database's write-ahead log and shared memory first, which would
// otherwise be replayed over it. An existing database that holds data is
// replaced only when replace is set, and nothing may have it open then. A
// path on a LiteFS mount is refused: only LiteFS may write there.
func Restore(ctx context.Context, from, path string, replace bool) (Restored, error) {
	if DetectLiteFS(path) != nil {
		return Restored{}, fmt.Errorf("restore to %s: %w", path, ErrOnLiteFS)
	}
	if same, err := sameFile(from, path); err != nil {
		return Restored{}, err
	} else if same {
		return Restored{}, fmt.Errorf("restore to %s: that is the backup itself", path)
	}
	if err := refuseExisting(path, replace); err != nil {
		return Restored{}, fmt.Errorf("restore to %s: %w", path, err)
	}
	// A new node's directory may not exist yet.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Restored{}, err
	}
	tmp, err := tempBeside(path)
	if err != nil {
		return Restored{}, err
	}
	defer removeDatabase(tmp)
	size, err := copyFile(from, tmp)
	if err != nil {
		return Restored{}, fmt.Errorf("restore from %s: %w", from, err)
	}
	restored, err := prepare(ctx, tmp)
	if err != nil {
		return Restored{}, fmt.Errorf("restore from %s: %w", from, err)
	}
	restored.Path, restored.Size = path, size
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return Restored{}, err
		}
	}
	if _, err := install(tmp, path); err != nil {
		return Restored{}, fmt.Errorf("restore to %s: %w", path, err)
	}
	return restored, nil
}

// prepare checks the copy of a backup at path and applies pending
// migrations to it.
func prepare(ctx context.Context, path string) (Restored, error) {
	db, err := Open(path, false)
	if err != nil {
		return Restored{}, corrupt(err)
	}
	restored, err := func() (Restored, error) {
		if err := checkIntegrity(ctx, db.write); err != nil {
			return Restored{}, err
		}
		if _, err := migrations.Schema.Check(ctx, db.write); err != nil {
			return Restored{}, err
		}
		applied, err := db.Migrate(ctx)
		if err != nil {
			return Restored{}, err
		}
		snapshot, err := readSnapshot(ctx, db.write)
		return Restored{Snapshot: snapshot, Applied: applied}, err
	}()
	if err := errors.Join(err, db.Close()); err != nil {
		return Restored{}, err
	}
	// The last connection to close folds the write-ahead log into the
	// file and removes it; the rename moves the file alone.
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		return Restored{}, fmt.Errorf("the write-ahead log of %s remains after closing it", path)
	}
	return restored, nil
}

// openFile opens the SQLite file at path on one connection.
func openFile(path string) (*sql.DB, error) {
	file, err := sql.Open("sqlite3", sqlite.DSN(path, "_busy_timeout=5000"))
	if err != nil {
		return nil, err
	}
	file.SetMaxOpenConns(1)
	return file, nil
}

// checkIntegrity runs SQLite's integrity check on db.
func checkIntegrity(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check(10)`)
	if err != nil {
		return corrupt(err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return corrupt(err)
		}
		problems = append(problems, p)
	}
	if err := rows.Err(); err != nil {
		return corrupt(err)
	}
	if len(problems) != 1 || problems[0] != "ok" {
		return fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// corrupt names an error of SQLite that says a file is not a database, or
// a damaged one, as ErrCorrupt.
func corrupt(err error) error {
	var e sqlite3.Error
	if errors.As(err, &e) && (e.Code == sqlite3.ErrNotADB || e.Code == sqlite3.ErrCorrupt) {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return err
}

// readSnapshot reads what the database db holds.
func readSnapshot(ctx context.Context, db *sql.DB) (Snapshot, error) {
	var s Snapshot
	applied, err := migrations.Applied(ctx, db)
	if err != nil {
		return s, err
	}
	if len(applied) > 0 {
		s.Migration = applied[len(applied)-1]
	}
	var last sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(id) FROM changes`).Scan(&last); err != nil {
		return s, fmt.Errorf("the change log: %w", err)
	}
	s.LastChange = last.Int64
	rows, err := db.QueryContext(ctx, `SELECT node_id, seq FROM edge_marks`)
	if err != nil {
		return s, fmt.Errorf("usage marks: %w", err)
	}
	defer rows.Close()
	s.UsageMarks = map[string]int64{}
	for rows.Next() {
		var node string
		var seq int64
		if err := rows.Scan(&node, &seq); err != nil {
			return s, err
		}
		s.UsageMarks[node] = seq
	}
	return s, rows.Err()
}

// refuseExisting returns ErrExists when path holds a database with data,
// or any other file, unless replace is set.
func refuseExisting(path string, replace bool) error {
	if replace {
		return nil
	}
	for _, p := range []string{path, path + "-wal"} {
		st, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if st.Size() > 0 || st.IsDir() {
			if p != path {
				return fmt.Errorf("%w: its write-ahead log %s holds data", ErrExists, p)
			}
			return ErrExists
		}
	}
	return nil
}

// sameFile reports whether a and b name one file.
func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// tempBeside creates an empty file in the directory of path, for a
// database that is renamed to path once complete: a rename within one
// file system replaces the file whole.
func tempBeside(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// removeDatabase removes the database file at path and the files SQLite
// keeps beside it, those that exist.
func removeDatabase(path string) {
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}

// copyFile copies the file from to the empty file to and syncs it.
func copyFile(from, to string) (int64, error) {
	src, err := os.Open(from)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	return n, errors.Join(err, dst.Close())
}

// install syncs the complete file tmp, renames it to path and syncs the
// directory, so that a crash leaves either the old file or the new one,
// and returns its size.
func install(tmp, path string) (int64, error) {
	f, err := os.Open(tmp)
	if err != nil {
		return 0, err
	}
	err = f.Sync()
	st, statErr := f.Stat()
	if err := errors.Join(err, statErr, f.Close()); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return 0, err
	}
	return st.Size(), errors.Join(dir.Sync(), dir.Close())
}
