package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dream-api/dream"
)

// billableEndUsers counts the end users of a platform's live environments
// of saas and membership projects: those the platform plan bills. A store's
// guest checkouts make no end users.
const billableEndUsers = `SELECT count(*) FROM end_users u
	JOIN environments e ON e.id = u.environment_id
	JOIN projects p ON p.id = e.project_id
	WHERE p.platform_id = ? AND e.mode = 'live' AND p.type IN ('saas', 'membership')`

// BillableEndUsers is a platform's billable end users now.
func (db *DB) BillableEndUsers(ctx context.Context, platformID string) (int64, error) {
	var n int64
	if err := db.read.QueryRowContext(ctx, billableEndUsers, platformID).Scan(&n); err != nil {
		return 0, fmt.Errorf("billable end users: %w", err)
	}
	return n, nil
}

// PlatformPageSize is how many platforms a page of PlatformsAfter holds.
const PlatformPageSize = 500

// PlatformsAfter returns up to PlatformPageSize platforms whose ids follow
// after, in id order, so that a job walks every platform a page at a time.
func (db *DB) PlatformsAfter(ctx context.Context, after string) ([]dream.Platform, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+platformColumns+` FROM platforms WHERE id > ? ORDER BY id LIMIT ?`,
		after, PlatformPageSize)
	if err != nil {
		return nil, fmt.Errorf("platforms: %w", err)
	}
	defer rows.Close()
	var list []dream.Platform
	for rows.Next() {
		var p dream.Platform
		if err := scanPlatform(rows, &p); err != nil {
			return nil, fmt.Errorf("platforms: %w", err)
		}
		list = append(list, p)
	}
	return list, rows.Err()
}

