package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dream-api/dream"
)

// PaymentAccount returns the developer's connected payment account for a
// mode, "" if none is connected.
func (db *DB) PaymentAccount(ctx context.Context, platformID string, mode dream.Mode) (string, error) {
	return paymentAccount(ctx, db.read, platformID, mode)
}

// PaymentAccount returns the connected account as the transaction sees it.
func (tx *Tx) PaymentAccount(ctx context.Context, platformID string, mode dream.Mode) (string, error) {
	return paymentAccount(ctx, tx.tx, platformID, mode)
}

func paymentAccount(ctx context.Context, q queryer, platformID string, mode dream.Mode) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT account_id FROM stripe_accounts WHERE platform_id = ? AND mode = ?`,
		platformID, mode).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("payment account: %w", err)
	}
	return id, nil
}

// ConnectPaymentAccount records a platform's connected account for a mode,
// replacing the one it had.
func (tx *Tx) ConnectPaymentAccount(ctx context.Context, w dream.ConnectPaymentAccount, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO stripe_accounts (platform_id, mode, account_id, connected_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (platform_id, mode) DO UPDATE SET account_id = excluded.account_id, connected_at = excluded.connected_at`,
		w.PlatformID, w.Mode, w.AccountID, now.UnixMilli())
	if isConstraint(err) {
		return dream.Errorf(dream.KindNotFound, "Not found", "platform %s not found", w.PlatformID)
	}
	return err
}

