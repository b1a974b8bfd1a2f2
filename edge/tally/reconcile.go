package tally

import (
	"context"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

// Reconcile brings the tally in step with the node's copy of the database:
// users whose plan or subscription changed are forgotten and read again
// when next needed; users whose counter alone changed, which is what every
// batch of units does, take the counter the change log holds when the
// batch was this node's, and have it read afresh here otherwise, once for
// every user, so that no request waits for it; and units the copy now
// counts are pruned.
//
// read returns the change log entries the copy received since the last
// call. This node's high-water mark is read before them: every unit up to
// it was applied in a transaction whose change entry read then returns,
// so the users it counted are in step before their units are pruned.
func (t *Tally) Reconcile(ctx context.Context, read func() ([]store.Change, error)) error {
	var mark int64
	if t.nodeID != "" {
		var err error
		if mark, err = t.db.EdgeMark(ctx, t.nodeID); err != nil {
			return err
		}
	}
	changes, err := read()
	if err != nil {
		return err
	}
	if err := t.follow(ctx, changes); err != nil {
		t.logger.Error("reading the change log", "error", err)
		t.ForgetAll()
	}
	t.applied(mark)
	return nil
}

// follow brings the views of the users the changes name in step: those
// whose plan or subscription changed are forgotten; those whose counters a
// batch of this node's units changed take the counters the entry holds,
// with the node's mark after the batch; the others have their counters
// read afresh.
func (t *Tally) follow(ctx context.Context, changes []store.Change) error {
	var forget []store.UserRef
	var own []freshCounter
	counted := map[store.UserRef]bool{}
	for _, c := range changes {
		switch c.Kind {
		case store.ChangeUsers:
			users, err := store.ParseUsers(c.Key)
			if err != nil {
				return err
			}
			forget = append(forget, users...)
		case store.ChangeUsage:
			users, batch, err := store.ParseUsage(c.Key)
			if err != nil {
				return err
			}
			if batch != nil && t.nodeID != "" && batch.NodeID == t.nodeID {
				for _, uc := range batch.Counters {
					own = append(own, freshCounter{user: uc.User, counter: &uc.Counter, mark: batch.Mark})
				}
				continue
			}
			for _, u := range users {
				counted[u] = true
			}
		}
	}
	if len(forget) > 0 {
		t.forget(forget...)
	}
	// A view that has this node's mark after the batch already was read
	// in or after the batch's transaction, which first gave the node that
	// mark: it is at least as fresh as the entry's counter.
	t.setCounters(own, true)
	users := t.viewed(counted)
	if len(users) == 0 {
		return nil
	}
	var fresh []freshCounter
	err := t.db.Counters(ctx, t.nodeID, users, func(u store.UserRef, c *dream.UsageCounter, mark int64) {
		fresh = append(fresh, freshCounter{u, c, mark})
	})
	if err != nil {
		return err
	}
	t.setCounters(fresh, false)
	return nil
}

// viewed returns, of the users, those whose views are kept.
func (t *Tally) viewed(users map[store.UserRef]bool) []store.UserRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	var kept []store.UserRef
	for u := range users {
		if t.views.Contains(u) {
			kept = append(kept, u)
		}
	}
	return kept
}

// freshCounter is a user's counter read with this node's mark.
type freshCounter struct {
	user    store.UserRef
	counter *dream.UsageCounter
	mark    int64
}

// setCounters replaces the counters of kept views with fresher ones: of a
// higher mark, or, unless newerOnly, of the same mark.
func (t *Tally) setCounters(fresh []freshCounter, newerOnly bool) {
	if len(fresh) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Reads of views in flight started before these counters were read:
	// they must not replace them.
	t.generation++
	for _, f := range fresh {
		v, ok := t.views.Peek(f.user)
		if !ok || f.mark < v.mark || newerOnly && f.mark == v.mark {
			continue
		}
		v.setCounter(f.counter)
		v.mark = f.mark
		t.views.Add(f.user, v)
	}
}

// applied prunes the units at or below mark, which the node's copy now
// counts.
func (t *Tally) applied(mark int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if mark <= t.mark {
		return
	}
	t.mark = mark
	t.generation++
	for k, units := range t.units {
		kept := units[:0]
		for _, u := range units {
			if u.seq == 0 || u.seq > mark {
				kept = append(kept, u)
			}
		}
		t.pending -= len(units) - len(kept)
		if len(kept) == 0 {
			delete(t.units, k)
		} else {
			t.units[k] = kept
		}
	}
}

// appliedMark is this node's high-water mark as its copy last showed it.
func (t *Tally) appliedMark() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mark
}
