package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dream-api/dream"
)

// Tiers returns an environment's catalogue, subscription tiers and one-off
// products alike, in the order they were created, with what reservations
// hold of each product's stock.
func (db *DB) Tiers(ctx context.Context, envID int64) ([]dream.Tier, error) {
	return tiers(ctx, db.read, envID)
}

// Tiers returns an environment's catalogue as the transaction sees it.
func (tx *Tx) Tiers(ctx context.Context, envID int64) ([]dream.Tier, error) {
	return tiers(ctx, tx.tx, envID)
}

func tiers(ctx context.Context, q queryer, envID int64) ([]dream.Tier, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, slug, display_name, description, billing_mode,
			price_cents, currency, usage_limit, features, popular, image_url, inventory, trial_days,
			stripe_price_id, stripe_product_id, created_at,
			CASE WHEN inventory IS NULL THEN 0
				ELSE (SELECT coalesce(sum(quantity), 0) FROM stock_reservations r WHERE r.tier_id = tiers.id) END
		FROM tiers WHERE environment_id = ? ORDER BY id`, envID)
	if err != nil {
		return nil, fmt.Errorf("tiers: %w", err)
	}
	defer rows.Close()
	var list []dream.Tier
	for rows.Next() {
		var t dream.Tier
		var limit, inventory sql.NullInt64
		var features string
		var image, priceID, productID sql.NullString
		var created int64
		if err := rows.Scan(&t.ID, &t.Slug, &t.DisplayName, &t.Description, &t.BillingMode,
			&t.PriceCents, &t.Currency, &limit, &features, &t.Popular, &image, &inventory, &t.TrialDays,
			&priceID, &productID, &created, &t.Reserved); err != nil {
			return nil, fmt.Errorf("tiers: %w", err)
		}
		t.Limit = dream.Unlimited
		if limit.Valid && limit.Int64 >= 0 {
			t.Limit = dream.Limit(limit.Int64)
		}
		if inventory.Valid {
			n := inventory.Int64
			t.Inventory = &n
		}
		if err := json.Unmarshal([]byte(features), &t.Features); err != nil {
			return nil, fmt.Errorf("tier %d features: %w", t.ID, err)
		}
		t.ImageURL, t.StripePriceID, t.StripeProductID = image.String, priceID.String, productID.String
		t.CreatedAt = time.UnixMilli(created).UTC()
		list = append(list, t)
	}
	return list, rows.Err()
}

func (tx *Tx) insertTier(ctx context.Context, envID int64, t dream.Tier, now time.Time) error {
	features := t.Features
	if features == nil {
		features = []string{}
	}
	featuresJSON, err := json.Marshal(features)
	if err != nil {
		return err
	}
	var limit sql.NullInt64
	if !t.Limit.Unlimited() {
		limit = sql.NullInt64{Int64: int64(t.Limit), Valid: true}
	}
	var inventory sql.NullInt64
	if t.Inventory != nil {
		inventory = sql.NullInt64{Int64: *t.Inventory, Valid: true}
	}
	currency := t.Currency
	if currency == "" {
		currency = "usd"
	}
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO tiers (environment_id, slug, display_name, description,
			billing_mode, price_cents, currency, usage_limit, features, popular, image_url, inventory,
			trial_days, stripe_price_id, stripe_product_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		envID, t.Slug, t.DisplayName, t.Description, t.BillingMode, t.PriceCents, currency, limit,
		string(featuresJSON), t.Popular, nullString(t.ImageURL), inventory, t.TrialDays,
		nullString(t.StripePriceID), nullString(t.StripeProductID), now.UnixMilli(), now.UnixMilli())
	if isConstraint(err) {
		return dream.Errorf(dream.KindInvalid, "Invalid tier", "tier %q is a duplicate or has an invalid value", t.Slug)
	}
	if err != nil {
		return fmt.Errorf("insert tier: %w", err)
	}
	return nil
}
