package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dream-api/dream"
)

// Customers returns every end user of an environment with their plan
// sources and usage, oldest first, in one query.
func (db *DB) Customers(ctx context.Context, envID int64) ([]dream.Customer, error) {
	return db.customers(ctx, `end_users u`, `WHERE u.environment_id = ? ORDER BY u.created_at, u.user_id`, envID)
}

// CustomersPage reads q's page of an environment's customers without
// reading more rows than the page: the whole list walks the index of age
// from a cursor, and a search the email index from the prefix. The total
// of the whole list is kept by triggers; a search counts at most
// dream.MaxCountedMatches.
func (db *DB) CustomersPage(ctx context.Context, envID int64, q dream.CustomerQuery) (*dream.CustomersPage, error) {
	page := &dream.CustomersPage{Search: q.Search, Offset: q.Offset}
	var err error
	if q.Search != "" {
		err = db.searchCustomers(ctx, envID, q, page)
	} else {
		err = db.listCustomers(ctx, envID, q, page)
	}
	if err != nil {
		return nil, fmt.Errorf("customers: %w", err)
	}
	return page, nil
}

// newestFirst orders end users u newest first, the order of the list.
const newestFirst = `ORDER BY u.created_at DESC, u.user_id DESC`

// listCustomers reads a page of the whole list, newest first.
func (db *DB) listCustomers(ctx context.Context, envID int64, q dream.CustomerQuery, page *dream.CustomersPage) error {
	err := db.read.QueryRowContext(ctx, `SELECT coalesce((SELECT count FROM end_user_counts WHERE environment_id = ?), 0)`, envID).
		Scan(&page.Total)
	if err != nil {
		return err
	}
	// The page's keys come from the index alone, from the cursor on in the
	// direction asked; only they are joined to their usage and
	// subscription.
	bound, order := "", newestFirst
	var created int64
	var user string
	switch {
	case q.After != nil:
		created, user, bound = q.After.CreatedAt.UnixMilli(), q.After.UserID, ` AND (u.created_at, u.user_id) < (?2, ?3)`
	case q.Before != nil:
		created, user, bound = q.Before.CreatedAt.UnixMilli(), q.Before.UserID, ` AND (u.created_at, u.user_id) > (?2, ?3)`
		order = `ORDER BY u.created_at, u.user_id`
	}
	keys := `SELECT u.user_id FROM end_users u WHERE u.environment_id = ?1` + bound + ` ` + order + ` LIMIT ?4`
	page.Customers, err = db.customers(ctx, `(`+keys+`) page JOIN end_users u ON u.environment_id = ?1 AND u.user_id = page.user_id`,
		newestFirst, envID, created, user, q.Limit)
	if err != nil || len(page.Customers) == 0 {
		return err
	}
	first, last := page.Customers[0], page.Customers[len(page.Customers)-1]
	return db.read.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM end_users WHERE environment_id = ?1 AND (created_at, user_id) > (?2, ?3)),
			EXISTS (SELECT 1 FROM end_users WHERE environment_id = ?1 AND (created_at, user_id) < (?4, ?5))`,
		envID, first.CreatedAt.UnixMilli(), first.UserID, last.CreatedAt.UnixMilli(), last.UserID).Scan(&page.Previous, &page.Next)
}

// searchCustomers reads a page of those whose email starts with the search,
// in email order from the email index, after the customer whose id is the
// search, if there is one whose email does not.
func (db *DB) searchCustomers(ctx context.Context, envID int64, q dream.CustomerQuery, page *dream.CustomersPage) error {
	pattern := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q.Search) + "%"
	const byEmail = `FROM end_users u WHERE u.environment_id = ?1 AND u.email LIKE ?3 ESCAPE '\'`
	var byID bool
	err := db.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM (SELECT 1 `+byEmail+` LIMIT ?4)),
			EXISTS (SELECT 1 FROM end_users WHERE environment_id = ?1 AND user_id = ?2 AND coalesce(email, '') NOT LIKE ?3 ESCAPE '\')`,
		envID, q.Search, pattern, dream.MaxCountedMatches+1).Scan(&page.Total, &byID)
	if err != nil {
		return err
	}
	if byID {
		page.Total++
	}
	if page.Total > dream.MaxCountedMatches {
		page.Total, page.AtLeast = dream.MaxCountedMatches, true
	}
	// The customer of the id leads the first page; one more than the page
	// says whether another follows.
	offset, limit := q.Offset, q.Limit+1
	if byID {
		if offset == 0 {
			if page.Customers, err = db.customers(ctx, `end_users u`, `WHERE u.environment_id = ?1 AND u.user_id = ?2`, envID, q.Search); err != nil {
				return err
			}
			limit--
		} else {
			offset--
		}
	}
	more, err := db.customers(ctx, `(SELECT u.user_id `+byEmail+` ORDER BY u.email COLLATE NOCASE, u.user_id LIMIT ?4 OFFSET ?5) page
		JOIN end_users u ON u.environment_id = ?1 AND u.user_id = page.user_id`,
		`ORDER BY u.email COLLATE NOCASE, u.user_id`, envID, q.Search, pattern, limit, offset)
	page.Customers = append(page.Customers, more...)
	if len(page.Customers) > q.Limit {
		page.Customers, page.Next = page.Customers[:q.Limit], true
	}
	page.Previous = q.Offset > 0
	return err
}

