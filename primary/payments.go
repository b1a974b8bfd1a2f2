package primary

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

// ConnectPaymentAccount implements dream.Writer.
func (p *Primary) ConnectPaymentAccount(ctx context.Context, w dream.ConnectPaymentAccount) error {
	if w.PlatformID == "" || w.AccountID == "" || !w.Mode.Valid() {
		return dream.Errorf(dream.KindInvalid, "Invalid account", "a payment account needs a platform, a mode and an account id")
	}
	_, err := apply(ctx, p, w.WriteID, func(ctx context.Context, tx *store.Tx, now time.Time) (noResult, error) {
		return noResult{}, tx.ConnectPaymentAccount(ctx, w, now)
	})
	return err
}

// ApplyPaymentEvent implements dream.Writer. The event's id is recorded in
// the transaction that applies its effects, so a redelivered event changes
// nothing, and an event that concerns no known project, or that cannot be
// read, is recorded as ignored and answered like any other: retrying it
// would never help.
func (p *Primary) ApplyPaymentEvent(ctx context.Context, w dream.ApplyPaymentEvent) (dream.PaymentEventOutcome, error) {
	if w.Event.ID == "" || w.Event.Type == "" {
		return dream.PaymentEventOutcome{}, dream.Errorf(dream.KindInvalid, "Invalid event", "an event needs an id and a type")
	}
	return apply(ctx, p, "", func(ctx context.Context, tx *store.Tx, now time.Time) (dream.PaymentEventOutcome, error) {
		seen, err := tx.WebhookEventSeen(ctx, w.Event.ID)
		if err != nil || seen {
			return dream.PaymentEventOutcome{Result: dream.EventDuplicate}, err
		}
		a := &eventApplication{tx: tx, event: &w.Event, lineItems: w.LineItems, now: now}
		outcome := dream.PaymentEventOutcome{Result: dream.EventIgnored}
		if handle, ok := eventHandlers[w.Event.Type]; ok {
			processed, err := handle(ctx, a)
			if err != nil {
				return outcome, err
			}
			if processed {
				outcome.Result = dream.EventProcessed
			}
		}
		outcome.PlanChanges = a.planChanges
		return outcome, tx.RecordWebhookEvent(ctx, w.Event, a.envID, outcome.Result, now)
	})
}

// eventApplication is one event being applied, with what applying it
// learned.
type eventApplication struct {
	tx        *store.Tx
	event     *dream.PaymentEvent
	lineItems []dream.LineItem
	now       time.Time
	// envID is the environment the event turned out to concern, 0 if none.
	envID       int64
	planChanges []dream.PlanChange
}

// eventHandler applies one type of event and reports whether it concerned
// a known project. An error rolls the event back so the provider retries
// it; a malformed or foreign event is not an error but ignored.
type eventHandler func(ctx context.Context, a *eventApplication) (bool, error)

var eventHandlers = map[string]eventHandler{
	"checkout.session.completed":               applyCheckoutCompleted,
	"checkout.session.async_payment_succeeded": applyCheckoutCompleted,
	"checkout.session.async_payment_failed":    applyAsyncPaymentFailed,
	"customer.subscription.created":            applySubscriptionEvent,
	"customer.subscription.updated":            applySubscriptionEvent,
	"customer.subscription.deleted":            applySubscriptionEvent,
	"invoice.paid":                             applyInvoiceEvent,
	"invoice.payment_failed":                   applyInvoiceEvent,
	"account.application.deauthorized":         applyDeauthorized,
}

// Ranks of events in a subscription's life, for events of the same second.
const (
	rankCheckout = iota
	rankCreated
	rankUpdated
	rankDeleted
)

// version orders the provider's reports of a subscription: the event time
// in milliseconds plus the event's rank in the subscription's life.
func (a *eventApplication) version(rank int64) int64 {
	return a.event.Created.UnixMilli() + rank
}

// environment resolves the environment a provider object names in its
// metadata, and accepts it only if the event happened in that
// environment's mode on the developer's own connected account: metadata is
// written by whoever creates the object, so it alone proves nothing.
func (a *eventApplication) environment(ctx context.Context, pk string) (*dream.Environment, error) {
	if pk == "" {
		return nil, nil
	}
	env, err := a.tx.EnvironmentByPublishableKey(ctx, pk)
	if err != nil || env == nil {
		return nil, err
	}
	account, err := a.tx.PaymentAccount(ctx, env.Project.PlatformID, env.Mode)
	if err != nil || !a.event.From(env, account) {
		return nil, err
	}
	a.envID = env.ID
	return env, nil
}

