package primary

import (
	"context"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

// CreateCustomer implements dream.Writer.
func (p *Primary) CreateCustomer(ctx context.Context, w dream.CreateCustomer) error {
	if w.UserID == "" || w.Email == "" {
		return dream.Errorf(dream.KindInvalid, "Missing required field", "a customer needs an id and an email")
	}
	_, err := apply(ctx, p, w.WriteID, func(ctx context.Context, tx *store.Tx, now time.Time) (noResult, error) {
		return noResult{}, tx.CreateCustomer(ctx, w, now)
	})
	return err
}

// AssignPlan implements dream.Writer.
func (p *Primary) AssignPlan(ctx context.Context, w dream.AssignPlan) error {
	if w.UserID == "" {
		return dream.Errorf(dream.KindInvalid, "Missing required field", "an end user id is required")
	}
	_, err := apply(ctx, p, w.WriteID, func(ctx context.Context, tx *store.Tx, now time.Time) (noResult, error) {
		return noResult{}, tx.AssignPlan(ctx, w.EnvironmentID, w.UserID, w.Plan, now)
	})
	return err
}

// DeleteCustomer implements dream.Writer. The end user's subscription is
// remembered as deleted, so the provider's later events about it, the
// cancellation among them, do not bring the customer back.
func (p *Primary) DeleteCustomer(ctx context.Context, w dream.DeleteCustomer) (bool, error) {
	return apply(ctx, p, w.WriteID, func(ctx context.Context, tx *store.Tx, now time.Time) (bool, error) {
		return tx.DeleteCustomer(ctx, w.EnvironmentID, w.UserID, now)
	})
}

// PutAsset implements dream.Writer.
func (p *Primary) PutAsset(ctx context.Context, w dream.PutAsset) error {
	if w.Asset.Key == "" || w.Asset.PlatformID == "" || len(w.Asset.Data) == 0 {
		return dream.Errorf(dream.KindInvalid, "Invalid asset", "an asset needs a key, a platform and data")
	}
	_, err := apply(ctx, p, w.WriteID, func(ctx context.Context, tx *store.Tx, now time.Time) (noResult, error) {
		return noResult{}, tx.PutAsset(ctx, w.Asset)
	})
	return err
}
