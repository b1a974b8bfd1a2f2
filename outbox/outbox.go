// Package outbox is a node's durable record of the usage units it has
// acknowledged and not yet seen applied: a SQLite file in WAL mode on the
// node's own disk, outside the replicated database. A unit is in the file,
// synced to disk, before the client hears it was counted, so a crash of
// the node or of the primary loses no acknowledged unit: the node ships
// its outbox again once it is back, and the primary's high-water mark
// makes units it had applied count once.
//
// Appends from concurrent requests share one transaction and one sync
// (group commit), as the primary does with its writes. Trims ride in the
// same transactions, and reads use connections of their own, so that an
// append never waits for the shipper's work on the file.
package outbox

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/internal/batch"
	"github.com/dream-api/dream/internal/sqlite"
	"github.com/dream-api/dream/metrics"
	"github.com/dream-api/dream/migrations"
	"github.com/mattn/go-sqlite3"
)

// schema is the outbox file's schema, applied on open.
//
//go:embed schema/*.sql
var schema embed.FS

// maxAppendBatch bounds the appends one transaction takes.
const maxAppendBatch = 1000

// Outbox is one node's outbox file.
type Outbox struct {
	// db is the one connection that writes: appends and trims.
	db *sql.DB
	// reads serves Units, Seen and Len: in WAL mode readers and the writer
	// never wait for each other.
	reads *sql.DB
	// checkpoints is the connection that checkpoints the WAL.
	checkpoints *sql.DB
	nodeID      string
	// insert and claim are prepared once: preparing costs more than
	// running them, and every append runs them.
	insert, claim *sql.Stmt
	now           func() time.Time

	// appends writes queued appends in shared transactions until Close;
	// commits are their sizes.
	appends *batch.Loop[*appendRequest]
	commits *metrics.Sizes
	// appended is signalled after every commit, for the shipper.
	appended chan struct{}
	// checkpointed is done once the checkpoint goroutine has stopped.
	checkpointed sync.WaitGroup
}

// Open opens or creates the outbox file at path. The node's id is created
// with the file and kept in it: a node that loses its file starts again
// under a new id, so its old sequence numbers can never collide with new
// ones. m, when not nil, records the sizes of its group commits.
func Open(path string, now func() time.Time, m *metrics.Metrics) (*Outbox, error) {
	return open(path, now, m, checkpointInterval)
}

// open is Open with the interval between checkpoints.
func open(path string, now func() time.Time, m *metrics.Metrics, checkpointEvery time.Duration) (*Outbox, error) {
	// synchronous=FULL: in WAL mode every commit syncs the log, which is
	// what makes an acknowledged unit survive a crash of the machine.
	registerDriver.Do(func() {
		sql.Register(appendDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = "+strconv.Itoa(walSizeLimit), nil)
			return err
		}})
	})
	dsn := sqlite.DSN(path, "_journal_mode=WAL", "_synchronous=FULL", "_busy_timeout=5000", "_txlock=immediate")
	db, err := sql.Open(appendDriver, dsn)
	if err != nil {
		return nil, err
	}
	checkpoints, err := sql.Open("sqlite3", dsn)
	if err != nil {
		db.Close()
		return nil, err
	}
	reads, err := sql.Open("sqlite3", dsn)
	if err != nil {
		db.Close()
		checkpoints.Close()
		return nil, err
	}
	reads.SetMaxOpenConns(2)
	checkpoints.SetMaxOpenConns(1)
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	o := &Outbox{db: db, reads: reads, checkpoints: checkpoints, now: now, appended: make(chan struct{}, 1),
		commits: m.GroupCommit("outbox")}
	if err := o.init(); err != nil {
		db.Close()
		reads.Close()
		checkpoints.Close()
		return nil, fmt.Errorf("opening the outbox %s: %w", path, err)
	}
	if o.insert, err = db.Prepare(`INSERT INTO outbox (environment_id, user_id, email, plan, at, write_id)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING seq`); err != nil {
		db.Close()
		return nil, err
	}
	if o.claim, err = db.Prepare(`INSERT OR IGNORE INTO idempotency (write_id, created_at) VALUES (?, ?)`); err != nil {
		db.Close()
		return nil, err
	}
	o.appends = batch.Start(maxAppendBatch, o.write)
	o.checkpointed.Add(1)
	go o.checkpoint(checkpointEvery)
	return o, nil
}

