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

// UserState returns what plan resolution and usage need to know about an
// end user of an environment.
func (db *DB) UserState(ctx context.Context, envID int64, userID string) (dream.UserState, error) {
	state, _, err := userState(ctx, db.read, envID, userID, "")
	return state, err
}

// UserStateAndMark returns the end user's state and, read in the same
// statement so that both come from one snapshot, the high-water mark of the
// node nodeID: the state counts exactly the node's shipped units up to the
// mark.
func (db *DB) UserStateAndMark(ctx context.Context, envID int64, userID, nodeID string) (dream.UserState, int64, error) {
	return userState(ctx, db.read, envID, userID, nodeID)
}

// UserState returns the end user's state as the transaction sees it.
func (tx *Tx) UserState(ctx context.Context, envID int64, userID string) (dream.UserState, error) {
	state, _, err := userState(ctx, tx.tx, envID, userID, "")
	return state, err
}

func userState(ctx context.Context, q queryer, envID int64, userID, nodeID string) (dream.UserState, int64, error) {
	var row userStateRow
	err := q.QueryRowContext(ctx, `SELECT `+userStateColumns("?3")+`
		FROM (SELECT ?1 AS environment_id, ?2 AS user_id) k`+userStateJoins,
		envID, userID, nodeID).Scan(row.dest()...)
	if err != nil {
		return dream.UserState{}, 0, fmt.Errorf("user state: %w", err)
	}
	state, err := row.state()
	return state, row.mark, err
}

// userStateColumns and userStateJoins read an end user's state, and the
// high-water mark of the node the parameter nodeParam names, for each row
// of a table k of environment_id and user_id: into a userStateRow.
func userStateColumns(nodeParam string) string {
	return `u.plan, c.count, c.period_start, c.period_end,
		coalesce((SELECT seq FROM edge_marks WHERE node_id = ` + nodeParam + `), 0), ` + prefixed("s.", subscriptionFields)
}

const userStateJoins = `
		LEFT JOIN end_users u ON u.environment_id = k.environment_id AND u.user_id = k.user_id
		LEFT JOIN subscriptions s ON s.environment_id = k.environment_id AND s.user_id = k.user_id
		LEFT JOIN usage_counters c ON c.environment_id = k.environment_id AND c.user_id = k.user_id`

// userStateRow is a row of userStateColumns.
type userStateRow struct {
	assigned, periodStart, periodEnd sql.NullString
	count                            sql.NullInt64
	mark                             int64
	sub                              nullableSubscription
}

func (r *userStateRow) dest() []any {
	return append([]any{&r.assigned, &r.count, &r.periodStart, &r.periodEnd, &r.mark}, r.sub.dest()...)
}

func (r *userStateRow) state() (dream.UserState, error) {
	counter, err := usageCounter(r.count, r.periodStart, r.periodEnd)
	return dream.UserState{AssignedPlan: r.assigned.String, Subscription: r.sub.subscription(), Counter: counter}, err
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

// The usage rules of package dream in SQL, for the statements that apply
// them atomically at the primary: each is written here once, and
// TestUsageRulesAgreeWithGo holds each to its Go form on the same cases.

// periodEndedSQL is dream.Period.EndedBy: the period whose last day is the
// expression end has ended on the day today (YYYY-MM-DD). date() reads a
// stored day, or a timestamp imported from the original service, as its
// UTC day, as dream.ParsePeriod does.
func periodEndedSQL(end, today string) string {
	return "date(" + end + ") < " + today
}

// countAtSQL is the count of dream.UsageCounter.At on the day today for the
// stored counter row: zero once its period has ended.
func countAtSQL(today string) string {
	return "CASE WHEN " + periodEndedSQL("period_end", today) + " THEN 0 ELSE count END"
}

// addUnitsSQL is dream.UsageCounter.Add as the SET clauses of an upsert
// into usage_counters whose inserted row is the period of the units' day
// holding n units: a stored period that has ended by that day starts over
// with the n units, one that has not gets them added.
func addUnitsSQL(n string) string {
	ended := periodEndedSQL("period_end", "excluded.period_start")
	return "count = CASE WHEN " + ended + " THEN " + n + " ELSE count + " + n + " END, " +
		"period_start = CASE WHEN " + ended + " THEN excluded.period_start ELSE period_start END, " +
		"period_end = CASE WHEN " + ended + " THEN excluded.period_end ELSE period_end END"
}

// admitsSQL is dream.Limit.Admits: whether a plan whose limit is the
// expression limit (negative for unlimited) lets a unit be counted after
// count.
func admitsSQL(limit, count string) string {
	return "(" + limit + " < 0 OR " + count + " < " + limit + ")"
}

// registerEndUser is RegisterEndUser's statement.
const registerEndUser = `INSERT INTO end_users (environment_id, user_id, email, created_at, updated_at)
	VALUES (?1, ?2, ?3, ?4, ?4) ` + keepEmail

// keepEmail ends the statements that register an end user: a known user
// keeps their row, and their email changes only when a new one is given.
const keepEmail = `ON CONFLICT (environment_id, user_id) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at
	WHERE excluded.email IS NOT NULL AND excluded.email IS NOT end_users.email`

// RegisterEndUser records that an end user used the environment, creating
// their row on first sight. A known email replaces the stored one only when
// it differs, so the common case writes nothing.
func (tx *Tx) RegisterEndUser(ctx context.Context, envID int64, userID, email string, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, registerEndUser, envID, userID, nullString(email), now.UnixMilli())
	if isConstraint(err) {
		return dream.Errorf(dream.KindNotFound, "Not found", "environment %d not found", envID)
	}
	if err != nil {
		return fmt.Errorf("register end user: %w", err)
	}
	return nil
}

