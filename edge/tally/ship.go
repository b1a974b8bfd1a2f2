package tally

import (
	"context"
	"fmt"
	"time"

	"github.com/dream-api/dream"
)

const (
	// shipInterval is the longest a unit waits in the outbox before the
	// shipper looks again; a unit appended while the shipper is idle is
	// sent after shipLinger.
	shipInterval = 50 * time.Millisecond
	// shipBatch bounds the units of one batch.
	shipBatch = 5000
	// shipBackoffMax bounds the wait between attempts while the primary
	// cannot be reached.
	shipBackoffMax = time.Second
	// shipLinger is how long an idle shipper waits after the first unit
	// arrives, so that a trickle of units shares batches: every batch
	// costs a transaction at the primary, its replication to every node
	// and a read of the changed counters there, whatever its size.
	shipLinger = 10 * time.Millisecond
	// trimInterval spaces the outbox's trims: each rides in the commit of
	// the appends queued with it and makes that commit longer, so the
	// tracks waiting for it are slower; one a second keeps that rare.
	trimInterval = time.Second
)

// ship sends the outbox's units to the primary in batches, in sequence
// order and one batch at a time, until ctx is done. A batch that fails is
// sent again, from the same unit, until the primary answers: its
// high-water mark makes the units it had applied count once. Units are
// deleted from the outbox only once this node's copy shows them applied,
// so until then they count in the node's decisions, and a restart ships
// them again.
func (t *Tally) ship(ctx context.Context) {
	// shipped is the last unit the primary answered for in this run. A
	// new run starts from the oldest unit in the outbox.
	var shipped, trimmed int64
	var lastTrim time.Time
	var backoff time.Duration
	ticker := time.NewTicker(shipInterval)
	defer ticker.Stop()
	wait := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	for ctx.Err() == nil {
		// A trim that left units at or below the mark goes on at once.
		if mark := t.appliedMark(); mark > trimmed && time.Since(lastTrim) >= trimInterval {
			if done, err := t.outbox.Trim(ctx, mark); err != nil {
				t.logger.Error("trimming the outbox", "error", err)
				lastTrim = time.Now()
			} else if done {
				trimmed, lastTrim = mark, time.Now()
			}
		}
		last, err := t.shipBatch(ctx, shipped)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			backoff = min(max(2*backoff, shipInterval), shipBackoffMax)
			t.logger.Warn("shipping usage to the primary", "retry_in", backoff, "error", err)
			wait(backoff)
		case last == shipped:
			backoff = 0
			select {
			case <-ctx.Done():
			case <-t.outbox.Appended():
				wait(shipLinger)
			case <-ticker.C:
			}
		default:
			backoff = 0
			shipped = last
		}
	}
}

// shipBatch sends the units after seq, up to shipBatch of them, and returns
// the last one the primary has answered for: seq itself when there were
// none.
func (t *Tally) shipBatch(ctx context.Context, seq int64) (int64, error) {
	units, err := t.outbox.Units(ctx, seq, shipBatch)
	if err != nil || len(units) == 0 {
		return seq, err
	}
	start := time.Now()
	err = t.writer.Write(ctx, dream.ApplyIncrements{NodeID: t.nodeID, Items: units}, nil)
	t.metrics.Shipped(len(units), time.Since(start), err)
	if err != nil {
		return seq, fmt.Errorf("%d units: %w", len(units), err)
	}
	return units[len(units)-1].Seq, nil
}

// Flush ships every unit in the outbox once, and returns when the primary
// has applied them all or ctx is done.
func (t *Tally) Flush(ctx context.Context) error {
	if t.outbox == nil {
		return nil
	}
	var shipped int64
	for {
		last, err := t.shipBatch(ctx, shipped)
		if err != nil {
			return err
		}
		if last == shipped {
			return nil
		}
		shipped = last
	}
}
