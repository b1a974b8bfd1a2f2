package edge

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
	lru "github.com/hashicorp/golang-lru/v2"
)

// cachedUsers bounds the end users whose state a node keeps in memory.
const cachedUsers = 100_000

// DefaultMaxPendingUnits bounds the units a node holds in memory that its
// copy of the database does not show yet (16 bytes each, 16 MB at the
// bound, twice that while a slice grows). Shipped units leave at once, so
// only a primary unreachable for long fills it: at 200 tracks a second,
// in 80 minutes.
const DefaultMaxPendingUnits = 1_000_000

// userKey names an end user of one environment.
type userKey struct {
	env  int64
	user string
}

// userView is an end user's state as the node's copy of the database had
// it, and this node's high-water mark in the same read: the state counts
// exactly this node's units up to the mark.
type userView struct {
	state dream.UserState
	mark  int64
}

// pendingUnit is a unit this node acknowledged that its copy of the
// database does not show yet. seq is 0 while the unit is being appended to
// the outbox; at is when it was acknowledged, in Unix milliseconds.
type pendingUnit struct {
	seq int64
	at  int64
}

// tally is what a node knows of its end users' usage without a query: their
// replicated state, read once and kept until a change names them, and the
// units the node acknowledged that replication has not brought back yet.
// Their sum is the count a node decides by and reports. The sum is exact
// for this node's own units; units other nodes acknowledged in the last
// moments (their flush interval plus replication) are not in it, which is
// the default mode's overshoot.
type tally struct {
	mu    sync.Mutex
	views *lru.Cache[userKey, userView]
	units map[userKey][]pendingUnit
	// pending is how many units units holds, at most maxPending before a
	// new one is reserved.
	pending, maxPending int
	// generation moves whenever views are dropped or units pruned: a view
	// read from the database while it moved may predate what was pruned,
	// and is read again.
	generation uint64
	// mark is this node's high-water mark as its copy last showed it.
	mark int64
}

func newTally(maxPending int) *tally {
	return &tally{views: mustLRU[userKey, userView](cachedUsers), units: make(map[userKey][]pendingUnit), maxPending: maxPending}
}

// count is the user's usage at now: their replicated counter with this
// node's units after the view's mark applied in order, each in the period
// it was acknowledged in, as the primary will apply them. mu must be held.
func (t *tally) count(k userKey, v userView, now time.Time) dream.UsageCounter {
	// Add never changes its counter, so the view's stays as it is.
	counter := v.state.Counter
	for _, u := range t.units[k] {
		if u.seq != 0 && u.seq <= v.mark {
			continue
		}
		next := counter.Add(1, time.UnixMilli(u.at).UTC())
		counter = &next
	}
	return counter.At(now)
}

// forget drops the users' views, for changes that name them.
func (t *tally) forget(keys ...userKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.generation++
	for _, k := range keys {
		t.views.Remove(k)
	}
}

// viewed returns, of the keys, those whose views are kept.
func (t *tally) viewed(keys map[userKey]bool) []store.UserRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	var refs []store.UserRef
	for k := range keys {
		if t.views.Contains(k) {
			refs = append(refs, store.UserRef{EnvironmentID: k.env, UserID: k.user})
		}
	}
	return refs
}

// freshCounter is a user's counter read with this node's mark.
type freshCounter struct {
	key     userKey
	counter *dream.UsageCounter
	mark    int64
}

// setCounters replaces the counters of kept views with fresher ones.
func (t *tally) setCounters(fresh []freshCounter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Reads of views in flight started before these counters were read:
	// they must not replace them.
	t.generation++
	for _, f := range fresh {
		v, ok := t.views.Peek(f.key)
		if !ok || f.mark < v.mark {
			continue
		}
		v.state.Counter, v.mark = f.counter, f.mark
		t.views.Add(f.key, v)
	}
}

// purge drops every view.
func (t *tally) purge() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.generation++
	t.views.Purge()
}

// applied prunes the units at or below mark, which the node's copy now
// counts, and reports whether the mark moved.
func (t *tally) applied(mark int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if mark <= t.mark {
		return false
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
	return true
}

// restore adds units found in the outbox at start.
func (t *tally) restore(units []dream.Increment) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, u := range units {
		k := userKey{u.EnvironmentID, u.UserID}
		t.units[k] = append(t.units[k], pendingUnit{seq: u.Seq, at: u.At})
		t.pending++
	}
}

// errBacklog answers a track at a node that holds as many units not yet
// applied as it may: the primary has been unreachable for long.
var errBacklog = &dream.Error{Kind: dream.KindUnavailable, Code: "service_unavailable",
	Message: "Usage cannot be recorded at this node until the primary is reachable again; try again later",
	Fields:  map[string]any{"retryAfter": 30}}

// errTallyBusy answers the rare request whose user's state kept changing
// while it was read.
var errTallyBusy = &dream.Error{Kind: dream.KindUnavailable, Code: "service_unavailable",
	Message: "Usage is being updated; try again", Fields: map[string]any{"retryAfter": 1}}

