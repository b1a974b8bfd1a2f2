package primary

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

// writeKinds are the writes the primary applies, by name. This list is the
// one place a write is declared besides its type in package dream and its
// statements in store: local application, validation, idempotency by
// write id, the internal endpoint's decoding and the forwarding of
// replicas all follow from it.
var writeKinds = kinds(
	define(trackUsage, func(w *dream.TrackUsage) *string { return &w.WriteID }),
	define(applyIncrements, nil).withoutCatchUp(),
	define(done((*store.Tx).CreatePlatform), func(w *dream.CreatePlatform) *string { return &w.WriteID }),
	define(done((*store.Tx).SetPassword), func(w *dream.SetPassword) *string { return &w.WriteID }),
	define(done((*store.Tx).CreateSession), func(w *dream.CreateSession) *string { return &w.WriteID }),
	define(done((*store.Tx).DeleteSession), func(w *dream.DeleteSession) *string { return &w.WriteID }),
	define(done((*store.Tx).CreateProject), func(w *dream.CreateProject) *string { return &w.WriteID }),
	define(done((*store.Tx).UpdateProject), func(w *dream.UpdateProject) *string { return &w.WriteID }),
	define(done((*store.Tx).DeleteProject), func(w *dream.DeleteProject) *string { return &w.WriteID }),
	define(done((*store.Tx).AddEnvironment), func(w *dream.AddEnvironment) *string { return &w.WriteID }),
	define(done((*store.Tx).PutTier), func(w *dream.PutTier) *string { return &w.WriteID }),
	define(done((*store.Tx).DeleteTier), func(w *dream.DeleteTier) *string { return &w.WriteID }),
	define(done((*store.Tx).CreateConnectState), func(w *dream.CreateConnectState) *string { return &w.WriteID }),
	define((*store.Tx).ConsumeConnectState, nil),
	define((*store.Tx).ApplyPlatformEvent, nil),
	define((*store.Tx).SetPlatformCustomer, func(w *dream.SetPlatformCustomer) *string { return &w.WriteID }),
	define(done((*store.Tx).RecordMeterReport), func(w *dream.RecordMeterReport) *string { return &w.WriteID }),
	define((*store.Tx).ClaimJobRun, nil),
	define(done((*store.Tx).FinishJobRun), nil),
	define((*store.Tx).PurgePlatform, nil),
	define(done((*store.Tx).RecordDailyFigures), nil),
	define(done((*store.Tx).RotateSecretKey), func(w *dream.RotateSecretKey) *string { return &w.WriteID }),
	define(done((*store.Tx).ConnectPaymentAccount), func(w *dream.ConnectPaymentAccount) *string { return &w.WriteID }),
	define(applyPaymentEvent, nil),
	define(done((*store.Tx).CreateCustomer), func(w *dream.CreateCustomer) *string { return &w.WriteID }),
	define(done((*store.Tx).AssignPlan), func(w *dream.AssignPlan) *string { return &w.WriteID }),
	define((*store.Tx).DeleteCustomer, func(w *dream.DeleteCustomer) *string { return &w.WriteID }),
	define(done((*store.Tx).PutAsset), func(w *dream.PutAsset) *string { return &w.WriteID }),
	define(done((*store.Tx).ReserveStock), func(w *dream.ReserveStock) *string { return &w.WriteID }),
	define(done((*store.Tx).ReleaseStock), func(w *dream.ReleaseStock) *string { return &w.WriteID }),
	define(done((*store.Tx).RecordRefund), func(w *dream.RecordRefund) *string { return &w.WriteID }),
)

// writeKind is what the primary and forwarding know of one kind of write.
type writeKind struct {
	name string
	// apply validates a write of this kind and applies it in the writer
	// goroutine's next transaction.
	apply func(ctx context.Context, p *Primary, w dream.Write) (any, error)
	// store puts a result of apply where a caller's result points.
	store func(result, r any) error
	// decode reads a write of this kind from JSON.
	decode func(body []byte) (dream.Write, error)
	// identify gives a write of this kind a new write id if it has none;
	// nil for writes that are idempotent by their own content (a batch by
	// its sequence numbers, an event by its id).
	identify func(w dream.Write) dream.Write
	// catchUp is whether a replica that forwards the write waits until its
	// own copy has it before answering, so that its client reads its own
	// write.
	catchUp bool
}