// providerID is an id the provider sends either as a string or, when
// expanded, as an object with an id.
type providerID string

func (id *providerID) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte("{")) {
		var object struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &object); err != nil {
			return err
		}
		*id = providerID(object.ID)
		return nil
	}
	if string(b) == "null" {
		*id = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*id = providerID(s)
	return nil
}

// checkoutSession is what we read of a checkout session object.
type checkoutSession struct {
	ID              string     `json:"id"`
	Mode            string     `json:"mode"`
	PaymentStatus   string     `json:"payment_status"`
	Customer        providerID `json:"customer"`
	CustomerEmail   string     `json:"customer_email"`
	CustomerDetails struct {
		Email string `json:"email"`
	} `json:"customer_details"`
	Subscription      providerID        `json:"subscription"`
	PaymentIntent     providerID        `json:"payment_intent"`
	ClientReferenceID string            `json:"client_reference_id"`
	AmountTotal       int64             `json:"amount_total"`
	Currency          string            `json:"currency"`
	Metadata          map[string]string `json:"metadata"`
}

func (s *checkoutSession) email() string {
	if s.CustomerDetails.Email != "" {
		return s.CustomerDetails.Email
	}
	return s.CustomerEmail
}

// applyCheckoutCompleted applies a completed checkout: for a subscription,
// the end user's customer and, until the subscription's own events say
// more, the subscription it started; for a paid store checkout, the order
// and the inventory it takes.
func applyCheckoutCompleted(ctx context.Context, a *eventApplication) (bool, error) {
	var s checkoutSession
	if json.Unmarshal(a.event.Object, &s) != nil {
		return false, nil
	}
	env, err := a.environment(ctx, s.Metadata["publishableKey"])
	if err != nil || env == nil {
		return false, err
	}
	switch s.Mode {
	case string(dream.CheckoutSubscription):
		if a.event.Type != "checkout.session.completed" {
			return false, nil
		}
		return true, a.startSubscription(ctx, env, &s)
	case string(dream.CheckoutPayment):
		if _, paid := a.event.PaidCheckoutSession(); !paid {
			// An asynchronous payment still pending: the order and the
			// inventory wait for async_payment_succeeded.
			return true, nil
		}
		return true, a.recordOrder(ctx, env, &s)
	}
	return false, nil
}

func (a *eventApplication) startSubscription(ctx context.Context, env *dream.Environment, s *checkoutSession) error {
	userID := s.ClientReferenceID
	if userID == "" {
		userID = s.Metadata["userId"]
	}
	if userID == "" {
		return nil
	}
	if err := a.tx.RegisterEndUser(ctx, env.ID, userID, s.email(), a.now); err != nil {
		return err
	}
	if s.Customer != "" {
		if err := a.tx.SetStripeCustomer(ctx, env.ID, userID, string(s.Customer)); err != nil {
			return err
		}
	}
	if s.Subscription == "" {
		return nil
	}
	known, err := a.tx.SubscriptionByID(ctx, string(s.Subscription))
	if err != nil || known != nil {
		// The subscription's own events are more precise than the session.
		return err
	}
	tiers, err := a.tx.Tiers(ctx, env.ID)
	if err != nil {
		return err
	}
	sub := dream.Subscription{
		ID:         string(s.Subscription),
		CustomerID: string(s.Customer),
		Plan:       s.Metadata["tier"],
		Status:     dream.StatusActive,
		Currency:   s.Currency,
		Version:    a.version(rankCheckout),
	}
	if s.PaymentStatus == "no_payment_required" {
		sub.Status = dream.StatusTrialing
	}
	if t := dream.FindTier(tiers, dream.BillingSubscription, sub.Plan); t != nil {
		sub.Plan, sub.PriceID, sub.ProductID, sub.AmountCents = t.Slug, t.StripePriceID, t.StripeProductID, t.PriceCents
	}
	return a.putSubscription(ctx, env, userID, tiers, sub)
}