// appendDriver is go-sqlite3 with SQLite's automatic checkpoints off and
// the WAL cut back to walSizeLimit, for the connection that appends: an
// automatic checkpoint runs inside the commit that crosses the WAL's
// threshold, copying the log into the database and syncing both, and
// every append waiting on that commit waited for it too (tens of
// milliseconds on a disk LiteFS is also writing). Checkpoints run on a
// connection of their own instead.
const appendDriver = "sqlite3-outbox"

var registerDriver sync.Once

// checkpointInterval is how often the WAL is copied into the database.
const checkpointInterval = time.Second

// walSizeLimit is the size, in bytes, the WAL file is cut back to when
// SQLite starts writing it from the beginning again, after a burst made
// it larger. Below it the file keeps its size, and appends write over
// blocks it already has.
const walSizeLimit = 64 << 20

// checkpoint copies the WAL into the database every interval until Close.
// A passive checkpoint never blocks the appender: it copies what no reader
// needs and leaves the rest for the next one.
//
// SQLite writes the WAL from its beginning again only once a checkpoint
// has copied all of it, which a checkpoint running beside appends under
// steady load almost never does: it copies the frames there were when it
// started, and more have come meanwhile. The WAL then grew for as long as
// the load lasted. So after each pass that found new frames, the appending
// connection checkpoints too, between two of its transactions: it copies
// the few frames of the last moments, the bulk having been copied off its
// path.
func (o *Outbox) checkpoint(interval time.Duration) {
	defer o.checkpointed.Done()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	// last is the WAL's frame count at the last pass.
	var last int
	for {
		select {
		case <-o.appends.Closing():
			return
		case <-ticker.C:
		}
		// A checkpoint that fails is tried again at the next tick; the
		// WAL only grows meanwhile.
		var busy, frames, copied int
		if err := o.checkpoints.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			continue
		}
		// Nothing appended since the last pass, which copied it all.
		if frames <= 0 || frames == copied && frames == last {
			continue
		}
		last = frames
		o.queue(&appendRequest{checkpoint: true})
	}
}

func (o *Outbox) init() error {
	ctx := context.Background()
	files, err := fs.Sub(schema, "schema")
	if err != nil {
		return err
	}
	if _, err := migrations.NewSet(files).Apply(ctx, o.db); err != nil {
		return err
	}
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx, `SELECT id FROM node`).Scan(&o.nodeID)
	if errors.Is(err, sql.ErrNoRows) {
		o.nodeID = dream.NewID("node_")
		_, err = tx.ExecContext(ctx, `INSERT INTO node (id) VALUES (?)`, o.nodeID)
	}
	if err != nil {
		return err
	}
	return tx.Commit()
}

// NodeID is the id the node's units carry to the primary.
func (o *Outbox) NodeID() string { return o.nodeID }

// Close stops taking appends once those queued are written, and closes the
// file.
func (o *Outbox) Close() error {
	o.appends.Close()
	o.checkpointed.Wait()
	return errors.Join(o.db.Close(), o.reads.Close(), o.checkpoints.Close())
}

// errClosed answers an append after Close.
var errClosed = &dream.Error{Kind: dream.KindUnavailable, Code: "service_unavailable", Message: "The server is shutting down; try again"}

// appendRequest is an append, or with trim set a trim, or with checkpoint
// set the end of a checkpoint, waiting for the writer goroutine.
type appendRequest struct {
	unit dream.Increment
	// trim, when positive, deletes the units at or below it instead.
	trim int64
	// checkpoint copies what is left of the WAL after the batch commits.
	checkpoint bool
	done       chan appendResult
}

type appendResult struct {
	seq       int64
	duplicate bool
	// trimmed is how many units a trim deleted.
	trimmed int64
	err     error
}

// Append writes a unit and returns its sequence number once it is synced
// to disk. A unit whose WriteID this node acknowledged before is not
// written: duplicate is true. The unit's Seq is ignored.
func (o *Outbox) Append(ctx context.Context, u dream.Increment) (seq int64, duplicate bool, err error) {
	r := o.queue(&appendRequest{unit: u})
	return r.seq, r.duplicate, r.err
}

// queue hands req to the writer goroutine and waits for its result. Once
// queued a request is waited for, whatever the caller's context does: it
// may be written, and the caller must know.
func (o *Outbox) queue(req *appendRequest) appendResult {
	req.done = make(chan appendResult, 1)
	if !o.appends.Put(req) {
		return appendResult{err: errClosed}
	}
	return <-req.done
}

