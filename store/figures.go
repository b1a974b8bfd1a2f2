package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dream-api/dream"
)

// statusesSQL is the SQL list of the subscription statuses keep accepts,
// generated from the Go rule so that the SQL cannot drift from it.
func statusesSQL(keep func(dream.SubscriptionStatus) bool) string {
	var list []string
	for _, s := range []dream.SubscriptionStatus{dream.StatusNone, dream.StatusTrialing, dream.StatusActive, dream.StatusPastDue,
		dream.StatusCanceled, dream.StatusIncomplete, dream.StatusIncompleteExpired, dream.StatusUnpaid, dream.StatusPaused} {
		if keep(s) {
			list = append(list, "'"+string(s)+"'")
		}
	}
	return "(" + strings.Join(list, ", ") + ")"
}

// The statuses of dream.ComputeMetrics: running subscriptions count, and
// those that pay now (running, not trialing) make the MRR.
var (
	runningSQL = statusesSQL(dream.SubscriptionStatus.Running)
	payingSQL  = statusesSQL(func(s dream.SubscriptionStatus) bool { return s.Running() && s != dream.StatusTrialing })
)

// EnvironmentMetrics computes an environment's figures at now in SQL, the
// rules of dream.ComputeMetrics applied to the totals the triggers keep by
// status, period end and oversold, a few rows however many end users and
// orders there are; the stock figures, from the catalogue, are the caller's
// (Metrics.WithCatalogue).
func (db *DB) EnvironmentMetrics(ctx context.Context, envID int64, now time.Time) (dream.Metrics, error) {
	var m dream.Metrics
	today := "'" + now.UTC().Format(dream.DateLayout) + "'"
	err := db.read.QueryRowContext(ctx, `SELECT
			(SELECT coalesce(sum(subscriptions), 0) FROM subscription_totals WHERE environment_id = ?1 AND status IN `+runningSQL+`),
			(SELECT coalesce(sum(subscriptions), 0) FROM subscription_totals WHERE environment_id = ?1 AND status IN `+runningSQL+`
				AND cancel_at_period_end),
			(SELECT coalesce(sum(amount_cents), 0) FROM subscription_totals WHERE environment_id = ?1 AND status IN `+payingSQL+`),
			(SELECT coalesce(sum(`+countAtSQL(today)+`), 0) FROM usage_totals WHERE environment_id = ?1),
			(SELECT coalesce(sum(amount_cents), 0) FROM order_totals WHERE environment_id = ?1 AND NOT oversold),
			(SELECT coalesce(sum(orders), 0) FROM order_totals WHERE environment_id = ?1 AND NOT oversold)`, envID).
		Scan(&m.ActiveSubscriptions, &m.CancelingSubscriptions, &m.MRRCents, &m.UsageThisPeriod, &m.RevenueCents, &m.Sales)
	if err != nil {
		return m, fmt.Errorf("environment metrics: %w", err)
	}
	m.AverageOrderCents = dream.AverageOrderCents(m.RevenueCents, m.Sales)
	return m, nil
}

// DayOrders sums an environment's paid orders placed on day.
func (db *DB) DayOrders(ctx context.Context, envID int64, day string) (revenue int64, orders int, err error) {
	start, err := time.Parse(dream.DateLayout, day)
	if err != nil {
		return 0, 0, err
	}
	err = db.read.QueryRowContext(ctx, `SELECT coalesce(sum(amount_cents), 0), count(*) FROM orders
		WHERE environment_id = ? AND NOT oversold AND created_at >= ? AND created_at < ?`,
		envID, start.UnixMilli(), start.AddDate(0, 0, 1).UnixMilli()).Scan(&revenue, &orders)
	if err != nil {
		return 0, 0, fmt.Errorf("day orders: %w", err)
	}
	return revenue, orders, nil
}

// EnvironmentIDsAfter returns up to PlatformPageSize environment ids after
// after, in order, so that a job walks every environment a page at a time.
func (db *DB) EnvironmentIDsAfter(ctx context.Context, after int64) ([]int64, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id FROM environments WHERE id > ? ORDER BY id LIMIT ?`, after, PlatformPageSize)
	if err != nil {
		return nil, fmt.Errorf("environments: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// DailyFigures returns an environment's figures of the days from from on,
// oldest first.
func (db *DB) DailyFigures(ctx context.Context, envID int64, from string) ([]dream.DailyFigure, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT day, usage_this_period, mrr_cents, active_subscriptions, revenue_cents, orders
		FROM daily_figures WHERE environment_id = ? AND day >= ? ORDER BY day`, envID, from)
	if err != nil {
		return nil, fmt.Errorf("daily figures: %w", err)
	}
	defer rows.Close()
	var list []dream.DailyFigure
	for rows.Next() {
		var f dream.DailyFigure
		if err := rows.Scan(&f.Day, &f.UsageThisPeriod, &f.MRRCents, &f.ActiveSubscriptions, &f.RevenueCents, &f.Orders); err != nil {
			return nil, err
		}
		list = append(list, f)
	}
	return list, rows.Err()
}

// RecordDailyFigures stores environments' figures of a day; a day recorded
// again is replaced.
func (tx *Tx) RecordDailyFigures(ctx context.Context, w dream.RecordDailyFigures, now time.Time) error {
	for _, f := range w.Figures {
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO daily_figures (environment_id, day, usage_this_period, mrr_cents,
				active_subscriptions, revenue_cents, orders) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (environment_id, day) DO UPDATE SET usage_this_period = excluded.usage_this_period,
				mrr_cents = excluded.mrr_cents, active_subscriptions = excluded.active_subscriptions,
				revenue_cents = excluded.revenue_cents, orders = excluded.orders`,
			f.EnvironmentID, f.Day, f.UsageThisPeriod, f.MRRCents, f.ActiveSubscriptions, f.RevenueCents, f.Orders)
		if isConstraint(err) {
			// The environment was deleted since: nothing to chart.
			continue
		}
		if err != nil {
			return fmt.Errorf("record daily figures: %w", err)
		}
	}
	return nil
}
