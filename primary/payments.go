package primary

import (
	"context"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

// applyPaymentEvent applies a verified payment event. The event's id is
// recorded in the transaction that applies its effects, so a redelivered
// event changes nothing, and an event that concerns no known project, or
// reports no change, is recorded as ignored and answered like any other:
// retrying it would never help.
func applyPaymentEvent(tx *store.Tx, ctx context.Context, w dream.ApplyPaymentEvent, now time.Time) (dream.PaymentEventOutcome, error) {
	seen, err := tx.WebhookEventSeen(ctx, w.Event.ID)
	if err != nil || seen {
		outcome := dream.PaymentEventOutcome{Result: dream.EventDuplicate}
		if err == nil {
			outcome.Refunds, err = refundsOwed(ctx, tx, &w.Event)
		}
		return outcome, err
	}
	a := &eventApplication{tx: tx, event: &w.Event, lineItems: w.LineItems, now: now}
	var processed bool
	switch e := &w.Event; {
	case e.Checkout != nil:
		processed, err = a.checkoutCompleted(ctx, e.Checkout)
	case e.Expired != nil:
		processed, err = a.checkoutExpired(ctx, e.Expired)
	case e.Subscription != nil:
		processed, err = a.subscriptionChanged(ctx, e.Subscription)
	case e.Invoice != nil:
		processed, err = a.invoicePayment(ctx, e.Invoice)
	case e.Deauthorized:
		processed, err = tx.DisconnectPaymentAccount(ctx, e.Account, e.Mode)
	}
	outcome := dream.PaymentEventOutcome{Result: dream.EventIgnored}
	if err != nil {
		// Rolled back, so the provider retries it.
		return outcome, err
	}
	if processed {
		outcome.Result = dream.EventProcessed
	}
	outcome.PlanChanges = a.planChanges
	if outcome.Refunds, err = refundsOwed(ctx, tx, &w.Event); err != nil {
		return outcome, err
	}
	return outcome, tx.RecordWebhookEvent(ctx, w.Event, a.envID, outcome.Result, now)
}

// refundsOwed are the payments of the event's checkout to give back: its
// oversold orders not refunded yet.
func refundsOwed(ctx context.Context, tx *store.Tx, e *dream.PaymentEvent) ([]dream.Refund, error) {
	if e.Checkout == nil || e.Checkout.Mode != dream.CheckoutPayment {
		return nil, nil
	}
	owed, err := tx.RefundsOwed(ctx, e.Checkout.SessionID)
	if err != nil {
		return nil, err
	}
	var refunds []dream.Refund
	for _, o := range owed {
		refunds = append(refunds, dream.Refund{OrderID: o.OrderID, PaymentIntentID: o.PaymentIntentID,
			Account: dream.PaymentAccount{Mode: e.Mode, AccountID: e.Account}})
	}
	return refunds, nil
}

// eventApplication is one event being applied, with what applying it
// learned. Each of its methods applies one kind of change and reports
// whether it concerned a known project.
type eventApplication struct {
	tx        *store.Tx
	event     *dream.PaymentEvent
	lineItems []dream.LineItem
	now       time.Time
	// envID is the environment the event turned out to concern, 0 if none.
	envID       int64
	planChanges []dream.PlanChange
}

// environment is the environment of pk if the event happened in it, by the
// one ownership check of payment events.
func (a *eventApplication) environment(ctx context.Context, pk string) (*dream.Environment, error) {
	env, err := a.event.Environment(ctx, a.tx, pk)
	if env != nil {
		a.envID = env.ID
	}
	return env, err
}

// checkoutCompleted applies a finished checkout: for a subscription, the
// end user's customer and, until the subscription's own events say more,
// the subscription it started; for a paid store checkout, the order and
// the stock it takes.
func (a *eventApplication) checkoutCompleted(ctx context.Context, c *dream.CheckoutCompleted) (bool, error) {
	env, err := a.environment(ctx, c.PublishableKey)
	if err != nil || env == nil {
		return false, err
	}
	switch {
	case c.Mode == dream.CheckoutSubscription && c.Payment == dream.PaymentFailed:
		return true, nil
	case c.Mode == dream.CheckoutSubscription:
		return true, a.startSubscription(ctx, env, c)
	case c.Payment == dream.PaymentPaid:
		return true, a.recordOrder(ctx, env, c)
	case c.Payment == dream.PaymentFailed:
		// Nothing is sold: the stock returns.
		return true, a.tx.ReleaseStock(ctx, dream.ReleaseStock{ReservationID: c.ReservationID}, a.now)
	}
	// An asynchronous payment still on its way: the order and the stock
	// wait for it, held for it meanwhile.
	return true, a.tx.ExtendReservation(ctx, c.ReservationID, a.now.Add(dream.PendingPaymentHold))
}

// checkoutExpired returns what a checkout that lapsed unpaid reserved.
func (a *eventApplication) checkoutExpired(ctx context.Context, c *dream.CheckoutExpired) (bool, error) {
	env, err := a.environment(ctx, c.PublishableKey)
	if err != nil || env == nil {
		return false, err
	}
	return true, a.tx.ReleaseStock(ctx, dream.ReleaseStock{ReservationID: c.ReservationID}, a.now)
}

func (a *eventApplication) startSubscription(ctx context.Context, env *dream.Environment, c *dream.CheckoutCompleted) error {
	if c.UserID == "" {
		return nil
	}
	if err := a.tx.RegisterEndUser(ctx, env.ID, c.UserID, c.Email, a.now); err != nil {
		return err
	}
	if c.CustomerID != "" {
		if err := a.tx.SetStripeCustomer(ctx, env.ID, c.UserID, c.CustomerID); err != nil {
			return err
		}
	}
	if c.SubscriptionID == "" {
		return nil
	}
	known, err := a.tx.SubscriptionByID(ctx, c.SubscriptionID)
	if err != nil || known != nil {
		// The subscription's own events are more precise than the session.
		return err
	}
	tiers, err := a.tx.Tiers(ctx, env.ID)
	if err != nil {
		return err
	}
	sub := dream.Subscription{
		ID:         c.SubscriptionID,
		CustomerID: c.CustomerID,
		Plan:       c.Tier,
		Status:     dream.StatusActive,
		Currency:   c.Currency,
		Version:    c.Version,
	}
	if c.Payment == dream.PaymentNotRequired {
		sub.Status = dream.StatusTrialing
	}
	if t := dream.FindTier(tiers, dream.BillingSubscription, sub.Plan); t != nil {
		sub.Plan, sub.PriceID, sub.ProductID, sub.AmountCents = t.Slug, t.StripePriceID, t.StripeProductID, t.PriceCents
	}
	return a.putSubscription(ctx, env, c.UserID, tiers, sub)
}

// recordOrder records a paid store checkout once, however many events say
// it was paid, and takes its items from stock with what its reservation
// holds. A payment that finds neither its reservation nor stock enough is
// an oversold order: nothing is taken, and its payment is refunded.
func (a *eventApplication) recordOrder(ctx context.Context, env *dream.Environment, c *dream.CheckoutCompleted) error {
	if recorded, err := a.tx.OrderRecorded(ctx, c.SessionID); err != nil || recorded {
		return err
	}
	taken, err := a.tx.TakeStock(ctx, env.ID, c.ReservationID, a.lineItems, a.now)
	if err != nil {
		return err
	}
	return a.tx.RecordOrder(ctx, env.ID, dream.Order{
		ID:                    dream.NewID("ord_"),
		Email:                 c.Email,
		AmountCents:           c.AmountCents,
		Currency:              c.Currency,
		Items:                 a.lineItems,
		StripeSessionID:       c.SessionID,
		StripePaymentIntentID: c.PaymentIntentID,
		CreatedAt:             a.now,
		Oversold:              !taken,
	})
}

// subscriptionChanged brings the stored subscription to the state the
// event reports, unless a newer state is stored already.
func (a *eventApplication) subscriptionChanged(ctx context.Context, c *dream.SubscriptionChanged) (bool, error) {
	env, err := a.environment(ctx, c.PublishableKey)
	if err != nil || env == nil {
		return false, err
	}
	if c.UserID == "" {
		// Created outside our checkout: nothing ties it to an end user.
		return false, nil
	}
	sub := c.Subscription
	if deleted, err := a.tx.SubscriptionDeleted(ctx, sub.ID); err != nil || deleted {
		// Its customer was deleted; the event must not bring them back.
		return deleted, err
	}
	tiers, err := a.tx.Tiers(ctx, env.ID)
	if err != nil {
		return false, err
	}
	// The plan follows the price: a switch in the portal changes the price,
	// not the metadata.
	if t := dream.TierWithPrice(tiers, dream.BillingSubscription, sub.PriceID); t != nil {
		sub.Plan = t.Slug
	}
	if err := a.tx.RegisterEndUser(ctx, env.ID, c.UserID, "", a.now); err != nil {
		return false, err
	}
	if sub.CustomerID != "" {
		if err := a.tx.SetStripeCustomer(ctx, env.ID, c.UserID, sub.CustomerID); err != nil {
			return false, err
		}
	}
	return true, a.putSubscription(ctx, env, c.UserID, tiers, sub)
}

// putSubscription stores sub as the end user's subscription if it is newer
// than what is stored, and notes a plan change. The rules: a subscription
// ended is final; for the same subscription the newer version wins; a
// different subscription takes over only while it runs, or when neither
// runs and it is newer, so a late event about an old subscription never
// overwrites the one that replaced it.
func (a *eventApplication) putSubscription(ctx context.Context, env *dream.Environment, userID string, tiers []dream.Tier, sub dream.Subscription) error {
	state, err := a.tx.UserState(ctx, env.ID, userID)
	if err != nil {
		return err
	}
	if stored := state.Subscription; stored != nil {
		switch {
		case stored.ID == sub.ID && stored.Status == dream.StatusCanceled && sub.Status != dream.StatusCanceled:
			return nil
		case stored.ID == sub.ID && sub.Version < stored.Version:
			return nil
		case stored.ID != sub.ID && !sub.Entitles() && (stored.Entitles() || sub.Version < stored.Version):
			return nil
		}
		if sub.Plan == "" {
			sub.Plan = stored.Plan
		}
	}
	if sub.Plan == "" {
		sub.Plan = dream.ResolvePlan(tiers, dream.PlanSources{}).Name
	}
	before := dream.ResolvePlan(tiers, dream.PlanSources{Subscription: state.Subscription, AssignedPlan: state.AssignedPlan})
	if err := a.tx.PutSubscription(ctx, env.ID, userID, sub, a.now); err != nil {
		return err
	}
	after := dream.ResolvePlan(tiers, dream.PlanSources{Subscription: &sub, AssignedPlan: state.AssignedPlan})
	if after.Name != before.Name {
		a.planChanges = append(a.planChanges, dream.PlanChange{Mode: env.Mode, UserID: userID, Plan: after.Name})
	}
	return nil
}

// invoicePayment keeps a subscription's payment state: a paid invoice
// makes a subscription that was behind active again and extends its
// period; a failed one makes an active subscription past due. The
// subscription's own update events carry the same news; whichever is newer
// wins.
func (a *eventApplication) invoicePayment(ctx context.Context, inv *dream.InvoicePayment) (bool, error) {
	stored, err := a.tx.SubscriptionByID(ctx, inv.SubscriptionID)
	if err != nil || stored == nil {
		return false, err
	}
	env, err := a.tx.EnvironmentByID(ctx, stored.EnvironmentID)
	if err != nil || env == nil {
		return false, err
	}
	if env, err = a.environment(ctx, env.PublishableKey); err != nil || env == nil {
		return false, err
	}
	sub := stored.Subscription
	if inv.Paid {
		if sub.Status == dream.StatusPastDue || sub.Status == dream.StatusUnpaid || sub.Status == dream.StatusIncomplete {
			sub.Status = dream.StatusActive
		}
		if inv.PeriodEnd.After(sub.CurrentPeriodEnd) {
			sub.CurrentPeriodEnd = inv.PeriodEnd
		}
	} else if sub.Status == dream.StatusActive {
		sub.Status = dream.StatusPastDue
	}
	sub.Version = inv.Version
	if (sub.Status == stored.Status && sub.CurrentPeriodEnd.Equal(stored.CurrentPeriodEnd)) || sub.Version < stored.Version {
		return true, nil
	}
	tiers, err := a.tx.Tiers(ctx, env.ID)
	if err != nil {
		return false, err
	}
	return true, a.putSubscription(ctx, env, stored.UserID, tiers, sub)
}