// write appends a batch in one transaction and answers each request. A
// checkpoint asked for runs once the appends are answered, on the same
// connection, between two of its transactions.
func (o *Outbox) write(batch []*appendRequest) {
	var checkpoints []*appendRequest
	batch = slices.DeleteFunc(batch, func(r *appendRequest) bool {
		if r.checkpoint {
			checkpoints = append(checkpoints, r)
		}
		return r.checkpoint
	})
	if len(batch) > 0 {
		results := make([]appendResult, len(batch))
		err := o.writeTx(batch, results)
		if err == nil {
			o.commits.Observe(len(batch))
		}
		for i, r := range batch {
			if err != nil {
				results[i] = appendResult{err: fmt.Errorf("writing to the outbox: %w", err)}
			}
			r.done <- results[i]
		}
		if err == nil {
			select {
			case o.appended <- struct{}{}:
			default:
			}
		}
	}
	if len(checkpoints) > 0 {
		// Like the checkpointer's own, a checkpoint that fails is tried
		// again at the next tick.
		o.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		for _, r := range checkpoints {
			r.done <- appendResult{}
		}
	}
}

func (o *Outbox) writeTx(batch []*appendRequest, results []appendResult) error {
	ctx := context.Background()
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := o.now().UnixMilli()
	insert, claim := tx.StmtContext(ctx, o.insert), tx.StmtContext(ctx, o.claim)
	for i, r := range batch {
		if r.trim > 0 {
			if results[i].trimmed, err = o.trimTx(ctx, tx, r.trim, now); err != nil {
				return err
			}
			continue
		}
		u := r.unit
		if u.WriteID != "" {
			res, err := claim.ExecContext(ctx, u.WriteID, now)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				results[i].duplicate = true
				continue
			}
		}
		err := insert.QueryRowContext(ctx, u.EnvironmentID, u.UserID, u.Email, u.Plan, u.At, u.WriteID).Scan(&results[i].seq)
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Seen reports whether this node acknowledged a unit with this write id.
func (o *Outbox) Seen(ctx context.Context, writeID string) (bool, error) {
	var n int
	err := o.reads.QueryRowContext(ctx, `SELECT count(*) FROM idempotency WHERE write_id = ?`, writeID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("outbox: %w", err)
	}
	return n > 0, nil
}

// Units returns up to limit units with a sequence above after, in order.
func (o *Outbox) Units(ctx context.Context, after int64, limit int) ([]dream.Increment, error) {
	rows, err := o.reads.QueryContext(ctx, `SELECT seq, environment_id, user_id, email, plan, at, write_id
		FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	defer rows.Close()
	var units []dream.Increment
	for rows.Next() {
		var u dream.Increment
		if err := rows.Scan(&u.Seq, &u.EnvironmentID, &u.UserID, &u.Email, &u.Plan, &u.At, &u.WriteID); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		units = append(units, u)
	}
	return units, rows.Err()
}

// trimLimit bounds the units one trim deletes, so that the appends that
// share its transaction never wait for a long delete, after an outage of
// the primary for one.
const trimLimit = 5000

// Trim deletes the oldest units at or below mark, which this node's copy
// of the database shows applied, at most trimLimit of them, and
// idempotency keys past their retention; done reports that no unit at or
// below mark is left. It is written in the transaction of the next
// appends, so it costs them no sync of their own, and returns once that
// transaction committed.
func (o *Outbox) Trim(ctx context.Context, mark int64) (done bool, err error) {
	if mark <= 0 {
		return true, nil
	}
	r := o.queue(&appendRequest{trim: mark})
	if r.err != nil {
		return false, r.err
	}
	return r.trimmed < trimLimit, nil
}

func (o *Outbox) trimTx(ctx context.Context, tx *sql.Tx, mark int64, now int64) (int64, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq IN (
		SELECT seq FROM outbox WHERE seq <= ? ORDER BY seq LIMIT ?)`, mark, trimLimit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM idempotency WHERE created_at < ?`, now-dream.WriteIDRetention.Milliseconds())
	return n, err
}

// Backlog is the number of units waiting in the outbox and the age of the
// oldest, zero when none waits.
func (o *Outbox) Backlog(ctx context.Context) (units int, oldest time.Duration, err error) {
	var at sql.NullInt64
	err = o.reads.QueryRowContext(ctx, `SELECT count(*), (SELECT at FROM outbox ORDER BY seq LIMIT 1) FROM outbox`).Scan(&units, &at)
	if err != nil {
		return 0, 0, fmt.Errorf("outbox: %w", err)
	}
	if at.Valid {
		oldest = max(0, o.now().Sub(time.UnixMilli(at.Int64)))
	}
	return units, oldest, nil
}

// Appended is signalled after appends are written, so a shipper can send
// them without waiting for its next tick.
func (o *Outbox) Appended() <-chan struct{} { return o.appended }