func (a *eventApplication) recordOrder(ctx context.Context, env *dream.Environment, s *checkoutSession) error {
	created, err := a.tx.RecordOrder(ctx, env.ID, dream.Order{
		ID:                    dream.NewID("ord_"),
		Email:                 s.email(),
		AmountCents:           s.AmountTotal,
		Currency:              s.Currency,
		Items:                 a.lineItems,
		StripeSessionID:       s.ID,
		StripePaymentIntentID: string(s.PaymentIntent),
		CreatedAt:             a.now,
	})
	if err != nil || !created {
		// An order is taken from stock once, however many events say the
		// session was paid.
		return err
	}
	for _, item := range a.lineItems {
		if err := a.tx.TakeInventory(ctx, env.ID, item.PriceID, max(item.Quantity, 1), a.now); err != nil {
			return err
		}
	}
	return nil
}

// applyAsyncPaymentFailed records a store payment that never arrived: no
// order, no inventory taken.
func applyAsyncPaymentFailed(ctx context.Context, a *eventApplication) (bool, error) {
	var s checkoutSession
	if json.Unmarshal(a.event.Object, &s) != nil {
		return false, nil
	}
	env, err := a.environment(ctx, s.Metadata["publishableKey"])
	return env != nil, err
}

// subscriptionObject is what we read of a subscription object.
type subscriptionObject struct {
	ID                  string            `json:"id"`
	Customer            providerID        `json:"customer"`
	Status              string            `json:"status"`
	CancelAtPeriodEnd   bool              `json:"cancel_at_period_end"`
	CanceledAt          int64             `json:"canceled_at"`
	CurrentPeriodEnd    int64             `json:"current_period_end"`
	TrialEnd            int64             `json:"trial_end"`
	Metadata            map[string]string `json:"metadata"`
	CancellationDetails struct {
		Comment string `json:"comment"`
		Reason  string `json:"reason"`
	} `json:"cancellation_details"`
	Items struct {
		Data []struct {
			CurrentPeriodEnd int64 `json:"current_period_end"`
			Price            struct {
				ID         string     `json:"id"`
				Product    providerID `json:"product"`
				UnitAmount int64      `json:"unit_amount"`
				Currency   string     `json:"currency"`
			} `json:"price"`
		} `json:"data"`
	} `json:"items"`
}

// applySubscriptionEvent brings the stored subscription to the state the
// event reports, unless a newer state is stored already.
func applySubscriptionEvent(ctx context.Context, a *eventApplication) (bool, error) {
	var o subscriptionObject
	if json.Unmarshal(a.event.Object, &o) != nil || o.ID == "" {
		return false, nil
	}
	env, err := a.environment(ctx, o.Metadata["publishableKey"])
	if err != nil || env == nil {
		return false, err
	}
	userID := o.Metadata["userId"]
	if userID == "" {
		// Created outside our checkout: nothing ties it to an end user.
		return false, nil
	}
	if deleted, err := a.tx.SubscriptionDeleted(ctx, o.ID); err != nil || deleted {
		// Its customer was deleted; the event must not bring them back.
		return deleted, err
	}
	tiers, err := a.tx.Tiers(ctx, env.ID)
	if err != nil {
		return false, err
	}
	rank := map[string]int64{
		"customer.subscription.created": rankCreated,
		"customer.subscription.updated": rankUpdated,
		"customer.subscription.deleted": rankDeleted,
	}[a.event.Type]
	sub := dream.Subscription{
		ID:                o.ID,
		CustomerID:        string(o.Customer),
		Status:            dream.SubscriptionStatus(o.Status),
		CancelAtPeriodEnd: o.CancelAtPeriodEnd,
		CurrentPeriodEnd:  unixTime(o.CurrentPeriodEnd),
		TrialEnd:          unixTime(o.TrialEnd),
		CanceledAt:        unixTime(o.CanceledAt),
		CancelReason:      o.CancellationDetails.Comment,
		Version:           a.version(rank),
		Plan:              o.Metadata["tier"],
	}
	if sub.CancelReason == "" {
		sub.CancelReason = o.CancellationDetails.Reason
	}
	if a.event.Type == "customer.subscription.deleted" {
		sub.Status = dream.StatusCanceled
	}
	if len(o.Items.Data) > 0 {
		item := o.Items.Data[0]
		sub.PriceID, sub.ProductID = item.Price.ID, string(item.Price.Product)
		sub.AmountCents, sub.Currency = item.Price.UnitAmount, item.Price.Currency
		if sub.CurrentPeriodEnd.IsZero() {
			sub.CurrentPeriodEnd = unixTime(item.CurrentPeriodEnd)
		}
	}
	// The plan follows the price: a switch in the portal changes the price,
	// not the metadata.
	if t := dream.TierWithPrice(tiers, dream.BillingSubscription, sub.PriceID); t != nil {
		sub.Plan = t.Slug
	}
	if err := a.tx.RegisterEndUser(ctx, env.ID, userID, "", a.now); err != nil {
		return false, err
	}
	if sub.CustomerID != "" {
		if err := a.tx.SetStripeCustomer(ctx, env.ID, userID, sub.CustomerID); err != nil {
			return false, err
		}
	}
	return true, a.putSubscription(ctx, env, userID, tiers, sub)
}