// customers runs the customers query over from, which names the end users
// u, with where, its order and its limit.
func (db *DB) customers(ctx context.Context, from, where string, args ...any) ([]dream.Customer, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT u.user_id, u.email, u.first_name, u.last_name, u.plan,
			u.stripe_customer_id, u.created_at, c.count, c.period_start, c.period_end, `+prefixed("s.", subscriptionFields)+`
		FROM `+from+`
		LEFT JOIN usage_counters c ON c.environment_id = u.environment_id AND c.user_id = u.user_id
		LEFT JOIN subscriptions s ON s.environment_id = u.environment_id AND s.user_id = u.user_id
		`+where, args...)
	if err != nil {
		return nil, fmt.Errorf("customers: %w", err)
	}
	defer rows.Close()
	var customers []dream.Customer
	for rows.Next() {
		var c dream.Customer
		var email, first, last, plan, customer, periodStart, periodEnd sql.NullString
		var created int64
		var count sql.NullInt64
		var sub nullableSubscription
		dest := append([]any{&c.UserID, &email, &first, &last, &plan, &customer, &created, &count, &periodStart, &periodEnd}, sub.dest()...)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("customers: %w", err)
		}
		c.Email, c.FirstName, c.LastName, c.Plan, c.StripeCustomerID = email.String, first.String, last.String, plan.String, customer.String
		c.CreatedAt = time.UnixMilli(created).UTC()
		c.State.AssignedPlan = plan.String
		c.State.Subscription = sub.subscription()
		if c.State.Counter, err = usageCounter(count, periodStart, periodEnd); err != nil {
			return nil, err
		}
		customers = append(customers, c)
	}
	return customers, rows.Err()
}

// CreateCustomer adds an end user created through the customers API. An
// email another end user of the environment has is a conflict.
func (tx *Tx) CreateCustomer(ctx context.Context, w dream.CreateCustomer, now time.Time) error {
	var taken int
	err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM end_users
		WHERE environment_id = ? AND email = ? COLLATE NOCASE AND user_id != ?`, w.EnvironmentID, w.Email, w.UserID).Scan(&taken)
	if err != nil {
		return fmt.Errorf("create customer: %w", err)
	}
	if taken > 0 {
		return dream.CustomerExists(w.Email)
	}
	tx.touch(w.EnvironmentID, w.UserID, now, false)
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO end_users (environment_id, user_id, email, first_name, last_name, plan,
			created_at, updated_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
		ON CONFLICT (environment_id, user_id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name,
			last_name = excluded.last_name, plan = excluded.plan, updated_at = excluded.updated_at`,
		w.EnvironmentID, w.UserID, w.Email, nullString(w.FirstName), nullString(w.LastName), nullString(w.Plan),
		cmp.Or(w.CreatedAt, now).UnixMilli(), now.UnixMilli())
	if isConstraint(err) {
		return dream.Errorf(dream.KindNotFound, "Not found", "environment %d not found", w.EnvironmentID)
	}
	return err
}

// EndUserByEmail returns the id of the end user of an environment with this
// email, ignoring case, or "" if none has it.
func (db *DB) EndUserByEmail(ctx context.Context, envID int64, email string) (string, error) {
	var id string
	err := db.read.QueryRowContext(ctx, `SELECT user_id FROM end_users WHERE environment_id = ? AND email = ? COLLATE NOCASE
		LIMIT 1`, envID, email).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// AssignPlan sets the plan a developer assigned to an end user, leaving
// their usage as it is.
func (tx *Tx) AssignPlan(ctx context.Context, w dream.AssignPlan, now time.Time) error {
	if err := tx.RegisterEndUser(ctx, w.EnvironmentID, w.UserID, "", now); err != nil {
		return err
	}
	tx.touch(w.EnvironmentID, w.UserID, now, false)
	_, err := tx.tx.ExecContext(ctx, `UPDATE end_users SET plan = ?, updated_at = ? WHERE environment_id = ? AND user_id = ?`,
		nullString(w.Plan), now.UnixMilli(), w.EnvironmentID, w.UserID)
	return err
}

// DeleteCustomer deletes an end user and, through the foreign keys, their
// usage and subscription, leaving tombstones of the user and of the
// subscription, so the provider's later events about it, the cancellation
// among them, do not bring the customer back. It reports whether the end
// user existed.
func (tx *Tx) DeleteCustomer(ctx context.Context, w dream.DeleteCustomer, now time.Time) (bool, error) {
	envID, userID := w.EnvironmentID, w.UserID
	tx.touch(envID, userID, now, false)
	_, err := tx.tx.ExecContext(ctx, `INSERT OR IGNORE INTO subscription_tombstones (stripe_subscription_id, environment_id, deleted_at)
		SELECT stripe_subscription_id, environment_id, ? FROM subscriptions WHERE environment_id = ? AND user_id = ?`,
		now.UnixMilli(), envID, userID)
	if err != nil {
		return false, fmt.Errorf("delete customer: %w", err)
	}
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO end_user_tombstones (environment_id, user_id, deleted_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (environment_id, user_id) DO UPDATE SET deleted_at = ?3`, envID, userID, now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("delete customer: %w", err)
	}
	res, err := tx.tx.ExecContext(ctx, `DELETE FROM end_users WHERE environment_id = ? AND user_id = ?`, envID, userID)
	if err != nil {
		return false, fmt.Errorf("delete customer: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// SubscriptionDeleted reports whether a subscription belonged to a
// customer deleted through the API.
func (tx *Tx) SubscriptionDeleted(ctx context.Context, id string) (bool, error) {
	var n int
	err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM subscription_tombstones WHERE stripe_subscription_id = ?`, id).Scan(&n)
	return n > 0, err
}
