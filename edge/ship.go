package edge

import (
	"context"
	"time"

	"github.com/dream-api/dream"
)

const (
	// shipInterval is the longest a unit waits in the outbox before the
	// shipper looks again; a unit appended while the shipper is idle is
	// sent at once.
	shipInterval = 50 * time.Millisecond
	// shipBatch bounds the units of one batch.
	shipBatch = 5000
	// shipBackoffMax bounds the wait between attempts while the primary
	// cannot be reached.
	shipBackoffMax = time.Second
)

// LoadOutbox adds the units left in the outbox by the node's last run to
// what it counts. It is called once, before the node serves.
func (s *Server) LoadOutbox(ctx context.Context) error {
	if s.outbox == nil {
		return nil
	}
	var after int64
	for {
		units, err := s.outbox.Units(ctx, after, shipBatch)
		if err != nil {
			return err
		}
		if len(units) == 0 {
			break
		}
		s.tally.restore(units)
		after = units[len(units)-1].Seq
	}
	return s.Refresh(ctx)
}

// Ship sends the outbox's units to the primary in batches, in sequence
// order and one batch at a time, until ctx is done. A batch that fails is
// sent again, from the same unit, until the primary answers: its
// high-water mark makes the units it had applied count once. Units are
// deleted from the outbox only once this node's copy shows them applied,
// so until then they count in the node's decisions, and a restart ships
// them again.
func (s *Server) Ship(ctx context.Context) {
	if s.outbox == nil {
		return
	}
	// shipped is the last unit the primary answered for in this run. A
	// new run starts from the oldest unit in the outbox.
	var shipped, trimmed int64
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
		if mark := s.tally.appliedMark(); mark > trimmed {
			if err := s.outbox.Trim(ctx, mark); err != nil {
				s.logger.Error("trimming the outbox", "error", err)
			} else {
				trimmed = mark
			}
		}
		units, err := s.outbox.Units(ctx, shipped, shipBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Error("reading the outbox", "error", err)
			}
			wait(shipBackoffMax)
			continue
		}
		if len(units) == 0 {
			select {
			case <-ctx.Done():
			case <-s.outbox.Appended():
			case <-ticker.C:
			}
			continue
		}
		_, err = s.writer.ApplyIncrements(ctx, dream.ApplyIncrements{NodeID: s.nodeID, Items: units})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, shipInterval), shipBackoffMax)
			s.logger.Warn("shipping usage to the primary", "units", len(units), "retry_in", backoff, "error", err)
			wait(backoff)
			continue
		}
		backoff = 0
		shipped = units[len(units)-1].Seq
	}
}

// appliedMark is this node's high-water mark as its copy last showed it.
func (t *tally) appliedMark() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mark
}