// DisconnectPaymentAccount forgets a connected account in a mode, after
// the developer revoked our access, and reports whether it was connected.
func (tx *Tx) DisconnectPaymentAccount(ctx context.Context, accountID string, mode dream.Mode) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `DELETE FROM stripe_accounts WHERE account_id = ? AND mode = ?`, accountID, mode)
	if err != nil {
		return false, fmt.Errorf("disconnect payment account: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// EndUser returns an end user of an environment, or nil.
func (db *DB) EndUser(ctx context.Context, envID int64, userID string) (*dream.EndUser, error) {
	var u dream.EndUser
	var email, first, last, plan, customer sql.NullString
	var created int64
	err := db.read.QueryRowContext(ctx, `SELECT user_id, email, first_name, last_name, plan, stripe_customer_id, created_at
		FROM end_users WHERE environment_id = ? AND user_id = ?`, envID, userID).
		Scan(&u.UserID, &email, &first, &last, &plan, &customer, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("end user: %w", err)
	}
	u.Email, u.FirstName, u.LastName, u.Plan, u.StripeCustomerID = email.String, first.String, last.String, plan.String, customer.String
	u.CreatedAt = time.UnixMilli(created).UTC()
	return &u, nil
}

// SetStripeCustomer records the end user's customer at the payment
// provider, for their later checkouts to reuse.
func (tx *Tx) SetStripeCustomer(ctx context.Context, envID int64, userID, customerID string) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE end_users SET stripe_customer_id = ?
		WHERE environment_id = ? AND user_id = ? AND stripe_customer_id IS NOT ?`, customerID, envID, userID, customerID)
	if err != nil {
		return fmt.Errorf("set stripe customer: %w", err)
	}
	return nil
}

// subscriptionFields are the columns of a subscription that
// nullableSubscription reads.
const subscriptionFields = `stripe_subscription_id, stripe_customer_id, plan, stripe_price_id, stripe_product_id,
	amount_cents, currency, status, cancel_at_period_end, current_period_end, trial_end, canceled_at, cancel_reason,
	stripe_version`

// prefixed qualifies every column of a column list with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = alias + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// nullableSubscription scans subscriptionFields, which a LEFT JOIN may
// leave all NULL.
type nullableSubscription struct {
	id, customer, plan, price, product, currency, status, reason sql.NullString
	amount, periodEnd, trialEnd, canceledAt, version             sql.NullInt64
	canceling                                                    sql.NullBool
}

func (n *nullableSubscription) dest() []any {
	return []any{&n.id, &n.customer, &n.plan, &n.price, &n.product, &n.amount, &n.currency, &n.status,
		&n.canceling, &n.periodEnd, &n.trialEnd, &n.canceledAt, &n.reason, &n.version}
}

// subscription is the scanned subscription, nil when there was none.
func (n *nullableSubscription) subscription() *dream.Subscription {
	if !n.id.Valid {
		return nil
	}
	return &dream.Subscription{
		ID: n.id.String, CustomerID: n.customer.String, Plan: n.plan.String, PriceID: n.price.String,
		ProductID: n.product.String, AmountCents: n.amount.Int64, Currency: n.currency.String,
		Status: dream.SubscriptionStatus(n.status.String), CancelAtPeriodEnd: n.canceling.Bool,
		CurrentPeriodEnd: fromMillis(n.periodEnd), TrialEnd: fromMillis(n.trialEnd), CanceledAt: fromMillis(n.canceledAt),
		CancelReason: n.reason.String, Version: n.version.Int64,
	}
}

// StoredSubscription is a subscription with the end user it belongs to.
type StoredSubscription struct {
	EnvironmentID int64
	UserID        string
	dream.Subscription
}

func scanSubscription(row *sql.Row) (*StoredSubscription, error) {
	var s StoredSubscription
	var n nullableSubscription
	err := row.Scan(append([]any{&s.EnvironmentID, &s.UserID}, n.dest()...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("subscription: %w", err)
	}
	s.Subscription = *n.subscription()
	return &s, nil
}

// SubscriptionByID returns the subscription with the provider's id, or nil.
func (tx *Tx) SubscriptionByID(ctx context.Context, id string) (*StoredSubscription, error) {
	return scanSubscription(tx.tx.QueryRowContext(ctx, `SELECT environment_id, user_id, `+subscriptionFields+`
		FROM subscriptions WHERE stripe_subscription_id = ?`, id))
}

// PutSubscription stores s as the end user's subscription, replacing the
// one they had. Which state wins is the caller's decision.
func (tx *Tx) PutSubscription(ctx context.Context, envID int64, userID string, s dream.Subscription, now time.Time) error {
	tx.touch(envID, userID, now, false)
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO subscriptions (environment_id, user_id, stripe_subscription_id,
			stripe_customer_id, plan, stripe_price_id, stripe_product_id, amount_cents, currency, status,
			cancel_at_period_end, current_period_end, trial_end, canceled_at, cancel_reason, stripe_version,
			created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (environment_id, user_id) DO UPDATE SET
			stripe_subscription_id = excluded.stripe_subscription_id, stripe_customer_id = excluded.stripe_customer_id,
			plan = excluded.plan, stripe_price_id = excluded.stripe_price_id, stripe_product_id = excluded.stripe_product_id,
			amount_cents = excluded.amount_cents, currency = excluded.currency, status = excluded.status,
			cancel_at_period_end = excluded.cancel_at_period_end, current_period_end = excluded.current_period_end,
			trial_end = excluded.trial_end, canceled_at = excluded.canceled_at, cancel_reason = excluded.cancel_reason,
			stripe_version = excluded.stripe_version, updated_at = excluded.updated_at`,
		envID, userID, s.ID, nullString(s.CustomerID), s.Plan, nullString(s.PriceID), nullString(s.ProductID),
		sql.NullInt64{Int64: s.AmountCents, Valid: s.PriceID != ""}, nullString(s.Currency), s.Status, s.CancelAtPeriodEnd,
		millis(s.CurrentPeriodEnd), millis(s.TrialEnd), millis(s.CanceledAt), nullString(s.CancelReason), s.Version,
		now.UnixMilli(), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("put subscription: %w", err)
	}
	return nil
}

// RecordOrder records a paid store checkout. A session has one order:
// OrderRecorded says whether it has one already.
func (tx *Tx) RecordOrder(ctx context.Context, envID int64, o dream.Order) error {
	items, err := json.Marshal(o.Items)
	if err != nil {
		return err
	}
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO orders (id, environment_id, email, amount_cents, currency, items,
			stripe_session_id, stripe_payment_intent_id, created_at, oversold)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, envID, nullString(o.Email), o.AmountCents, o.Currency, string(items), o.StripeSessionID,
		nullString(o.StripePaymentIntentID), o.CreatedAt.UnixMilli(), o.Oversold)
	if err != nil {
		return fmt.Errorf("record order: %w", err)
	}
	return nil
}

