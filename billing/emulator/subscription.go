package emulator

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/dream-api/dream"
)

// cancellationRequested is the cancellation reason of a subscription the
// customer or the developer canceled.
const cancellationRequested = "cancellation_requested"

// subscription is a stored subscription. Times are unix seconds of the
// emulator clock; zero means none.
type subscription struct {
	owner
	ID       string
	Customer string
	Status   dream.SubscriptionStatus
	Items    []subscriptionItem
	Metadata map[string]string
	Created  int64
	// The current period; while trialing, it is the trial.
	CurrentPeriodStart int64
	CurrentPeriodEnd   int64
	TrialStart         int64
	TrialEnd           int64
	CancelAtPeriodEnd  bool
	CanceledAt         int64
	EndedAt            int64
	CancellationReason string
	LatestInvoice      string
}

// subscriptionItem is one price of a subscription.
type subscriptionItem struct {
	ID      string
	Created int64
	// Price is the line item the subscription was bought or switched to,
	// its quantity the item's.
	Price dream.LineItem
}

// newSubscription is the subscription a paid checkout session creates at
// now: trialing for the session's trial days, otherwise active, for a
// first period of a month.
func newSubscription(s *checkoutSession, now int64) *subscription {
	sub := &subscription{
		owner:              s.owner(),
		ID:                 dream.NewID("sub_"),
		Customer:           s.CustomerID,
		Status:             dream.StatusActive,
		Metadata:           s.SubscriptionMetadata,
		Created:            now,
		CurrentPeriodStart: now,
		CurrentPeriodEnd:   addMonth(now),
	}
	for _, item := range s.LineItems {
		sub.Items = append(sub.Items, subscriptionItem{ID: dream.NewID("si_"), Created: now, Price: item})
	}
	if s.TrialDays > 0 {
		sub.Status = dream.StatusTrialing
		sub.TrialStart = now
		sub.TrialEnd = now + int64(s.TrialDays)*24*60*60
		sub.CurrentPeriodEnd = sub.TrialEnd
	}
	return sub
}

// addMonth returns the same time of the same day of the next month in UTC,
// the end of a monthly period that starts at t.
func addMonth(t int64) int64 {
	return time.Unix(t, 0).UTC().AddDate(0, 1, 0).Unix()
}

// amount is what a period of the subscription costs.
func (s *subscription) amount() int64 {
	var total int64
	for _, item := range s.Items {
		total += item.Price.UnitAmount * item.Price.Quantity
	}
	return total
}

// currency is the currency every item of the subscription shares.
func (s *subscription) currency() string { return s.Items[0].Price.Currency }

// putSubscription writes s.
func putSubscription(ctx context.Context, tx *sql.Tx, s *subscription) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	due := sql.NullInt64{Int64: s.CurrentPeriodEnd, Valid: s.Status != dream.StatusCanceled}
	_, err = tx.ExecContext(ctx, `INSERT INTO subscriptions (id, customer, due, data) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET due = excluded.due, data = excluded.data`, s.ID, s.Customer, due, string(data))
	return err
}

// subscriptionAction changes a subscription at now and returns the events
// that report the change, none if nothing changed.
type subscriptionAction func(s *subscription, now int64) ([]event, error)

// change applies action to the subscription id, if mine accepts it as the
// caller's, and returns the events to deliver.
func (e *Emulator) change(ctx context.Context, id string, mine func(*subscription) bool, action subscriptionAction) ([]event, error) {
	now := e.now().Unix()
	var events []event
	err := e.update(ctx, func(tx *sql.Tx) error {
		var s subscription
		found, err := get(ctx, tx, subscriptionsTable, id, &s)
		if err != nil {
			return err
		}
		if !found || !mine(&s) {
			return notFound("No such subscription: %s", id)
		}
		if events, err = action(&s, now); err != nil || len(events) == 0 {
			return err
		}
		return putSubscription(ctx, tx, &s)
	})
	return events, err
}

// CancelSubscription cancels a subscription of the account at the end of
// its current period, or at once, as the portal's buttons do.
func (e *Emulator) CancelSubscription(ctx context.Context, account dream.PaymentAccount, subscriptionID string, atPeriodEnd bool) error {
	if err := validateAccount(account); err != nil {
		return err
	}
	action := cancelNow
	if atPeriodEnd {
		action = cancelAtPeriodEnd
	}
	events, err := e.change(ctx, subscriptionID, func(s *subscription) bool { return s.owner == ownerOf(account) }, action)
	if err != nil {
		return err
	}
	// The cancellation stands whatever the webhook answers, as at Stripe,
	// whose API does not wait for deliveries; deliver logs failures.
	_ = e.deliver(ctx, events)
	return nil
}

// cancelAtPeriodEnd schedules the subscription to end with its current
// period. A subscription already scheduled is left as it is.
func cancelAtPeriodEnd(s *subscription, now int64) ([]event, error) {
	if s.Status == dream.StatusCanceled {
		return nil, rejected("Subscription %s is already canceled", s.ID)
	}
	if s.CancelAtPeriodEnd {
		return nil, nil
	}
	previous := s.cancellationState()
	s.CancelAtPeriodEnd = true
	s.CanceledAt = now
	s.CancellationReason = cancellationRequested
	return []event{s.event("customer.subscription.updated", now, previous)}, nil
}

// resume undoes a scheduled cancellation.
func resume(s *subscription, now int64) ([]event, error) {
	if s.Status == dream.StatusCanceled || !s.CancelAtPeriodEnd {
		return nil, rejected("Subscription %s is not scheduled to cancel", s.ID)
	}
	previous := s.cancellationState()
	s.CancelAtPeriodEnd = false
	s.CanceledAt = 0
	s.CancellationReason = ""
	return []event{s.event("customer.subscription.updated", now, previous)}, nil
}