// MeterReported reports whether a platform's day was reported.
func (db *DB) MeterReported(ctx context.Context, platformID, day string) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM meter_reports WHERE platform_id = ? AND day = ?`, platformID, day).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("meter reported: %w", err)
	}
	return n > 0, nil
}

// LastFinishedDay is the latest day a job finished, "" if none.
func (db *DB) LastFinishedDay(ctx context.Context, job string) (string, error) {
	var day sql.NullString
	err := db.read.QueryRowContext(ctx, `SELECT max(day) FROM job_runs WHERE job = ? AND finished_at IS NOT NULL`, job).Scan(&day)
	if err != nil {
		return "", fmt.Errorf("last finished day: %w", err)
	}
	return day.String, nil
}

// ApplyPlatformEvent applies an event of the platform webhook to the
// developer it is about, recorded with its outcome in the same
// transaction, so that a redelivery changes nothing. A subscription's
// state is taken only from a report newer than the one stored, and a
// report of another, ended subscription never replaces a running one: any
// delivery order ends in the provider's latest state.
func (tx *Tx) ApplyPlatformEvent(ctx context.Context, w dream.ApplyPlatformEvent, now time.Time) (dream.PaymentEventOutcome, error) {
	e := w.Event
	if seen, err := tx.WebhookEventSeen(ctx, e.ID); err != nil || seen {
		return dream.PaymentEventOutcome{Result: dream.EventDuplicate}, err
	}
	applied, err := tx.applyPlatformEvent(ctx, e, now)
	if err != nil {
		return dream.PaymentEventOutcome{}, err
	}
	outcome := dream.EventIgnored
	if applied {
		outcome = dream.EventProcessed
	}
	return dream.PaymentEventOutcome{Result: outcome}, tx.RecordWebhookEvent(ctx, e, 0, outcome, now)
}

func (tx *Tx) applyPlatformEvent(ctx context.Context, e dream.PaymentEvent, now time.Time) (bool, error) {
	switch {
	case e.Checkout != nil && e.Checkout.Mode == dream.CheckoutSubscription:
		c := e.Checkout
		p, err := tx.platformOf(ctx, c.PlatformID, c.CustomerID)
		if err != nil || p == nil {
			return false, err
		}
		// The checkout names the customer and the subscription; the
		// subscription's own events bring its state.
		_, err = tx.tx.ExecContext(ctx, `UPDATE platforms SET
				stripe_customer_id = coalesce(stripe_customer_id, nullif(?, '')),
				stripe_subscription_id = CASE WHEN ? > stripe_version THEN nullif(?, '') ELSE stripe_subscription_id END
			WHERE id = ?`, c.CustomerID, c.Version, c.SubscriptionID, p.ID)
		if err != nil {
			return false, fmt.Errorf("platform checkout: %w", err)
		}
		return true, tx.LogChange(ctx, ChangePlatform, p.ID, now)
	case e.Subscription != nil:
		s := e.Subscription.Subscription
		p, err := tx.platformOf(ctx, e.Subscription.PlatformID, s.CustomerID)
		if err != nil || p == nil {
			return false, err
		}
		stored := p.Subscription
		if !s.TrialEnd.IsZero() || s.Status == dream.StatusTrialing {
			// One trial per platform, ever, whatever order its reports
			// arrive in: even a report too old to apply shows the trial.
			if _, err := tx.tx.ExecContext(ctx, `UPDATE platforms SET trial_used = 1 WHERE id = ?`, p.ID); err != nil {
				return false, fmt.Errorf("platform trial: %w", err)
			}
		}
		var version int64
		if err := tx.tx.QueryRowContext(ctx, `SELECT stripe_version FROM platforms WHERE id = ?`, p.ID).Scan(&version); err != nil {
			return false, fmt.Errorf("platform subscription: %w", err)
		}
		if s.Version <= version {
			return false, nil
		}
		if stored.SubscriptionID != "" && stored.SubscriptionID != s.ID && stored.Status.Running() && !s.Status.Running() {
			// A late report of a subscription the developer left for the
			// one that runs.
			return false, nil
		}
		var ended sql.NullInt64
		if !s.Status.Running() {
			switch {
			case !stored.EndedAt.IsZero() && stored.SubscriptionID == s.ID:
				ended = millis(stored.EndedAt)
			case !s.CanceledAt.IsZero():
				ended = millis(s.CanceledAt)
			default:
				ended = millis(e.Created)
			}
		}
		_, err = tx.tx.ExecContext(ctx, `UPDATE platforms SET subscription_status = ?, stripe_subscription_id = ?,
				stripe_customer_id = coalesce(stripe_customer_id, nullif(?, '')), trial_ends_at = ?, current_period_end = ?,
				subscription_ended_at = ?, stripe_version = ?, purged_at = CASE WHEN ? THEN NULL ELSE purged_at END
			WHERE id = ?`, subscriptionStatusOf(s.Status), s.ID, s.CustomerID, millis(s.TrialEnd), millis(s.CurrentPeriodEnd),
			ended, s.Version, s.Status.Running(), p.ID)
		if err != nil {
			return false, fmt.Errorf("platform subscription: %w", err)
		}
		return true, tx.LogChange(ctx, ChangePlatform, p.ID, now)
	}
	return false, nil
}

// subscriptionStatusOf maps the provider's status to one the platform
// stores; a status it does not know counts as none, which lets no live key
// work, never as active.
func subscriptionStatusOf(s dream.SubscriptionStatus) dream.SubscriptionStatus {
	switch s {
	case dream.StatusTrialing, dream.StatusActive, dream.StatusPastDue, dream.StatusCanceled,
		dream.StatusIncomplete, dream.StatusIncompleteExpired, dream.StatusUnpaid, dream.StatusPaused:
		return s
	}
	return dream.StatusNone
}

// platformOf is the platform an event names in its metadata, else the one
// whose customer it concerns; nil if none.
func (tx *Tx) platformOf(ctx context.Context, platformID, customerID string) (*dream.Platform, error) {
	if platformID != "" {
		p, err := platform(ctx, tx.tx, `id = ?`, platformID)
		if err != nil || p != nil {
			return p, err
		}
	}
	if customerID == "" {
		return nil, nil
	}
	return platform(ctx, tx.tx, `stripe_customer_id = ?`, customerID)
}

// SetPlatformCustomer stores a developer's customer unless one is stored,
// and returns the one stored.
func (tx *Tx) SetPlatformCustomer(ctx context.Context, w dream.SetPlatformCustomer, now time.Time) (string, error) {
	var customer string
	err := tx.tx.QueryRowContext(ctx, `UPDATE platforms SET stripe_customer_id = coalesce(stripe_customer_id, ?)
		WHERE id = ? RETURNING stripe_customer_id`, w.CustomerID, w.PlatformID).Scan(&customer)
	if errors.Is(err, sql.ErrNoRows) {
		return "", dream.Errorf(dream.KindNotFound, "not_found", "no platform %s", w.PlatformID)
	}
	if err != nil {
		return "", fmt.Errorf("set platform customer: %w", err)
	}
	return customer, tx.LogChange(ctx, ChangePlatform, w.PlatformID, now)
}

// RecordMeterReport records a platform's reported day.
func (tx *Tx) RecordMeterReport(ctx context.Context, w dream.RecordMeterReport, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO meter_reports (platform_id, day, end_users, reported_at) VALUES (?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, w.PlatformID, w.Day, w.EndUsers, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("record meter report: %w", err)
	}
	return nil
}

// ClaimJobRun claims a job's day for a node: a new day, or one whose
// claim lapsed unfinished. A day finished, or claimed by another node
// until later, is not claimed.
func (tx *Tx) ClaimJobRun(ctx context.Context, w dream.ClaimJobRun, now time.Time) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO job_runs (job, day, claimed_by, claimed_until) VALUES (?, ?, ?, ?)
		ON CONFLICT (job, day) DO UPDATE SET claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until
		WHERE finished_at IS NULL AND (claimed_until <= ? OR claimed_by = excluded.claimed_by)`,
		w.Job, w.Day, w.Node, w.Until.UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("claim job run: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// FinishJobRun marks a job's day done.
func (tx *Tx) FinishJobRun(ctx context.Context, w dream.FinishJobRun, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE job_runs SET finished_at = ? WHERE job = ? AND day = ?`, now.UnixMilli(), w.Job, w.Day)
	if err != nil {
		return fmt.Errorf("finish job run: %w", err)
	}
	return nil
}

// PurgePlatform deletes every project of a platform, with everything of
// them, and the platform's uploaded images, and records when. It purges
// nothing of a platform whose subscription runs again.
func (tx *Tx) PurgePlatform(ctx context.Context, w dream.PurgePlatform, now time.Time) (dream.PurgeCounts, error) {
	var counts dream.PurgeCounts
	p, err := platform(ctx, tx.tx, `id = ?`, w.PlatformID)
	if err != nil || p == nil || p.Subscription.Status.Running() {
		return counts, err
	}
	for _, c := range []struct {
		n     *int64
		query string
	}{
		{&counts.Projects, `SELECT count(*) FROM projects WHERE platform_id = ?`},
		{&counts.EndUsers, `SELECT count(*) FROM end_users u JOIN environments e ON e.id = u.environment_id
			JOIN projects p ON p.id = e.project_id WHERE p.platform_id = ?`},
		{&counts.Tiers, `SELECT count(*) FROM tiers t JOIN environments e ON e.id = t.environment_id
			JOIN projects p ON p.id = e.project_id WHERE p.platform_id = ?`},
		{&counts.Orders, `SELECT count(*) FROM orders o JOIN environments e ON e.id = o.environment_id
			JOIN projects p ON p.id = e.project_id WHERE p.platform_id = ?`},
		{&counts.Assets, `SELECT count(*) FROM assets WHERE platform_id = ?`},
	} {
		if err := tx.tx.QueryRowContext(ctx, c.query, w.PlatformID).Scan(c.n); err != nil {
			return counts, fmt.Errorf("purge platform: %w", err)
		}
	}
	rows, err := tx.tx.QueryContext(ctx, `SELECT id FROM projects WHERE platform_id = ?`, w.PlatformID)
	if err != nil {
		return counts, fmt.Errorf("purge platform: %w", err)
	}
	var projects []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return counts, err
		}
		projects = append(projects, id)
	}
	rows.Close()
	for _, id := range projects {
		if err := tx.DeleteProject(ctx, dream.DeleteProject{ProjectID: id}, now); err != nil {
			return counts, err
		}
	}
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM assets WHERE platform_id = ?`, w.PlatformID); err != nil {
		return counts, fmt.Errorf("purge platform: %w", err)
	}
	if _, err := tx.tx.ExecContext(ctx, `UPDATE platforms SET purged_at = ? WHERE id = ?`, now.UnixMilli(), w.PlatformID); err != nil {
		return counts, fmt.Errorf("purge platform: %w", err)
	}
	counts.Purged = true
	return counts, tx.LogChange(ctx, ChangePlatform, w.PlatformID, now)
}

