// Package tally is the one owner of the usage a node counts: it decides
// each usage unit of an end user, at this node or at the primary, reads
// their usage, ships the units it acknowledged to the primary, and keeps
// what it knows in step with the node's copy of the database.
//
// A unit decided here is appended to the node's outbox, synced, and
// answered; it counts in every later decision at this node until the
// node's copy shows it applied. The count a node decides by is the end
// user's replicated state, read once and kept until a change names them,
// plus the units the node acknowledged that replication has not brought
// back yet. It is exact for this node's own units; units other nodes
// acknowledged in the last moments (their shipping interval plus
// replication) are not in it, which is the default mode's overshoot. A
// project with strict limits has every unit decided by the primary
// instead.
//
// The tally's lock guards its state and nothing outside this package
// reaches it. Its shipper starts in Open and stops in Close, which then
// hands what is left to the primary.
package tally

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/internal/lru"
	"github.com/dream-api/dream/metrics"
	"github.com/dream-api/dream/outbox"
	"github.com/dream-api/dream/store"
)

// ViewEntryBytes is what one end user's view costs in memory: its key, the
// state of a user who used the API this period and the cache's
// bookkeeping, as TestViewEntryBytes measures it.
const ViewEntryBytes = 250

// DefaultCachedUsers is how many end users' views a node keeps when it is
// not told.
const DefaultCachedUsers = 100_000

// DefaultMaxPending bounds the units a node holds in memory that its copy
// of the database does not show yet (16 bytes each, 16 MB at the bound,
// twice that while a slice grows). Shipped units leave at once, so only a
// primary unreachable for long fills it: at 200 tracks a second, in 80
// minutes.
const DefaultMaxPending = 1_000_000

// drainTimeout bounds how long Close tries to ship what is left in the
// outbox; fly.toml's kill_timeout leaves room for it after the requests
// in flight.
const drainTimeout = 5 * time.Second

// Options configure a Tally.
type Options struct {
	// DB is the node's copy of the database.
	DB *store.DB
	// Writer applies units decided by the primary and the batches shipped.
	Writer dream.Writer
	// Outbox, when set, is the node's outbox: units of projects without
	// strict limits are decided at this node, kept in it and shipped to
	// the primary. Without it every unit is decided by the primary.
	Outbox *outbox.Outbox
	// CachedUsers bounds the end users whose views the node keeps; 0 is
	// DefaultCachedUsers.
	CachedUsers int
	// MaxPending bounds the units acknowledged at this node and not yet
	// seen applied that it holds; at the bound, units are refused with a
	// 503 until shipping catches up. 0 is DefaultMaxPending.
	MaxPending int
	Now        func() time.Time
	Logger     *slog.Logger
	// Metrics, when set, records the batches shipped.
	Metrics *metrics.Metrics
	// Warm are end users whose views Open reads at once, the most
	// recently used first: those the node kept when it last stopped
	// (Users), so that it comes back with them.
	Warm []store.UserRef
}

// view is an end user's state as the node's copy of the database had it,
// and this node's high-water mark in the same read: the state counts
// exactly this node's units up to the mark. A node keeps hundreds of
// thousands, so the counter is held in the view rather than behind a
// pointer of its own.
type view struct {
	assignedPlan string
	subscription *dream.Subscription
	counter      dream.UsageCounter
	// counted is false for a user who never used the API, whose counter
	// is then the zero value.
	counted bool
	mark    int64
}

// newView is the view of a user's state read with mark.
func newView(s dream.UserState, mark int64) view {
	v := view{assignedPlan: s.AssignedPlan, subscription: s.Subscription, mark: mark}
	v.setCounter(s.Counter)
	return v
}

// setCounter replaces the view's counter; nil is a user who never used
// the API.
func (v *view) setCounter(c *dream.UsageCounter) {
	v.counter, v.counted = dream.UsageCounter{}, c != nil
	if c != nil {
		v.counter = *c
	}
}

// storedCounter is the counter as dream's rules take it, nil for a user
// who never used the API.
func (v *view) storedCounter() *dream.UsageCounter {
	if !v.counted {
		return nil
	}
	return &v.counter
}