// cancelNow ends the subscription at once; it replaces a scheduled
// cancellation.
func cancelNow(s *subscription, now int64) ([]event, error) {
	if s.Status == dream.StatusCanceled {
		return nil, rejected("Subscription %s is already canceled", s.ID)
	}
	s.Status = dream.StatusCanceled
	s.CancelAtPeriodEnd = false
	s.CanceledAt = now
	s.EndedAt = now
	s.CancellationReason = cancellationRequested
	return []event{s.event("customer.subscription.deleted", now, nil)}, nil
}

// switchPrice returns the action that moves a subscription of one item to
// the plan of plans whose price is priceID, keeping its quantity. Like the
// portal's default configuration, it prorates nothing.
func switchPrice(plans []dream.LineItem, priceID string) subscriptionAction {
	return func(s *subscription, now int64) ([]event, error) {
		var plan *dream.LineItem
		for i := range plans {
			if plans[i].PriceID == priceID {
				plan = &plans[i]
			}
		}
		switch {
		case plan == nil:
			return nil, rejected("Price %q is not one of the plans offered", priceID)
		case s.Status == dream.StatusCanceled:
			return nil, rejected("Subscription %s is already canceled", s.ID)
		case len(s.Items) != 1:
			return nil, rejected("Only a subscription with one item can switch plans")
		case s.Items[0].Price.PriceID == priceID:
			return nil, rejected("Subscription %s is already on price %s", s.ID, priceID)
		case plan.Currency != s.currency():
			return nil, rejected("Price %s is in %s, the subscription in %s", priceID, plan.Currency, s.currency())
		}
		previous := object{"items": s.itemList()}
		price := *plan
		price.Quantity = s.Items[0].Price.Quantity
		s.Items[0].Price = price
		return []event{s.event("customer.subscription.updated", now, previous)}, nil
	}
}

// cancellationState is the fields a cancellation or its undoing changes, as
// previous attributes.
func (s *subscription) cancellationState() object {
	o := s.object()
	return object{
		"cancel_at":            o["cancel_at"],
		"cancel_at_period_end": o["cancel_at_period_end"],
		"canceled_at":          o["canceled_at"],
		"cancellation_details": o["cancellation_details"],
	}
}

// renew moves the subscription past the end of its current period, which
// the clock has reached, and returns the events that report it, dated at
// that end: a scheduled cancellation ends it, a trial or a paid period is
// followed by a paid month.
func (s *subscription) renew() []event {
	at := s.CurrentPeriodEnd
	if s.CancelAtPeriodEnd {
		s.Status = dream.StatusCanceled
		s.EndedAt = at
		return []event{s.event("customer.subscription.deleted", at, nil)}
	}
	o := s.object()
	previous := object{
		"current_period_start": o["current_period_start"],
		"current_period_end":   o["current_period_end"],
	}
	if s.Status == dream.StatusTrialing {
		previous["status"] = o["status"]
		s.Status = dream.StatusActive
	}
	billedStart := s.CurrentPeriodStart
	s.CurrentPeriodStart = at
	s.CurrentPeriodEnd = addMonth(at)
	if s.amount() == 0 {
		return []event{s.event("customer.subscription.updated", at, previous)}
	}
	previous["latest_invoice"] = o["latest_invoice"]
	// Stripe bills a period in advance; the invoice's own period is the
	// one before, its line's period the one just begun.
	invoice := s.invoice("subscription_cycle", at, billedStart, at)
	return []event{
		s.event("customer.subscription.updated", at, previous),
		newEvent(s.owner, "invoice.paid", at, invoice, nil),
	}
}

// advance moves the emulator clock forward by seconds, expires the checkout
// sessions whose time is up, then brings every subscription up to the new
// time, the one due earliest first, period by
// period, delivering the events of each step before the next. It returns
// the new time and the types of the events delivered, in order. A failed
// delivery stops nothing, as the step it reports has happened; the error
// names each one.
func (e *Emulator) advance(ctx context.Context, seconds int64) (time.Time, []string, error) {
	now, err := e.advanceClock(ctx, seconds)
	if err != nil {
		return time.Time{}, nil, err
	}
	// Listed as [] rather than null when nothing was due.
	delivered := []string{}
	var failures []error
	var lapsed []event
	err = e.update(ctx, func(tx *sql.Tx) error {
		lapsed, err = expireSessions(ctx, tx, now.Unix())
		return err
	})
	if err != nil {
		return now, delivered, err
	}
	for _, ev := range lapsed {
		if err := e.post(ctx, ev); err != nil {
			failures = append(failures, err)
		} else {
			delivered = append(delivered, ev.Type)
		}
	}
	for {
		var events []event
		err := e.update(ctx, func(tx *sql.Tx) error {
			s, err := dueSubscription(ctx, tx, now.Unix())
			if err != nil || s == nil {
				return err
			}
			events = s.renew()
			return putSubscription(ctx, tx, s)
		})
		if err != nil {
			return now, delivered, err
		}
		if len(events) == 0 {
			return now, delivered, errors.Join(failures...)
		}
		for _, ev := range events {
			if err := e.post(ctx, ev); err != nil {
				failures = append(failures, err)
			} else {
				delivered = append(delivered, ev.Type)
			}
		}
	}
}

// dueSubscription returns the subscription whose period ends first, if one
// ends at or before now; of several ending at once, the oldest.
func dueSubscription(ctx context.Context, tx *sql.Tx, now int64) (*subscription, error) {
	var data string
	err := tx.QueryRowContext(ctx, `SELECT data FROM subscriptions WHERE due <= ?
		ORDER BY due, rowid LIMIT 1`, now).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var s subscription
	return &s, json.Unmarshal([]byte(data), &s)
}