// putSubscription stores sub as the end user's subscription if it is newer
// than what is stored, and notes a plan change. The rules: a subscription
// ended is final; for the same subscription the newer version wins; a
// different subscription takes over only while it runs, or when neither
// runs and it is newer, so a late event about an old subscription never
// overwrites the one that replaced it.
func (a *eventApplication) putSubscription(ctx context.Context, env *dream.Environment, userID string, tiers []dream.Tier, sub dream.Subscription) error {
	stored, err := a.tx.UserSubscription(ctx, env.ID, userID)
	if err != nil {
		return err
	}
	if stored != nil {
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
	state, err := a.tx.UserState(ctx, env.ID, userID)
	if err != nil {
		return err
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

// invoiceObject is what we read of an invoice.
type invoiceObject struct {
	Subscription providerID `json:"subscription"`
	Lines        struct {
		Data []struct {
			Period struct {
				End int64 `json:"end"`
			} `json:"period"`
		} `json:"data"`
	} `json:"lines"`
}

// applyInvoiceEvent keeps a subscription's payment state: a paid invoice
// makes a subscription that was behind active again and extends its period;
// a failed one makes an active subscription past due. The subscription's own
// update events carry the same news; whichever is newer wins.
func applyInvoiceEvent(ctx context.Context, a *eventApplication) (bool, error) {
	var inv invoiceObject
	if json.Unmarshal(a.event.Object, &inv) != nil || inv.Subscription == "" {
		return false, nil
	}
	stored, err := a.tx.SubscriptionByID(ctx, string(inv.Subscription))
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
	switch a.event.Type {
	case "invoice.paid":
		if sub.Status == dream.StatusPastDue || sub.Status == dream.StatusUnpaid || sub.Status == dream.StatusIncomplete {
			sub.Status = dream.StatusActive
		}
		for _, line := range inv.Lines.Data {
			if end := unixTime(line.Period.End); end.After(sub.CurrentPeriodEnd) {
				sub.CurrentPeriodEnd = end
			}
		}
	case "invoice.payment_failed":
		if sub.Status == dream.StatusActive {
			sub.Status = dream.StatusPastDue
		}
	}
	sub.Version = a.version(rankUpdated)
	if (sub.Status == stored.Status && sub.CurrentPeriodEnd.Equal(stored.CurrentPeriodEnd)) || sub.Version < stored.Version {
		return true, nil
	}
	tiers, err := a.tx.Tiers(ctx, env.ID)
	if err != nil {
		return false, err
	}
	return true, a.putSubscription(ctx, env, stored.UserID, tiers, sub)
}

// applyDeauthorized forgets a connected account whose owner revoked our
// access: checkouts on it fail until they connect again.
func applyDeauthorized(ctx context.Context, a *eventApplication) (bool, error) {
	if a.event.Account == "" {
		return false, nil
	}
	return a.tx.DisconnectPaymentAccount(ctx, a.event.Account, a.event.Mode())
}

// unixTime reads a provider timestamp; zero stays the zero time.
func unixTime(seconds int64) time.Time {
	if seconds == 0 {
		return time.Time{}
	}
	return time.Unix(seconds, 0).UTC()
}