// Developers returns up to limit developers whose email starts with
// search, newest first, after offset, and how many match.
func (db *DB) Developers(ctx context.Context, search string, offset, limit int) ([]dream.DeveloperSummary, int64, error) {
	where := `WHERE (?1 = '' OR email LIKE ?2 ESCAPE '\')`
	pattern := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(search) + "%"
	var total int64
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM platforms `+where, search, pattern).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("developers: %w", err)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+platformColumns+`,
			(`+strings.Replace(billableEndUsers, "p.platform_id = ?", "p.platform_id = platforms.id", 1)+`),
			(SELECT count(*) FROM end_users u JOIN environments e ON e.id = u.environment_id JOIN projects p ON p.id = e.project_id
				WHERE p.platform_id = platforms.id AND e.mode = 'test')
		FROM platforms `+where+` ORDER BY created_at DESC, id LIMIT ?3 OFFSET ?4`, search, pattern, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("developers: %w", err)
	}
	defer rows.Close()
	var list []dream.DeveloperSummary
	for rows.Next() {
		var r dream.DeveloperSummary
		if err := scanPlatform(rowWith{rows, []any{&r.LiveEndUsers, &r.TestEndUsers}}, &r.Platform); err != nil {
			return nil, 0, fmt.Errorf("developers: %w", err)
		}
		list = append(list, r)
	}
	return list, total, rows.Err()
}

// rowWith scans a row into a platform's columns and then extra.
type rowWith struct {
	row   interface{ Scan(...any) error }
	extra []any
}

func (r rowWith) Scan(dest ...any) error { return r.row.Scan(append(dest, r.extra...)...) }

// PlatformsByStatus counts the platforms in each subscription status.
func (db *DB) PlatformsByStatus(ctx context.Context) (map[dream.SubscriptionStatus]int64, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT subscription_status, count(*) FROM platforms GROUP BY 1`)
	if err != nil {
		return nil, fmt.Errorf("platforms by status: %w", err)
	}
	defer rows.Close()
	counts := map[dream.SubscriptionStatus]int64{}
	for rows.Next() {
		var s dream.SubscriptionStatus
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		counts[s] = n
	}
	return counts, rows.Err()
}