// pendingUnit is a unit this node acknowledged that its copy of the
// database does not show yet. seq is 0 while the unit is being appended to
// the outbox; at is when it was acknowledged, in Unix milliseconds.
type pendingUnit struct {
	seq int64
	at  int64
}

// Tally is a node's usage.
type Tally struct {
	db     *store.DB
	writer dream.Writer
	outbox *outbox.Outbox
	// nodeID is the outbox's node id, "" without an outbox.
	nodeID  string
	now     func() time.Time
	logger  *slog.Logger
	metrics *metrics.Metrics

	mu    sync.Mutex
	views *lru.Cache[store.UserRef, view]
	units map[store.UserRef][]pendingUnit
	// pending is how many units units holds, at most maxPending before a
	// new one is reserved.
	pending, maxPending int
	// generation moves whenever views are dropped or units pruned: a view
	// read from the database while it moved may predate what was pruned,
	// and is read again.
	generation uint64
	// mark is this node's high-water mark as its copy last showed it.
	mark int64

	// stop ends the shipper, which closes shipped when it has.
	stop    context.CancelFunc
	shipped chan struct{}
}

// Open returns the tally of a node. The units its outbox still holds from
// the node's last run count at once, and are shipped, with every new unit,
// by a shipper that runs until Close.
func Open(ctx context.Context, o Options) (*Tally, error) {
	cachedUsers := cmp.Or(o.CachedUsers, DefaultCachedUsers)
	views, err := lru.New[store.UserRef, view](cachedUsers)
	if err != nil {
		return nil, err
	}
	t := &Tally{
		db: o.DB, writer: o.Writer, outbox: o.Outbox, now: o.Now, logger: o.Logger, metrics: o.Metrics,
		views: views, units: make(map[store.UserRef][]pendingUnit), maxPending: cmp.Or(o.MaxPending, DefaultMaxPending),
		shipped: make(chan struct{}),
	}
	if t.outbox != nil {
		t.nodeID = t.outbox.NodeID()
		if err := t.restore(ctx); err != nil {
			return nil, err
		}
	}
	if err := t.warm(ctx, o.Warm[:min(len(o.Warm), cachedUsers)]); err != nil {
		// The views are read again one by one as their users come.
		t.logger.Error("reading the views of the end users kept before the restart", "error", err)
	}
	if t.outbox == nil {
		close(t.shipped)
		t.stop = func() {}
		return t, nil
	}
	shipping, stop := context.WithCancel(context.Background())
	t.stop = stop
	go func() {
		defer close(t.shipped)
		t.ship(shipping)
	}()
	return t, nil
}

// warm reads the views of users, the most recently used first, in bulk,
// and keeps them in that order of use. Open runs it before the tally
// serves anything and before the change watcher starts, so no change can
// overtake a view it reads.
func (t *Tally) warm(ctx context.Context, users []store.UserRef) error {
	if len(users) == 0 {
		return nil
	}
	views := make(map[store.UserRef]view, len(users))
	// In the order of the tables' keys, each page of them is read once.
	sorted := slices.Clone(users)
	slices.SortFunc(sorted, func(a, b store.UserRef) int {
		return cmp.Or(cmp.Compare(a.EnvironmentID, b.EnvironmentID), strings.Compare(a.UserID, b.UserID))
	})
	err := t.db.UserStates(ctx, t.nodeID, sorted, func(u store.UserRef, s dream.UserState, mark int64) {
		views[u] = newView(s, mark)
	})
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, u := range slices.Backward(users) {
		if v, ok := views[u]; ok {
			t.views.Add(u, v)
		}
	}
	return nil
}

// Users are the end users whose views the tally keeps, the most recently
// used first.
func (t *Tally) Users() []store.UserRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	users := make([]store.UserRef, 0, t.views.Len())
	for u := range t.views.All() {
		users = append(users, u)
	}
	return users
}

