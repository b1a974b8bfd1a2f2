package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/dream-api/dream"
)

// ReserveStock holds the reservation's lines, or refuses them all when one
// product has not enough available: the check and the hold are this one
// transaction, which holds the write lock. Reservations of the same
// products that lapsed are released first, so a lapse never blocks a sale.
func (tx *Tx) ReserveStock(ctx context.Context, w dream.ReserveStock, now time.Time) error {
	if err := tx.release(ctx, now, `environment_id = ? AND expires_at <= ?`, w.EnvironmentID, now.UnixMilli()); err != nil {
		return err
	}
	tiers, err := tx.Tiers(ctx, w.EnvironmentID)
	if err != nil {
		return err
	}
	held := map[*dream.Tier]int64{}
	for _, l := range w.Lines {
		t := dream.TierWithPrice(tiers, dream.BillingOneOff, l.PriceID)
		if t == nil {
			return dream.Errorf(dream.KindInvalid, "Invalid item: "+l.PriceID, "No product of this project has that price")
		}
		held[t] += l.Quantity
		if err := t.CheckStock(held[t]); err != nil {
			return err
		}
	}
	for t, n := range held {
		if t.Inventory == nil {
			continue
		}
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO stock_reservations (reservation_id, tier_id, environment_id, quantity, expires_at)
			VALUES (?, ?, ?, ?, ?)`, w.ReservationID, t.ID, w.EnvironmentID, n, w.ExpiresAt.UnixMilli())
		if isConstraint(err) {
			return dream.Errorf(dream.KindConflict, "Reservation exists", "reservation %s exists", w.ReservationID)
		}
		if err != nil {
			return fmt.Errorf("reserve stock: %w", err)
		}
	}
	return tx.logTiers(ctx, w.EnvironmentID, now)
}

// ReleaseStock returns what a reservation holds to stock.
func (tx *Tx) ReleaseStock(ctx context.Context, w dream.ReleaseStock, now time.Time) error {
	return tx.release(ctx, now, `reservation_id = ?`, w.ReservationID)
}

// ExtendReservation keeps a reservation's stock held until expiresAt, as
// while a checkout's payment is on its way.
func (tx *Tx) ExtendReservation(ctx context.Context, reservationID string, expiresAt time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE stock_reservations SET expires_at = max(expires_at, ?) WHERE reservation_id = ?`,
		expiresAt.UnixMilli(), reservationID)
	if err != nil {
		return fmt.Errorf("extend reservation: %w", err)
	}
	return nil
}

// ReleaseLapsedStock returns to stock what reservations that lapsed by now
// hold, without an event from the payment provider to say so.
func (tx *Tx) ReleaseLapsedStock(ctx context.Context, now time.Time) error {
	return tx.release(ctx, now, `expires_at <= ?`, now.UnixMilli())
}

// release deletes the reservations where says, and logs the catalogues
// whose availability they changed.
func (tx *Tx) release(ctx context.Context, now time.Time, where string, args ...any) error {
	rows, err := tx.tx.QueryContext(ctx, `DELETE FROM stock_reservations WHERE `+where+` RETURNING environment_id`, args...)
	if err != nil {
		return fmt.Errorf("release stock: %w", err)
	}
	envs := map[int64]bool{}
	for rows.Next() {
		var env int64
		if err := rows.Scan(&env); err != nil {
			rows.Close()
			return fmt.Errorf("release stock: %w", err)
		}
		envs[env] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("release stock: %w", err)
	}
	for env := range envs {
		if err := tx.logTiers(ctx, env, now); err != nil {
			return err
		}
	}
	return nil
}

// TakeStock takes an order's items from stock for good, with what its
// reservation holds, and releases the reservation. When a product has not
// enough, counting what the reservation holds but not what other checkouts
// do, it takes nothing and reports false: the order is oversold.
func (tx *Tx) TakeStock(ctx context.Context, envID int64, reservationID string, items []dream.LineItem, now time.Time) (bool, error) {
	tiers, err := tx.Tiers(ctx, envID)
	if err != nil {
		return false, err
	}
	held := map[int64]int64{}
	if reservationID != "" {
		rows, err := tx.tx.QueryContext(ctx, `SELECT tier_id, quantity FROM stock_reservations WHERE reservation_id = ?`, reservationID)
		if err != nil {
			return false, fmt.Errorf("take stock: %w", err)
		}
		for rows.Next() {
			var tier, n int64
			if err := rows.Scan(&tier, &n); err != nil {
				rows.Close()
				return false, fmt.Errorf("take stock: %w", err)
			}
			held[tier] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return false, fmt.Errorf("take stock: %w", err)
		}
	}
	take := map[*dream.Tier]int64{}
	for _, item := range items {
		if t := dream.TierWithPrice(tiers, dream.BillingOneOff, item.PriceID); t != nil && t.Inventory != nil {
			take[t] += max(item.Quantity, 1)
		}
	}
	taken := true
	for t, n := range take {
		// Its own reservation's stock is the order's: the rest of the
		// reserved stock is other checkouts'.
		t.Reserved -= held[t.ID]
		if t.CheckStock(n) != nil {
			taken = false
		}
	}
	if taken {
		for t, n := range take {
			_, err := tx.tx.ExecContext(ctx, `UPDATE tiers SET inventory = inventory - ?, updated_at = ? WHERE id = ?`,
				n, now.UnixMilli(), t.ID)
			if err != nil {
				return false, fmt.Errorf("take stock: %w", err)
			}
		}
	}
	if reservationID != "" {
		if _, err := tx.tx.ExecContext(ctx, `DELETE FROM stock_reservations WHERE reservation_id = ?`, reservationID); err != nil {
			return false, fmt.Errorf("take stock: %w", err)
		}
	}
	if len(take) > 0 || len(held) > 0 {
		return taken, tx.logTiers(ctx, envID, now)
	}
	return taken, nil
}

// logTiers logs that an environment's catalogue changed, stock included.
func (tx *Tx) logTiers(ctx context.Context, envID int64, now time.Time) error {
	return tx.LogChange(ctx, ChangeTiers, strconv.FormatInt(envID, 10), now)
}