// withoutCatchUp marks a write whose sender learns what it needs from the
// answer: a node's shipper sends its next batch at once.
func (k *writeKind) withoutCatchUp() *writeKind {
	k.catchUp = false
	return k
}

// define declares a kind of write W with result R: fn applies it in a
// transaction (store's methods fit as method expressions), and id, when
// not nil, is where it carries its write id.
func define[W dream.WriteOf[R], R any](fn func(tx *store.Tx, ctx context.Context, w W, now time.Time) (R, error), id func(*W) *string) *writeKind {
	var zero W
	k := &writeKind{name: zero.WriteName(), catchUp: true}
	k.apply = func(ctx context.Context, p *Primary, w dream.Write) (any, error) {
		write := w.(W)
		if v, ok := any(write).(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return nil, err
			}
		}
		var writeID string
		if id != nil {
			writeID = *id(&write)
		}
		return applyWrite(ctx, p, writeID, func(ctx context.Context, tx *store.Tx, now time.Time) (R, error) {
			return fn(tx, ctx, write, now)
		})
	}
	k.store = func(result, r any) error {
		switch out := result.(type) {
		case nil:
		case *R:
			*out = r.(R)
		default:
			return fmt.Errorf("primary: the result of %s is a %T, not a %T", k.name, r, result)
		}
		return nil
	}
	k.decode = func(body []byte) (dream.Write, error) {
		var w W
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, dream.Errorf(dream.KindInvalid, "invalid_write", "the write's body does not decode: %v", err)
		}
		return w, nil
	}
	if id != nil {
		k.identify = func(w dream.Write) dream.Write {
			write := w.(W)
			if p := id(&write); *p == "" {
				*p = dream.NewID("w_")
			}
			return write
		}
	}
	return k
}

// done adapts a store method that applies a write with no result.
func done[W any](fn func(tx *store.Tx, ctx context.Context, w W, now time.Time) error) func(*store.Tx, context.Context, W, time.Time) (dream.NoResult, error) {
	return func(tx *store.Tx, ctx context.Context, w W, now time.Time) (dream.NoResult, error) {
		return dream.NoResult{}, fn(tx, ctx, w, now)
	}
}

// kinds indexes kinds by name.
func kinds(list ...*writeKind) map[string]*writeKind {
	m := make(map[string]*writeKind, len(list))
	for _, k := range list {
		if m[k.name] != nil {
			panic("primary: two writes named " + k.name)
		}
		m[k.name] = k
	}
	return m
}

// kindOf is the kind of w.
func kindOf(w dream.Write) (*writeKind, error) {
	k, ok := writeKinds[w.WriteName()]
	if !ok {
		return nil, fmt.Errorf("primary: %s is not a write the primary applies", w.WriteName())
	}
	return k, nil
}

// Write implements dream.Writer.
func (p *Primary) Write(ctx context.Context, w dream.Write, result any) error {
	k, err := kindOf(w)
	if err != nil {
		return err
	}
	r, err := k.apply(ctx, p, w)
	if err != nil {
		return err
	}
	return k.store(result, r)
}

// ErrUnknownWrite answers a write of a name no write has.
var ErrUnknownWrite = &dream.Error{Kind: dream.KindNotFound, Code: "Not found", Message: "no such write"}

// WriteJSON applies the write named name from its JSON encoding and
// returns its result's: the primary's side of a write forwarded by a
// replica. An unknown name is ErrUnknownWrite.
func (p *Primary) WriteJSON(ctx context.Context, name string, body []byte) (json.RawMessage, error) {
	k, ok := writeKinds[name]
	if !ok {
		return nil, ErrUnknownWrite
	}
	w, err := k.decode(body)
	if err != nil {
		return nil, err
	}
	r, err := k.apply(ctx, p, w)
	if err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

// ForForwarding returns w as a replica sends it to the primary, with a
// write id if its kind takes one and it has none, so that the primary
// applies it once however often it is sent; and whether the replica then
// waits until its own copy has the write, so that its client reads its own
// write.
func ForForwarding(w dream.Write) (dream.Write, bool, error) {
	k, err := kindOf(w)
	if err != nil {
		return nil, false, err
	}
	if k.identify != nil {
		w = k.identify(w)
	}
	return w, k.catchUp, nil
}
