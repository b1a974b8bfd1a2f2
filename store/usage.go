package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dream-api/dream"
)

// UserState returns what plan resolution and usage need to know about an
// end user, in one query.
func (db *DB) UserState(ctx context.Context, envID int64, userID string) (dream.UserState, error) {
	return userState(ctx, db.read, envID, userID)
}

// UserState returns the end user's state as the transaction sees it.
func (tx *Tx) UserState(ctx context.Context, envID int64, userID string) (dream.UserState, error) {
	return userState(ctx, tx.tx, envID, userID)
}

func userState(ctx context.Context, q queryer, envID int64, userID string) (dream.UserState, error) {
	var state dream.UserState
	var assigned, periodStart, periodEnd sql.NullString
	var count sql.NullInt64
	var sub nullableSubscription
	err := q.QueryRowContext(ctx, `SELECT u.plan, c.count, c.period_start, c.period_end, `+prefixed("s.", subscriptionFields)+`
		FROM (SELECT ?1 AS environment_id, ?2 AS user_id) k
		LEFT JOIN end_users u ON u.environment_id = k.environment_id AND u.user_id = k.user_id
		LEFT JOIN subscriptions s ON s.environment_id = k.environment_id AND s.user_id = k.user_id
		LEFT JOIN usage_counters c ON c.environment_id = k.environment_id AND c.user_id = k.user_id`,
		envID, userID).Scan(append([]any{&assigned, &count, &periodStart, &periodEnd}, sub.dest()...)...)
	if err != nil {
		return state, fmt.Errorf("user state: %w", err)
	}
	state.AssignedPlan = assigned.String
	state.Subscription = sub.subscription()
	state.Counter, err = usageCounter(count, periodStart, periodEnd)
	return state, err
}

// usageCounter reads a counter a LEFT JOIN may have left NULL.
func usageCounter(count sql.NullInt64, start, end sql.NullString) (*dream.UsageCounter, error) {
	if !count.Valid {
		return nil, nil
	}
	period, err := dream.ParsePeriod(start.String, end.String)
	if err != nil {
		return nil, err
	}
	return &dream.UsageCounter{Count: count.Int64, Period: period}, nil
}

// RegisterEndUser records that an end user used the environment, creating
// their row on first sight. A known email replaces the stored one only when
// it differs, so the common case writes nothing.
func (tx *Tx) RegisterEndUser(ctx context.Context, envID int64, userID, email string, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO end_users (environment_id, user_id, email, created_at, updated_at)
		VALUES (?1, ?2, ?3, ?4, ?4)
		ON CONFLICT (environment_id, user_id) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at
		WHERE excluded.email IS NOT NULL AND excluded.email IS NOT end_users.email`,
		envID, userID, nullString(email), now.UnixMilli())
	if isConstraint(err) {
		return dream.Errorf(dream.KindNotFound, "Not found", "environment %d not found", envID)
	}
	if err != nil {
		return fmt.Errorf("register end user: %w", err)
	}
	return nil
}

// IncrementUsage counts one unit for an end user under plan, in one
// conditional statement: a period that ended is restarted today with a
// count of one, and at the plan's limit nothing changes. It returns the
// counter as it stands afterwards and whether the unit was admitted. The
// end user must be registered.
func (tx *Tx) IncrementUsage(ctx context.Context, envID int64, userID string, plan dream.Plan, now time.Time) (dream.UsageCounter, bool, error) {
	fresh := dream.PeriodStartingAt(now)
	var c dream.UsageCounter
	var start, end string
	// The period has ended when its last day is before today, the rule of
	// dream.Period.EndedBy. In DO UPDATE every expression reads the row as
	// it was, so the CASEs agree with each other.
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO usage_counters
			(environment_id, user_id, period_start, period_end, count, plan, updated_at)
		SELECT ?1, ?2, ?3, ?4, 1, ?5, ?6 WHERE ?7 != 0
		ON CONFLICT (environment_id, user_id) DO UPDATE SET
			count        = CASE WHEN period_end < ?3 THEN 1 ELSE count + 1 END,
			period_start = CASE WHEN period_end < ?3 THEN excluded.period_start ELSE period_start END,
			period_end   = CASE WHEN period_end < ?3 THEN excluded.period_end ELSE period_end END,
			plan = excluded.plan,
			updated_at = excluded.updated_at
		WHERE ?7 < 0 OR (CASE WHEN period_end < ?3 THEN 0 ELSE count END) < ?7
		RETURNING count, period_start, period_end`,
		envID, userID, fresh.StartString(), fresh.EndString(), plan.Name, now.UnixMilli(),
		int64(plan.Limit)).Scan(&c.Count, &start, &end)
	if errors.Is(err, sql.ErrNoRows) {
		state, err := tx.UserState(ctx, envID, userID)
		if err != nil {
			return c, false, err
		}
		return state.Counter.At(now), false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("increment usage: %w", err)
	}
	c.Period, err = dream.ParsePeriod(start, end)
	return c, true, err
}