// incrementUsage is IncrementUsage's statement. In DO UPDATE every
// expression reads the row as it was, so the limit check and the new
// counter agree on the period.
var incrementUsage = `INSERT INTO usage_counters
		(environment_id, user_id, period_start, period_end, count, plan, updated_at)
	SELECT ?1, ?2, ?3, ?4, 1, ?5, ?6 WHERE ` + admitsSQL("?7", "0") + `
	ON CONFLICT (environment_id, user_id) DO UPDATE SET ` + addUnitsSQL("1") + `,
		plan = excluded.plan,
		updated_at = excluded.updated_at
	WHERE ` + admitsSQL("?7", countAtSQL("excluded.period_start")) + `
	RETURNING count, period_start, period_end`

// IncrementUsage counts one unit for an end user under plan, in one
// conditional statement: a period that ended is restarted today with a
// count of one, and at the plan's limit nothing changes. It returns the
// counter as it stands afterwards and whether the unit was admitted. The
// end user must be registered.
func (tx *Tx) IncrementUsage(ctx context.Context, envID int64, userID string, plan dream.Plan, now time.Time) (dream.UsageCounter, bool, error) {
	tx.touch(envID, userID, now, true)
	fresh := dream.PeriodStartingAt(now)
	var c dream.UsageCounter
	var start, end string
	err := tx.tx.QueryRowContext(ctx, incrementUsage,
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

// UsageUnits are units one end user used on one day, which a node has
// already admitted.
type UsageUnits struct {
	User UserRef
	// Email is the end user's email from their token, "" if unknown.
	Email string
	// Plan is the plan the units were counted against.
	Plan string
	N    int64
	// At is when the last of the units was acknowledged.
	At time.Time
}

// addUsage adds units to a counter without a limit, in the period of
// their time. Units from before their user was deleted add nothing.
var addUsage = `INSERT INTO usage_counters
		(environment_id, user_id, period_start, period_end, count, plan, updated_at)
	SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE NOT EXISTS (` + deletedSince + `?7)
	ON CONFLICT (environment_id, user_id) DO UPDATE SET ` + addUnitsSQL("?5") + `,
		plan = excluded.plan,
		updated_at = max(updated_at, excluded.updated_at)`

// registerUnitUser is registerEndUser for the user of units, which a
// deletion after the units' time (?4) leaves deleted.
const registerUnitUser = `INSERT INTO end_users (environment_id, user_id, email, created_at, updated_at)
	SELECT ?1, ?2, ?3, ?4, ?4 WHERE NOT EXISTS (` + deletedSince + `?4) ` + keepEmail

// deletedSince finds the tombstone of user ?2 of environment ?1 if they
// were deleted at or after the time in the parameter that follows it.
const deletedSince = `SELECT 1 FROM end_user_tombstones WHERE environment_id = ?1 AND user_id = ?2 AND deleted_at >= `

// AddUsages registers each end user and adds their units, in order, and
// returns each end user's counter after the last of their units. Each
// statement is compiled once for the whole batch: compiling costs more
// than running them. It returns the indexes of units it skipped: those
// whose environment no longer exists, and those acknowledged before their
// user was deleted through the customers API. The users are logged by
// the caller, with the counters (LogBatchUsage).
func (tx *Tx) AddUsages(ctx context.Context, units []UsageUnits) (counters []UserCounter, skipped []int, err error) {
	register, err := tx.tx.PrepareContext(ctx, registerUnitUser)
	if err != nil {
		return nil, nil, fmt.Errorf("register end user: %w", err)
	}
	defer register.Close()
	add, err := tx.tx.PrepareContext(ctx, addUsage+` RETURNING count, period_start, period_end`)
	if err != nil {
		return nil, nil, fmt.Errorf("add usage: %w", err)
	}
	defer add.Close()
	// A user's later units (of a later day) give their counter anew.
	index := make(map[UserRef]int)
	for i, u := range units {
		at := u.At.UnixMilli()
		_, err := register.ExecContext(ctx, u.User.EnvironmentID, u.User.UserID, nullString(u.Email), at)
		if isConstraint(err) {
			skipped = append(skipped, i)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("register end user: %w", err)
		}
		fresh := dream.PeriodStartingAt(u.At)
		var count sql.NullInt64
		var start, end sql.NullString
		err = add.QueryRowContext(ctx, u.User.EnvironmentID, u.User.UserID, fresh.StartString(), fresh.EndString(), u.N, u.Plan, at).
			Scan(&count, &start, &end)
		if errors.Is(err, sql.ErrNoRows) {
			skipped = append(skipped, i)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("add usage: %w", err)
		}
		counter, err := usageCounter(count, start, end)
		if err != nil {
			return nil, nil, err
		}
		c := UserCounter{User: u.User, Counter: *counter}
		if j, ok := index[u.User]; ok {
			counters[j] = c
		} else {
			index[u.User] = len(counters)
			counters = append(counters, c)
		}
	}
	return counters, skipped, nil
}

// EdgeMark is the high-water mark of a node's shipped units: the highest
// sequence applied, 0 before the first.
func (tx *Tx) EdgeMark(ctx context.Context, nodeID string) (int64, error) {
	return edgeMark(ctx, tx.tx, nodeID)
}

// EdgeMark is the high-water mark of a node as this node's copy has it.
func (db *DB) EdgeMark(ctx context.Context, nodeID string) (int64, error) {
	return edgeMark(ctx, db.read, nodeID)
}

func edgeMark(ctx context.Context, q queryer, nodeID string) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, `SELECT coalesce((SELECT seq FROM edge_marks WHERE node_id = ?), 0)`, nodeID).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("edge mark: %w", err)
	}
	return seq, nil
}