// Close stops the shipper and then ships what the outbox still holds, for
// a while, so that the units reach the primary even if the node never
// comes back; what cannot be shipped stays in the outbox for the next run.
// The writer and the outbox must stay open until Close returns.
func (t *Tally) Close() error {
	t.stop()
	<-t.shipped
	if t.outbox == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := t.Flush(ctx); err != nil {
		return fmt.Errorf("usage units left in the outbox: %w", err)
	}
	return nil
}

// restore adds the units left in the outbox by the node's last run, less
// those the node's copy shows applied.
func (t *Tally) restore(ctx context.Context) error {
	var after int64
	for {
		units, err := t.outbox.Units(ctx, after, shipBatch)
		if err != nil {
			return err
		}
		if len(units) == 0 {
			break
		}
		t.mu.Lock()
		for _, u := range units {
			k := store.UserRef{EnvironmentID: u.EnvironmentID, UserID: u.UserID}
			t.units[k] = append(t.units[k], pendingUnit{seq: u.Seq, at: u.At})
			t.pending++
		}
		t.mu.Unlock()
		after = units[len(units)-1].Seq
	}
	mark, err := t.db.EdgeMark(ctx, t.nodeID)
	if err != nil {
		return err
	}
	t.applied(mark)
	return nil
}

// errBacklog answers a unit at a node that holds as many units not yet
// applied as it may: the primary has been unreachable for long.
var errBacklog = &dream.Error{Kind: dream.KindUnavailable, Code: "service_unavailable",
	Message: "Usage cannot be recorded at this node until the primary is reachable again; try again later",
	Fields:  map[string]any{"retryAfter": 30}}

// errBusy answers the rare request whose user's state kept changing while
// it was read.
var errBusy = &dream.Error{Kind: dream.KindUnavailable, Code: "service_unavailable",
	Message: "Usage is being updated; try again", Fields: map[string]any{"retryAfter": 1}}

// Track counts one unit of the end user w names, among the environment's
// tiers, and returns their usage with it: at this node, or at the primary
// when strict or when the node has no outbox. At the plan's limit it
// counts nothing and returns dream.LimitReached. A WriteID counted before
// counts nothing again and answers the usage as it stands.
func (t *Tally) Track(ctx context.Context, tiers []dream.Tier, w dream.TrackUsage, strict bool) (dream.Usage, error) {
	user := store.UserRef{EnvironmentID: w.EnvironmentID, UserID: w.UserID}
	if t.outbox == nil || strict {
		u, err := dream.Apply(ctx, t.writer, w)
		// The next read at this node must see the unit, before the change
		// log says so.
		t.forget(user)
		return u, err
	}
	if w.WriteID != "" {
		seen, err := t.outbox.Seen(ctx, w.WriteID)
		if err != nil {
			return dream.Usage{}, err
		}
		if seen {
			return t.Usage(ctx, tiers, user, w.TokenPlan)
		}
	}
	var u dream.Usage
	var now time.Time
	err := t.withUsage(ctx, tiers, user, w.TokenPlan, func(got dream.Usage, at time.Time) error {
		u, now = got, at
		if !u.Limit.Admits(u.Count) {
			return dream.LimitReached(u.Count, u.Limit)
		}
		if t.pending >= t.maxPending {
			return errBacklog
		}
		// Reserved before the append, under the lock, so that concurrent
		// units of this user at this node see each other.
		t.units[user] = append(t.units[user], pendingUnit{at: now.UnixMilli()})
		t.pending++
		u.Count++
		return nil
	})
	if err != nil {
		return u, err
	}
	seq, duplicate, err := t.outbox.Append(ctx, dream.Increment{EnvironmentID: user.EnvironmentID, UserID: user.UserID,
		Email: w.Email, Plan: u.Plan, At: now.UnixMilli(), WriteID: w.WriteID})
	t.settle(user, now.UnixMilli(), seq, err == nil && !duplicate)
	if err != nil {
		return dream.Usage{}, err
	}
	if duplicate {
		return t.Usage(ctx, tiers, user, w.TokenPlan)
	}
	return u, nil
}