// OrderRecorded reports whether a checkout session's order is recorded.
func (tx *Tx) OrderRecorded(ctx context.Context, sessionID string) (bool, error) {
	var n int
	err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE stripe_session_id = ?`, sessionID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("order recorded: %w", err)
	}
	return n > 0, nil
}

// RefundsOwed returns the oversold orders of a checkout session not yet
// refunded.
func (tx *Tx) RefundsOwed(ctx context.Context, sessionID string) ([]OwedRefund, error) {
	rows, err := tx.tx.QueryContext(ctx, `SELECT id, coalesce(stripe_payment_intent_id, '') FROM orders
		WHERE stripe_session_id = ? AND oversold AND refund_id IS NULL`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("refunds owed: %w", err)
	}
	defer rows.Close()
	var owed []OwedRefund
	for rows.Next() {
		var r OwedRefund
		if err := rows.Scan(&r.OrderID, &r.PaymentIntentID); err != nil {
			return nil, fmt.Errorf("refunds owed: %w", err)
		}
		owed = append(owed, r)
	}
	return owed, rows.Err()
}

// OwedRefund is an oversold order whose payment is to be given back.
type OwedRefund struct {
	OrderID         string
	PaymentIntentID string
}

// RecordRefund records an oversold order's refund, once.
func (tx *Tx) RecordRefund(ctx context.Context, w dream.RecordRefund, now time.Time) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE orders SET refund_id = coalesce(refund_id, ?) WHERE id = ? AND oversold`,
		w.RefundID, w.OrderID)
	if err != nil {
		return fmt.Errorf("record refund: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return dream.Errorf(dream.KindNotFound, "Not found", "no oversold order %s", w.OrderID)
	}
	return nil
}

// WebhookEventSeen reports whether an event id has been recorded.
func (tx *Tx) WebhookEventSeen(ctx context.Context, id string) (bool, error) {
	var n int
	err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events WHERE id = ?`, id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("webhook event seen: %w", err)
	}
	return n > 0, nil
}

// RecordWebhookEvent records an event with the outcome of applying it, in
// the transaction that applied it. envID is 0 when the event concerns no
// known environment.
func (tx *Tx) RecordWebhookEvent(ctx context.Context, e dream.PaymentEvent, envID int64, outcome string, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO webhook_events (id, environment_id, type, livemode, outcome,
			payload, created_at, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, sql.NullInt64{Int64: envID, Valid: envID != 0}, e.Type, e.Mode == dream.ModeLive, outcome, string(e.Payload),
		e.Created.UnixMilli(), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("record webhook event: %w", err)
	}
	return nil
}

// Orders returns an environment's orders, newest first.
func (db *DB) Orders(ctx context.Context, envID int64) ([]dream.Order, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, email, amount_cents, currency, items, stripe_session_id,
			stripe_payment_intent_id, created_at, oversold, coalesce(refund_id, '')
		FROM orders WHERE environment_id = ? ORDER BY created_at DESC, rowid DESC`, envID)
	if err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	defer rows.Close()
	var orders []dream.Order
	for rows.Next() {
		var o dream.Order
		var email, intent sql.NullString
		var items string
		var created int64
		if err := rows.Scan(&o.ID, &email, &o.AmountCents, &o.Currency, &items, &o.StripeSessionID, &intent, &created,
			&o.Oversold, &o.RefundID); err != nil {
			return nil, fmt.Errorf("orders: %w", err)
		}
		if err := json.Unmarshal([]byte(items), &o.Items); err != nil {
			return nil, fmt.Errorf("order %s items: %w", o.ID, err)
		}
		o.Email, o.StripePaymentIntentID, o.CreatedAt = email.String, intent.String, time.UnixMilli(created).UTC()
		orders = append(orders, o)
	}
	return orders, rows.Err()
}

// WebhookEvents returns an environment's most recent webhook events, newest
// first, at most limit of them.
func (db *DB) WebhookEvents(ctx context.Context, envID int64, limit int) ([]dream.WebhookEvent, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, type, outcome, created_at, received_at, payload
		FROM webhook_events WHERE environment_id = ? ORDER BY received_at DESC, rowid DESC LIMIT ?`, envID, limit)
	if err != nil {
		return nil, fmt.Errorf("webhook events: %w", err)
	}
	defer rows.Close()
	var events []dream.WebhookEvent
	for rows.Next() {
		var e dream.WebhookEvent
		var created, received int64
		var payload string
		if err := rows.Scan(&e.ID, &e.Type, &e.Outcome, &created, &received, &payload); err != nil {
			return nil, fmt.Errorf("webhook events: %w", err)
		}
		e.CreatedAt, e.ReceivedAt = time.UnixMilli(created).UTC(), time.UnixMilli(received).UTC()
		if json.Valid([]byte(payload)) {
			e.Payload = json.RawMessage(payload)
		}
		events = append(events, e)
	}
	return events, rows.Err()
}