// SetEdgeMark moves a node's high-water mark, in the transaction that
// applies the units up to it.
func (tx *Tx) SetEdgeMark(ctx context.Context, nodeID string, seq int64, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO edge_marks (node_id, seq, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (node_id) DO UPDATE SET seq = max(seq, excluded.seq), updated_at = excluded.updated_at`,
		nodeID, seq, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("set edge mark: %w", err)
	}
	return nil
}

// UserStates reads the state of users as UserStateAndMark does, many users
// to a statement: for a node that comes back with the end users it served
// before it stopped. Each statement reads the high-water mark of node
// nodeID from its own snapshot, as Counters does.
func (db *DB) UserStates(ctx context.Context, nodeID string, users []UserRef, fn func(u UserRef, s dream.UserState, mark int64)) error {
	err := db.queryUsers(ctx, users, nodeID, `SELECT k.environment_id, k.user_id, `+userStateColumns("?")+` FROM k`+userStateJoins,
		func(rows *sql.Rows) error {
			var u UserRef
			var row userStateRow
			if err := rows.Scan(append([]any{&u.EnvironmentID, &u.UserID}, row.dest()...)...); err != nil {
				return err
			}
			state, err := row.state()
			if err != nil {
				return err
			}
			fn(u, state, row.mark)
			return nil
		})
	if err != nil {
		return fmt.Errorf("user states: %w", err)
	}
	return nil
}

// maxUsersPerQuery bounds the users one statement of queryUsers names.
const maxUsersPerQuery = 500

// queryUsers runs query, which reads a table k of environment_id and
// user_id and names the node nodeID by the parameter after the users', for
// users maxUsersPerQuery at a time, and calls scan with each row.
func (db *DB) queryUsers(ctx context.Context, users []UserRef, nodeID, query string, scan func(*sql.Rows) error) error {
	for len(users) > 0 {
		chunk := users[:min(len(users), maxUsersPerQuery)]
		users = users[len(chunk):]
		args := make([]any, 0, 1+2*len(chunk))
		for _, u := range chunk {
			args = append(args, u.EnvironmentID, u.UserID)
		}
		args = append(args, nodeID)
		rows, err := db.read.QueryContext(ctx, `WITH k (environment_id, user_id) AS (VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?), ", len(chunk)), ", ")+`) `+query, args...)
		if err != nil {
			return err
		}
		for err == nil && rows.Next() {
			err = scan(rows)
		}
		if err := errors.Join(err, rows.Err(), rows.Close()); err != nil {
			return err
		}
	}
	return nil
}

// Counters reads the usage counters of users (nil for a user without one)
// and, in the same statement so that both come from one snapshot, the
// high-water mark of node nodeID. Users past maxUsersPerQuery are read
// by further statements, each with its own mark.
func (db *DB) Counters(ctx context.Context, nodeID string, users []UserRef, fn func(u UserRef, c *dream.UsageCounter, mark int64)) error {
	err := db.queryUsers(ctx, users, nodeID, `SELECT k.environment_id, k.user_id, c.count, c.period_start, c.period_end,
			coalesce((SELECT seq FROM edge_marks WHERE node_id = ?), 0)
		FROM k LEFT JOIN usage_counters c ON c.environment_id = k.environment_id AND c.user_id = k.user_id`,
		func(rows *sql.Rows) error {
			var u UserRef
			var count sql.NullInt64
			var start, end sql.NullString
			var mark int64
			if err := rows.Scan(&u.EnvironmentID, &u.UserID, &count, &start, &end, &mark); err != nil {
				return err
			}
			c, err := usageCounter(count, start, end)
			if err != nil {
				return err
			}
			fn(u, c, mark)
			return nil
		})
	if err != nil {
		return fmt.Errorf("counters: %w", err)
	}
	return nil
}