// withView runs fn under the tally's lock with the user's view: the cached
// one, or one read from the database that no pruning overtook.
func (s *Server) withView(ctx context.Context, k userKey, fn func(v userView) error) error {
	t := s.tally
	for attempt := 0; attempt < 5; attempt++ {
		t.mu.Lock()
		if v, ok := t.views.Get(k); ok {
			defer t.mu.Unlock()
			return fn(v)
		}
		generation := t.generation
		t.mu.Unlock()

		state, mark, err := s.db.UserStateAndMark(ctx, k.env, k.user, s.nodeID)
		if err != nil {
			return err
		}
		v := userView{state: state, mark: mark}
		t.mu.Lock()
		if t.generation != generation {
			t.mu.Unlock()
			continue
		}
		t.views.Add(k, v)
		defer t.mu.Unlock()
		return fn(v)
	}
	return errTallyBusy
}

// withUsage runs fn under the tally's lock with the user's key and their
// usage report at now: the plan resolved from the catalogue, their state
// and their token's plan, and the count with this node's own units.
func (s *Server) withUsage(ctx context.Context, req *request, fn func(k userKey, u dream.Usage, now time.Time) error) error {
	tiers, err := s.tiers(ctx, req.scope.ID)
	if err != nil {
		return err
	}
	now := s.now()
	k := userKey{req.scope.ID, req.user.UserID}
	return s.withView(ctx, k, func(v userView) error {
		c := s.tally.count(k, v, now)
		plan := dream.ResolvePlan(tiers, dream.PlanSources{
			Subscription: v.state.Subscription,
			AssignedPlan: v.state.AssignedPlan,
			TokenPlan:    req.user.Plan,
		})
		return fn(k, dream.Usage{UserID: k.user, Plan: plan.Name, Count: c.Count, Limit: plan.Limit, Period: c.Period}, now)
	})
}

// usage is the user's usage report at now.
func (s *Server) usage(ctx context.Context, req *request) (dream.Usage, error) {
	var u dream.Usage
	err := s.withUsage(ctx, req, func(_ userKey, got dream.Usage, _ time.Time) error {
		u = got
		return nil
	})
	return u, err
}

// admit decides a unit at this node: below the plan's limit it is
// reserved in the tally and appended to the outbox, and the usage with it
// counted is returned; at the limit nothing changes and the LimitReached
// error comes with the usage as it stands. A writeID this node has
// acknowledged before counts nothing and answers the usage as it stands.
func (s *Server) admit(ctx context.Context, req *request, writeID string) (dream.Usage, error) {
	if writeID != "" {
		seen, err := s.outbox.Seen(ctx, writeID)
		if err != nil {
			return dream.Usage{}, err
		}
		if seen {
			return s.usage(ctx, req)
		}
	}
	var u dream.Usage
	var k userKey
	var now time.Time
	err := s.withUsage(ctx, req, func(key userKey, got dream.Usage, at time.Time) error {
		u, k, now = got, key, at
		if !u.Limit.Admits(u.Count) {
			return dream.LimitReached(u.Count, u.Limit)
		}
		if s.tally.pending >= s.tally.maxPending {
			return errBacklog
		}
		// Reserved before the append, under the lock, so that concurrent
		// units of this user at this node see each other.
		s.tally.units[k] = append(s.tally.units[k], pendingUnit{at: now.UnixMilli()})
		s.tally.pending++
		u.Count++
		return nil
	})
	if err != nil {
		return u, err
	}
	seq, duplicate, err := s.outbox.Append(ctx, dream.Increment{EnvironmentID: k.env, UserID: k.user,
		Email: req.user.Email, Plan: u.Plan, At: now.UnixMilli(), WriteID: writeID})
	s.tally.settle(k, now.UnixMilli(), seq, err == nil && !duplicate)
	if err != nil {
		return dream.Usage{}, err
	}
	if duplicate {
		return s.usage(ctx, req)
	}
	return u, nil
}

// settle gives a reserved unit its sequence number once it is in the
// outbox, or drops the reservation if it is not.
func (t *tally) settle(k userKey, at int64, seq int64, kept bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	units := t.units[k]
	for i, u := range units {
		if u.seq != 0 || u.at != at {
			continue
		}
		if kept {
			units[i].seq = seq
		}
		// Applied and replicated already, the views count it; not kept,
		// it never counted.
		if !kept || seq <= t.mark {
			units = append(units[:i], units[i+1:]...)
			t.pending--
		}
		break
	}
	if len(units) == 0 {
		delete(t.units, k)
	} else {
		t.units[k] = units
	}
}

// shippedWait bounds how long a management read waits for this node's
// units to be applied and replicated.
const shippedWait = 2 * time.Second

// awaitShipped returns once this node's copy counts every unit the node
// acknowledged in the environments envIDs, or after shippedWait. Reads that list usage from the database,
// the dashboard and the customers API, call it so that a developer sees
// the units their own requests to this node just made; they are not on
// the SDK's hot path, and the wait is a shipping interval at most while
// the primary is reachable.
func (s *Server) awaitShipped(ctx context.Context, envIDs ...int64) {
	deadline := time.Now().Add(shippedWait)
	for s.tally.pendingIn(envIDs) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// pendingIn reports whether the node has units not yet in its copy in any
// of the environments.
func (t *tally) pendingIn(envIDs []int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.units {
		if slices.Contains(envIDs, k.env) {
			return true
		}
	}
	return false
}
