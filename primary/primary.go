// Package primary is the write side of Dream API. Every change to the
// database goes through a Primary, the implementation of dream.Writer that
// runs on the node holding the database's write lease: on a single node a
// local call, on a cluster the target of writes that replicas forward (see
// package forward). Every write the primary applies is declared once, in
// writes.go.
//
// Writes are applied by one goroutine in shared transactions (group
// commit): while one transaction commits, the writes that arrive queue up
// and go into the next. A transaction commit costs milliseconds on LiteFS,
// so one per write would cap the node at a few hundred writes a second.
// Each write runs in its own savepoint, so one write's failure undoes that
// write only. A write that carries a write id records its outcome with its
// effects, so applying the id again answers with that outcome instead of
// changing anything twice. A write that fails, refusals included, leaves
// nothing behind and records nothing, so a retry decides afresh.
package primary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/internal/batch"
	"github.com/dream-api/dream/metrics"
	"github.com/dream-api/dream/store"
)

// maxBatch bounds the writes one transaction applies, so that a flood of
// writes still commits, and answers, regularly.
const maxBatch = 1000

// Primary applies writes to the database.
type Primary struct {
	db  *store.DB
	now func() time.Time
	// commits are the sizes of the group commits, metrics the node's.
	commits *metrics.Sizes
	metrics *metrics.Metrics
	// writes is the writer goroutine: it takes the writes queued, up to
	// maxBatch, and applies them in one transaction, until Close. Writes
	// queued before Close are still applied.
	writes *batch.Loop[*pendingWrite]
}

var _ dream.Writer = (*Primary)(nil)

// New returns a Primary writing to db, with now as its clock, and starts its
// writer goroutine. Close stops it. m, when not nil, records its group
// commits and the usage units it counts.
func New(db *store.DB, now func() time.Time, m *metrics.Metrics) *Primary {
	p := &Primary{db: db, now: now, commits: m.GroupCommit("primary"), metrics: m}
	p.writes = batch.Start(maxBatch, p.commit)
	return p
}

// Close stops the writer goroutine once the writes queued are applied.
// Writes after Close fail.
func (p *Primary) Close() error {
	p.writes.Close()
	return nil
}

// errClosed is the answer to a write after Close.
var errClosed = &dream.Error{Kind: dream.KindUnavailable, Code: "primary_unavailable", Message: "The primary is shutting down; try again"}

// pendingWrite is a write waiting for the writer goroutine.
type pendingWrite struct {
	ctx     context.Context
	writeID string
	apply   func(ctx context.Context, tx *store.Tx, now time.Time) (any, error)
	done    chan writeOutcome
}

// writeOutcome is what became of a write: its result, or the outcome
// recorded when its write id was applied before, or an error.
type writeOutcome struct {
	result   any
	recorded []byte
	err      error
}

// applyWrite runs fn as the write writeID ("" for a write without one) in the
// writer goroutine's next transaction and returns its result once that
// transaction has committed. fn gets a context that keeps the caller's
// values but not its cancellation: a statement interrupted halfway could
// take the whole shared transaction down with it.
func applyWrite[T any](ctx context.Context, p *Primary, writeID string, fn func(ctx context.Context, tx *store.Tx, now time.Time) (T, error)) (T, error) {
	var result T
	w := &pendingWrite{ctx: ctx, writeID: writeID, done: make(chan writeOutcome, 1),
		apply: func(ctx context.Context, tx *store.Tx, now time.Time) (any, error) { return fn(ctx, tx, now) }}
	if !p.writes.Put(w) {
		return result, errClosed
	}
	// Once queued, the write is waited for even if ctx ends: it may commit,
	// and the caller must not believe it failed when it did not.
	o := <-w.done
	switch {
	case o.err != nil:
		if r, ok := o.result.(T); ok {
			result = r
		}
		return result, o.err
	case o.recorded != nil:
		if err := json.Unmarshal(o.recorded, &result); err != nil {
			return result, fmt.Errorf("write %s: decoding recorded outcome: %w", writeID, err)
		}
		return result, nil
	}
	return o.result.(T), nil
}

// commit applies a batch of writes in one transaction and answers each.
func (p *Primary) commit(batch []*pendingWrite) {
	outcomes := make([]writeOutcome, len(batch))
	answer := func() {
		for i, w := range batch {
			w.done <- outcomes[i]
		}
	}
	defer answer()
	fail := func(err error) {
		for i := range outcomes {
			outcomes[i] = writeOutcome{err: err}
		}
	}
	ctx := context.Background()
	tx, err := p.db.Begin(ctx)
	if err != nil {
		fail(lostLease(err))
		return
	}
	defer tx.Rollback()
	now := p.now()
	alone := len(batch) == 1
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			// Given up on before its turn: never applied.
			outcomes[i] = writeOutcome{err: err}
			continue
		}
		outcomes[i] = p.applyOne(context.WithoutCancel(w.ctx), tx, w, now, alone)
	}
	if alone && outcomes[0].err != nil {
		// What the write did is rolled back with the transaction.
		return
	}
	if err := tx.Commit(); err != nil {
		// Nothing of the batch is applied: every write fails, and their
		// write ids were not recorded, so retries are safe.
		fail(lostLease(fmt.Errorf("committing %d writes: %w", len(batch), err)))
		return
	}
	p.commits.Observe(len(batch))
	for _, o := range outcomes {
		if o.err == nil {
			p.countUnits(o.result)
		}
	}
}