// Usage is the end user's usage report now, among the environment's
// tiers, with the plan their token claims as the last resort.
func (t *Tally) Usage(ctx context.Context, tiers []dream.Tier, user store.UserRef, tokenPlan string) (dream.Usage, error) {
	var u dream.Usage
	err := t.withUsage(ctx, tiers, user, tokenPlan, func(got dream.Usage, _ time.Time) error {
		u = got
		return nil
	})
	return u, err
}

// withUsage runs fn under the lock with the user's usage report at now:
// the plan resolved from the tiers, their state and their token's plan,
// and the count with this node's own units.
func (t *Tally) withUsage(ctx context.Context, tiers []dream.Tier, user store.UserRef, tokenPlan string, fn func(u dream.Usage, now time.Time) error) error {
	now := t.now()
	return t.withView(ctx, user, func(v view) error {
		c := t.count(user, v, now)
		plan := dream.ResolvePlan(tiers, dream.PlanSources{
			Subscription: v.subscription,
			AssignedPlan: v.assignedPlan,
			TokenPlan:    tokenPlan,
		})
		return fn(dream.Usage{UserID: user.UserID, Plan: plan.Name, Count: c.Count, Limit: plan.Limit, Period: c.Period}, now)
	})
}

// withView runs fn under the lock with the user's view: the one kept, or
// one read from the database that no pruning overtook.
func (t *Tally) withView(ctx context.Context, user store.UserRef, fn func(v view) error) error {
	for attempt := 0; attempt < 5; attempt++ {
		t.mu.Lock()
		if v, ok := t.views.Get(user); ok {
			defer t.mu.Unlock()
			return fn(v)
		}
		generation := t.generation
		t.mu.Unlock()

		state, mark, err := t.db.UserStateAndMark(ctx, user.EnvironmentID, user.UserID, t.nodeID)
		if err != nil {
			return err
		}
		v := newView(state, mark)
		t.mu.Lock()
		if t.generation != generation {
			t.mu.Unlock()
			continue
		}
		t.views.Add(user, v)
		defer t.mu.Unlock()
		return fn(v)
	}
	return errBusy
}

// count is the user's usage at now: their replicated counter with this
// node's units after the view's mark added in order, each in the period it
// was acknowledged in, as the primary will add them. mu must be held.
func (t *Tally) count(user store.UserRef, v view, now time.Time) dream.UsageCounter {
	// Add never changes its counter, so the view's stays as it is.
	counter := v.storedCounter()
	for _, u := range t.units[user] {
		if u.seq != 0 && u.seq <= v.mark {
			continue
		}
		next := counter.Add(1, time.UnixMilli(u.at).UTC())
		counter = &next
	}
	return counter.At(now)
}

// settle gives a reserved unit its sequence number once it is in the
// outbox, or drops the reservation if it is not.
func (t *Tally) settle(user store.UserRef, at int64, seq int64, kept bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	units := t.units[user]
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
		delete(t.units, user)
	} else {
		t.units[user] = units
	}
}

// forget drops what the node knows of the users' state, for changes that
// name them: the next read of each reads it again.
func (t *Tally) forget(users ...store.UserRef) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.generation++
	for _, u := range users {
		t.views.Remove(u)
	}
}

// ForgetAll drops what the node knows of every user's state, when it
// cannot tell which changed.
func (t *Tally) ForgetAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.generation++
	t.views.Purge()
}

// shippedWait bounds how long AwaitShipped waits.
const shippedWait = 2 * time.Second

// AwaitShipped returns once this node's copy counts every unit the node
// acknowledged in the environments envIDs, or after shippedWait. Reads that
// list usage from the database, such as the dashboard's, call it so that a
// developer sees the units their own requests to this node just made; they
// are not on the SDK's hot path, and the wait is a shipping interval at
// most while the primary is reachable.
func (t *Tally) AwaitShipped(ctx context.Context, envIDs ...int64) {
	deadline := time.Now().Add(shippedWait)
	for t.pendingIn(envIDs) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// pendingIn reports whether the node has units not yet in its copy in any
// of the environments.
func (t *Tally) pendingIn(envIDs []int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.units {
		if slices.Contains(envIDs, k.EnvironmentID) {
			return true
		}
	}
	return false
}
