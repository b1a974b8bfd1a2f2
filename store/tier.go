package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
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
	features, err := jsonList(t.Features)
	if err != nil {
		return err
	}
	currency := t.Currency
	if currency == "" {
		currency = "usd"
	}
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO tiers (environment_id, slug, display_name, description,
			billing_mode, price_cents, currency, usage_limit, features, popular, image_url, inventory,
			trial_days, stripe_price_id, stripe_product_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		envID, t.Slug, t.DisplayName, t.Description, t.BillingMode, t.PriceCents, currency, limitColumn(t.Limit),
		features, t.Popular, nullString(t.ImageURL), inventoryColumn(t.Inventory), t.TrialDays,
		nullString(t.StripePriceID), nullString(t.StripeProductID), now.UnixMilli(), now.UnixMilli())
	if isConstraint(err) {
		return dream.Errorf(dream.KindInvalid, "Invalid tier", "tier %q is a duplicate or has an invalid value", t.Slug)
	}
	if err != nil {
		return fmt.Errorf("insert tier: %w", err)
	}
	return nil
}

// PutTier creates a tier in an environment, within the bound of its
// billing mode, or replaces the tier of its slug, and logs the catalogue
// as changed.
func (tx *Tx) PutTier(ctx context.Context, w dream.PutTier, now time.Time) error {
	t := w.Tier
	if w.Create {
		var n int
		if err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM tiers WHERE environment_id = ? AND billing_mode = ?`,
			w.EnvironmentID, t.BillingMode).Scan(&n); err != nil {
			return fmt.Errorf("count tiers: %w", err)
		}
		if w.Max > 0 && n >= w.Max {
			return dream.Errorf(dream.KindConflict, "catalogue_full", "an environment holds at most %d of these; delete one first", w.Max)
		}
		err := tx.insertTier(ctx, w.EnvironmentID, t, now)
		if dream.ErrorKind(err) == dream.KindInvalid {
			return dream.Errorf(dream.KindConflict, "tier_exists", "%s exists already", dream.Quote(t.Slug))
		}
		if err != nil {
			return err
		}
	} else {
		features, err := jsonList(t.Features)
		if err != nil {
			return err
		}
		res, err := tx.tx.ExecContext(ctx, `UPDATE tiers SET display_name = ?, description = ?, price_cents = ?,
				usage_limit = ?, features = ?, popular = ?, image_url = ?, inventory = ?, trial_days = ?,
				stripe_price_id = ?, stripe_product_id = ?, updated_at = ?
			WHERE environment_id = ? AND slug = ?`,
			t.DisplayName, t.Description, t.PriceCents, limitColumn(t.Limit), features, t.Popular, nullString(t.ImageURL),
			inventoryColumn(t.Inventory), t.TrialDays, nullString(t.StripePriceID), nullString(t.StripeProductID), now.UnixMilli(),
			w.EnvironmentID, t.Slug)
		if err != nil {
			return fmt.Errorf("update tier: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return dream.ErrTierNotFound(t.Slug)
		}
	}
	return tx.LogChange(ctx, ChangeTiers, strconv.FormatInt(w.EnvironmentID, 10), now)
}

// DeleteTier deletes a tier from an environment; the reservations of its
// stock and its uploaded image go with it.
func (tx *Tx) DeleteTier(ctx context.Context, w dream.DeleteTier, now time.Time) error {
	if err := tx.dropImages(ctx, `t.environment_id = ? AND t.slug = ?`, w.EnvironmentID, w.Slug); err != nil {
		return err
	}
	res, err := tx.tx.ExecContext(ctx, `DELETE FROM tiers WHERE environment_id = ? AND slug = ?`, w.EnvironmentID, w.Slug)
	if err != nil {
		return fmt.Errorf("delete tier: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return dream.ErrTierNotFound(w.Slug)
	}
	return tx.LogChange(ctx, ChangeTiers, strconv.FormatInt(w.EnvironmentID, 10), now)
}

// limitColumn is a limit as stored: NULL for unlimited.
func limitColumn(l dream.Limit) sql.NullInt64 {
	if l.Unlimited() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(l), Valid: true}
}

// inventoryColumn is a stock as stored: NULL for unlimited.
func inventoryColumn(n *int64) sql.NullInt64 {
	if n == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *n, Valid: true}
}