// countUnits counts the usage units a write applied now, by its result:
// a batch of a node's units, or a unit the primary decided itself. A
// write answered with the outcome recorded under its write id has no
// result here, and counts nothing again.
func (p *Primary) countUnits(result any) {
	switch r := result.(type) {
	case dream.IncrementsApplied:
		p.metrics.UnitsApplied(metrics.DecidedByNode, r.Applied)
	case dream.Usage:
		p.metrics.UnitsApplied(metrics.DecidedByPrimary, 1)
	}
}

// lostLease turns the failure of a node that is no longer primary into
// the answer that tells the client to retry.
func lostLease(err error) error {
	if store.IsReadOnly(err) {
		return dream.ErrPrimaryUnavailable
	}
	return err
}

// applyOne applies one write of a batch in its own savepoint of the
// batch's transaction, so that a write that fails is undone alone. A write
// alone in its batch needs none: if it fails, the transaction is rolled
// back. SQLite copies every page a savepoint changes to a statement
// journal, and for a batch of usage units of many end users that journal
// was the largest part of what the primary wrote.
func (p *Primary) applyOne(ctx context.Context, tx *store.Tx, w *pendingWrite, now time.Time, alone bool) writeOutcome {
	if alone {
		o := p.run(ctx, tx, w, now)
		o.err = lostLease(o.err)
		return o
	}
	if err := tx.Savepoint(ctx); err != nil {
		return writeOutcome{err: err}
	}
	o := p.run(ctx, tx, w, now)
	if o.err != nil {
		o.err = lostLease(o.err)
		if err := tx.RollbackToSavepoint(ctx); err != nil {
			o.err = errors.Join(o.err, err)
		}
		return o
	}
	if err := tx.ReleaseSavepoint(ctx); err != nil {
		return writeOutcome{err: err}
	}
	return o
}

// run applies the write and records its outcome under its write id, if
// it has one.
func (p *Primary) run(ctx context.Context, tx *store.Tx, w *pendingWrite, now time.Time) writeOutcome {
	if w.writeID != "" {
		recorded, ok, err := tx.AppliedWrite(ctx, w.writeID)
		if err != nil {
			return writeOutcome{err: err}
		}
		if ok {
			return writeOutcome{recorded: recorded}
		}
	}
	result, err := w.apply(ctx, tx, now)
	if err != nil {
		return writeOutcome{result: result, err: err}
	}
	if w.writeID != "" {
		outcome, err := json.Marshal(result)
		if err != nil {
			return writeOutcome{err: err}
		}
		if err := tx.RecordWrite(ctx, w.writeID, outcome, now); err != nil {
			return writeOutcome{err: err}
		}
	}
	return writeOutcome{result: result}
}

// Ages past which Prune deletes bookkeeping: change log entries every node
// has read long since, and deleted end users no usage unit still on its
// way can name (a node cut off from the primary for longer ships units
// older than that). Write ids go after dream.WriteIDRetention.
const (
	changesRetention    = time.Hour
	tombstonesRetention = 7 * 24 * time.Hour
)

// Prune deletes old change log entries, applied-write records and end user
// tombstones, then returns up to maxReclaimedPages of the pages deletions
// freed to the file system.
func (p *Primary) Prune(ctx context.Context) error {
	_, err := applyWrite(ctx, p, "", func(ctx context.Context, tx *store.Tx, now time.Time) (dream.NoResult, error) {
		return dream.NoResult{}, tx.Prune(ctx, now, changesRetention, dream.WriteIDRetention, tombstonesRetention)
	})
	if err != nil {
		return err
	}
	_, err = p.db.ReclaimFreePages(ctx, maxReclaimedPages)
	return err
}

// maxReclaimedPages bounds the free pages one Prune returns to the file
// system: 64 MiB of 4 KiB pages, more than an hour of pruning frees at the
// rates the bench reaches, so the file follows its live data down.
const maxReclaimedPages = 16384

// ReleaseLapsedStock returns to stock what reservations hold whose
// checkout lapsed without the payment provider saying so.
func (p *Primary) ReleaseLapsedStock(ctx context.Context) error {
	_, err := applyWrite(ctx, p, "", func(ctx context.Context, tx *store.Tx, now time.Time) (dream.NoResult, error) {
		return dream.NoResult{}, tx.ReleaseLapsedStock(ctx, now)
	})
	return err
}
