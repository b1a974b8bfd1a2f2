// Package primary is the write side of Dream API. Every change to the
// database goes through a Primary, the implementation of dream.Writer that
// runs on the node holding the database's write lease: on a single node a
// local call, on a cluster the target of writes forwarded by replicas.
//
// Each write runs in one SQLite transaction. A write that carries a write id
// records its outcome in the same transaction, so applying the id again
// answers with that outcome instead of changing anything twice. A write that
// fails, refusals included, rolls back entirely: nothing is half-written and
// nothing is recorded, so a retry decides afresh.
package primary

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

// Primary applies writes to the database.
type Primary struct {
	db  *store.DB
	now func() time.Time
}

var _ dream.Writer = (*Primary)(nil)

// New returns a Primary writing to db, with now as its clock.
func New(db *store.DB, now func() time.Time) *Primary {
	return &Primary{db: db, now: now}
}

// apply runs fn in a write transaction as the write writeID ("" for a write
// without one) and commits its effects with the record of its outcome. A
// write id seen before answers with its recorded outcome and runs nothing.
func apply[T any](ctx context.Context, p *Primary, writeID string, fn func(tx *store.Tx, now time.Time) (T, error)) (T, error) {
	var result T
	tx, err := p.db.Begin(ctx)
	if err != nil {
		return result, err
	}
	defer tx.Rollback()
	if writeID != "" {
		recorded, ok, err := tx.AppliedWrite(ctx, writeID)
		if err != nil {
			return result, err
		}
		if ok {
			if err := json.Unmarshal(recorded, &result); err != nil {
				return result, fmt.Errorf("write %s: decoding recorded outcome: %w", writeID, err)
			}
			return result, nil
		}
	}
	now := p.now()
	if result, err = fn(tx, now); err != nil {
		return result, err
	}
	if writeID != "" {
		outcome, err := json.Marshal(result)
		if err != nil {
			return result, err
		}
		if err := tx.RecordWrite(ctx, writeID, outcome, now); err != nil {
			return result, err
		}
	}
	return result, tx.Commit()
}

// TrackUsage implements dream.Writer. The plan is resolved and the unit
// counted inside one transaction that holds the write lock from its first
// read, and the count itself is a single conditional statement, so
// concurrent tracks at a limit never admit more than the limit.
func (p *Primary) TrackUsage(ctx context.Context, w dream.TrackUsage) (dream.Usage, error) {
	if w.UserID == "" {
		return dream.Usage{}, dream.Errorf(dream.KindInvalid, "Invalid usage", "an end user id is required")
	}
	return apply(ctx, p, w.WriteID, func(tx *store.Tx, now time.Time) (dream.Usage, error) {
		if err := tx.RegisterEndUser(ctx, w.EnvironmentID, w.UserID, w.Email, now); err != nil {
			return dream.Usage{}, err
		}
		tiers, err := tx.Tiers(ctx, w.EnvironmentID)
		if err != nil {
			return dream.Usage{}, err
		}
		state, err := tx.UserState(ctx, w.EnvironmentID, w.UserID)
		if err != nil {
			return dream.Usage{}, err
		}
		plan := dream.ResolvePlan(tiers, dream.PlanSources{
			Subscription: state.Subscription,
			AssignedPlan: state.AssignedPlan,
			TokenPlan:    w.TokenPlan,
		})
		counter, admitted, err := tx.IncrementUsage(ctx, w.EnvironmentID, w.UserID, plan, now)
		if err != nil {
			return dream.Usage{}, err
		}
		usage := dream.Usage{UserID: w.UserID, Plan: plan.Name, Count: counter.Count, Limit: plan.Limit, Period: counter.Period}
		if !admitted {
			return usage, dream.LimitReached(counter.Count, plan.Limit)
		}
		return usage, nil
	})
}

// noResult is the outcome of writes that answer nothing but success.
type noResult struct{}

// CreatePlatform implements dream.Writer.
func (p *Primary) CreatePlatform(ctx context.Context, w dream.CreatePlatform) error {
	if w.ID == "" || w.Owner == "" {
		return dream.Errorf(dream.KindInvalid, "Invalid platform", "a platform needs an id and an owner")
	}
	_, err := apply(ctx, p, w.WriteID, func(tx *store.Tx, now time.Time) (noResult, error) {
		return noResult{}, tx.CreatePlatform(ctx, w, now)
	})
	return err
}

// CreateProject implements dream.Writer.
func (p *Primary) CreateProject(ctx context.Context, w dream.CreateProject) error {
	if err := validateProject(w); err != nil {
		return err
	}
	_, err := apply(ctx, p, w.WriteID, func(tx *store.Tx, now time.Time) (noResult, error) {
		return noResult{}, tx.CreateProject(ctx, w, now)
	})
	return err
}

// validateProject checks a new project before it reaches the database,
// whose constraints are the last line, not the error messages.
func validateProject(w dream.CreateProject) error {
	invalid := func(format string, args ...any) error {
		return dream.Errorf(dream.KindInvalid, "Invalid project", format, args...)
	}
	if w.ID == "" || w.PlatformID == "" || w.Name == "" {
		return invalid("a project needs an id, a platform and a name")
	}
	if !w.Type.Valid() {
		return invalid("unknown project type %q", w.Type)
	}
	for _, env := range w.Environments {
		key, err := dream.ParseKey(dream.PublishableKey, env.PublishableKey)
		if err != nil || !env.Mode.Valid() || key.Mode != env.Mode {
			return invalid("environment %q needs a publishable key of its mode", env.Mode)
		}
		for _, t := range env.Tiers {
			if t.Slug == "" || t.DisplayName == "" {
				return invalid("every tier needs a slug and a display name")
			}
			if t.BillingMode != dream.BillingSubscription && t.BillingMode != dream.BillingOneOff {
				return invalid("tier %q has unknown billing mode %q", t.Slug, t.BillingMode)
			}
			if t.PriceCents < 0 || (t.Inventory != nil && *t.Inventory < 0) || t.TrialDays < 0 {
				return invalid("tier %q has a negative price, inventory or trial", t.Slug)
			}
		}
	}
	return nil
}

// RotateSecretKey implements dream.Writer.
func (p *Primary) RotateSecretKey(ctx context.Context, w dream.RotateSecretKey) error {
	_, err := apply(ctx, p, w.WriteID, func(tx *store.Tx, now time.Time) (noResult, error) {
		return noResult{}, tx.RotateSecretKey(ctx, w, now)
	})
	return err
}
