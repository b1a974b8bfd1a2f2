package emulator

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dream-api/dream"
)

// Checkout session statuses.
const (
	sessionOpen     = "open"
	sessionComplete = "complete"
	sessionExpired  = "expired"
)

// The lifetimes Stripe allows a checkout session, in seconds: 24 hours
// when the request asks for none, and no less than 30 minutes.
const (
	sessionLifetime    = 24 * 60 * 60
	minSessionLifetime = 30 * 60
)

// maxAmount is the largest amount Stripe charges (999,999.99 in a
// two-decimal currency); checking totals against it also keeps the sums
// from overflowing.
const maxAmount = 99_999_999

// maxTrialDays is the longest trial Stripe accepts.
const maxTrialDays = 730

// defaultCurrency is the currency of line items that name none: the one
// dev mode's seeded catalogue uses.
const defaultCurrency = "usd"

// checkoutSession is a stored checkout session.
type checkoutSession struct {
	// CheckoutSession is the request the session was made from, with the
	// currency of its line items filled in. Its CustomerID is the paying
	// customer once a subscription checkout is paid.
	dream.CheckoutSession
	ID          string
	Status      string
	AmountTotal int64
	Currency    string
	Created     int64
	ExpiresAt   int64
	// The rest is set when the session is paid: the email paid with and
	// what the payment created.
	Email         string
	Subscription  string
	Invoice       string
	PaymentIntent string
	// Refund is the refund of the session's payment, once it is given back.
	Refund string
}

// owner is the account and mode the session lives in.
func (s *checkoutSession) owner() owner { return ownerOf(s.Account) }

// successURL is where the customer goes once the session is paid, with
// the session id substituted as Stripe does.
func (s *checkoutSession) successURL() string {
	return strings.ReplaceAll(s.SuccessURL, "{CHECKOUT_SESSION_ID}", s.ID)
}

// CreateCheckoutSession stores a checkout session and returns the URL of
// its page.
func (e *Emulator) CreateCheckoutSession(ctx context.Context, request dream.CheckoutSession) (*dream.CheckoutSessionResult, error) {
	total, err := validateCheckout(request)
	if err != nil {
		return nil, err
	}
	prefix := "cs_test_"
	if request.Account.Mode == dream.ModeLive {
		prefix = "cs_live_"
	}
	request.LineItems = normalizeLineItems(request.LineItems)
	now := e.now().Unix()
	session := &checkoutSession{
		CheckoutSession: request,
		ID:              dream.NewID(prefix),
		Status:          sessionOpen,
		AmountTotal:     total,
		Currency:        request.LineItems[0].Currency,
		Created:         now,
		ExpiresAt:       now + sessionLifetime,
	}
	if request.Lifetime > 0 {
		session.ExpiresAt = now + int64(request.Lifetime/time.Second)
	}
	err = e.update(ctx, func(tx *sql.Tx) error {
		if request.CustomerID != "" {
			if _, err := customerOf(ctx, tx, session.owner(), request.CustomerID); err != nil {
				return err
			}
		}
		return put(ctx, tx, checkoutSessionsTable, session.ID, session)
	})
	if err != nil {
		return nil, err
	}
	return &dream.CheckoutSessionResult{ID: session.ID, URL: e.baseURL + "/dev/checkout/" + session.ID}, nil
}

// validateCheckout returns the total of a valid request, or what is wrong
// with it.
func validateCheckout(r dream.CheckoutSession) (int64, error) {
	if err := validateAccount(r.Account); err != nil {
		return 0, err
	}
	if r.Mode != dream.CheckoutSubscription && r.Mode != dream.CheckoutPayment {
		return 0, rejected("Unknown checkout mode %q: use subscription or payment", r.Mode)
	}
	if len(r.LineItems) == 0 {
		return 0, rejected("A checkout needs at least one line item")
	}
	var total int64
	for i, item := range r.LineItems {
		switch {
		case item.PriceID == "":
			return 0, rejected("Line item %d has no price", i)
		case item.Quantity < 1:
			return 0, rejected("Line item %d (%s) needs a quantity of at least 1", i, item.PriceID)
		case item.UnitAmount < 0 || item.UnitAmount > maxAmount:
			return 0, rejected("Line item %d (%s) has a unit amount outside 0 to %d", i, item.PriceID, maxAmount)
		case r.Mode == dream.CheckoutSubscription && !item.Recurring:
			return 0, rejected("Line item %d (%s) is a one-off price; a subscription checkout takes recurring prices only", i, item.PriceID)
		case r.Mode == dream.CheckoutPayment && item.Recurring:
			return 0, rejected("Line item %d (%s) is a recurring price; a payment checkout takes one-off prices only", i, item.PriceID)
		case currencyOf(item) != currencyOf(r.LineItems[0]):
			return 0, rejected("Line items must share one currency, not %s and %s", currencyOf(r.LineItems[0]), currencyOf(item))
		case item.UnitAmount > 0 && item.Quantity > (maxAmount-total)/item.UnitAmount:
			return 0, rejected("The total exceeds the largest amount, %d", maxAmount)
		}
		total += item.UnitAmount * item.Quantity
	}
	if r.Mode == dream.CheckoutPayment && total == 0 {
		return 0, rejected("A payment checkout needs a total above zero")
	}
	if r.Lifetime != 0 && (r.Lifetime < minSessionLifetime*time.Second || r.Lifetime > sessionLifetime*time.Second) {
		return 0, rejected("A checkout session lasts from 30 minutes to 24 hours, not %s", r.Lifetime)
	}
	if r.TrialDays < 0 || r.TrialDays > maxTrialDays {
		return 0, rejected("Trial days must be between 0 and %d, not %d", maxTrialDays, r.TrialDays)
	}
	if r.TrialDays > 0 && r.Mode != dream.CheckoutSubscription {
		return 0, rejected("Only a subscription checkout can have a trial")
	}
	if err := validateURL("success URL", r.SuccessURL); err != nil {
		return 0, err
	}
	if err := validateURL("cancel URL", r.CancelURL); err != nil {
		return 0, err
	}
	return total, nil
}

// validateAccount checks that a call names a mode and a connected account.
func validateAccount(a dream.PaymentAccount) error {
	if !a.Mode.Valid() {
		return rejected("Unknown mode %q", a.Mode)
	}
	if a.AccountID == "" {
		return rejected("A connected account is required")
	}
	return nil
}

// validateURL checks that raw, the URL called name, is an absolute http or
// https URL, the only kind a browser can be sent to.
func validateURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return rejected("The %s must be an absolute http(s) URL, not %q", name, raw)
	}
	return nil
}

// currencyOf is the lowercase currency of a line item, which Stripe would
// take from the price.
func currencyOf(item dream.LineItem) string {
	if item.Currency == "" {
		return defaultCurrency
	}
	return strings.ToLower(item.Currency)
}

// normalizeLineItems returns a copy of items with their currencies filled
// in, as listed line items report them.
func normalizeLineItems(items []dream.LineItem) []dream.LineItem {
	items = slices.Clone(items)
	for i := range items {
		items[i].Currency = currencyOf(items[i])
	}
	return items
}

// customerOf returns the customer id of o, or the error Stripe answers
// when there is none.
func customerOf(ctx context.Context, q queryer, o owner, id string) (*customer, error) {
	var c customer
	found, err := get(ctx, q, customersTable, id, &c)
	if err != nil {
		return nil, err
	}
	if !found || c.owner != o {
		return nil, rejected("No such customer: %s", id)
	}
	return &c, nil
}

// checkoutSessionOf returns the checkout session id of o.
func checkoutSessionOf(ctx context.Context, q queryer, o owner, id string) (*checkoutSession, error) {
	var s checkoutSession
	found, err := get(ctx, q, checkoutSessionsTable, id, &s)
	if err != nil {
		return nil, err
	}
	if !found || s.owner() != o {
		return nil, notFound("No such checkout session: %s", id)
	}
	return &s, nil
}

// CheckoutLineItems returns the line items of a checkout session of the
// account.
func (e *Emulator) CheckoutLineItems(ctx context.Context, account dream.PaymentAccount, sessionID string) ([]dream.LineItem, error) {
	if err := validateAccount(account); err != nil {
		return nil, err
	}
	session, err := checkoutSessionOf(ctx, e.db, ownerOf(account), sessionID)
	if err != nil {
		return nil, err
	}
	return session.LineItems, nil
}

// pay completes the open checkout session id, paid with email when the
// session has no customer of its own, and returns it and the events to
// deliver. A subscription checkout creates the customer if need be and the
// subscription; a payment checkout creates a payment intent.
func (e *Emulator) pay(ctx context.Context, id, email string) (*checkoutSession, []event, error) {
	now := e.now().Unix()
	var session *checkoutSession
	var events []event
	err := e.update(ctx, func(tx *sql.Tx) error {
		var s checkoutSession
		found, err := get(ctx, tx, checkoutSessionsTable, id, &s)
		if err != nil {
			return err
		}
		switch {
		case !found:
			return notFound("No such checkout session: %s", id)
		case s.Status == sessionComplete:
			return dream.Errorf(dream.KindConflict, "payment_request_rejected", "This checkout session is already paid")
		case s.Status == sessionExpired || now >= s.ExpiresAt:
			return dream.Errorf(dream.KindConflict, "payment_request_rejected", "This checkout session has expired")
		}
		session = &s

		var paying *customer
		if s.CustomerID != "" {
			if paying, err = customerOf(ctx, tx, s.owner(), s.CustomerID); err != nil {
				return err
			}
			email = paying.Email
		} else if email == "" {
			email = s.CustomerEmail
		}
		if !strings.Contains(email, "@") {
			return rejected("Enter the email address to pay with")
		}
		s.Status = sessionComplete
		s.Email = email

		if s.Mode == dream.CheckoutPayment {
			s.PaymentIntent = dream.NewID("pi_")
			events = []event{newEvent(s.owner(), "checkout.session.completed", now, s.object(), nil)}
			return put(ctx, tx, checkoutSessionsTable, s.ID, &s)
		}

		if paying == nil {
			paying = &customer{owner: s.owner(), ID: dream.NewID("cus_"), Email: email, Created: now}
			if err := put(ctx, tx, customersTable, paying.ID, paying); err != nil {
				return err
			}
			s.CustomerID = paying.ID
		}
		sub := newSubscription(&s, now)
		var invoice object
		if sub.Status == dream.StatusActive && sub.amount() > 0 {
			// The first invoice of a subscription covers no time before it,
			// so Stripe gives it an empty period at creation.
			invoice = sub.invoice("subscription_create", now, now, now)
			s.Invoice = sub.LatestInvoice
		}
		s.Subscription = sub.ID
		if err := putSubscription(ctx, tx, sub); err != nil {
			return err
		}
		if err := put(ctx, tx, checkoutSessionsTable, s.ID, &s); err != nil {
			return err
		}
		events = []event{
			newEvent(s.owner(), "customer.subscription.created", now, sub.object(), nil),
			newEvent(s.owner(), "checkout.session.completed", now, s.object(), nil),
		}
		if invoice != nil {
			events = append(events, newEvent(s.owner(), "invoice.paid", now, invoice, nil))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return session, events, nil
}

// lineItemName names a line item on the pages: its description, or its
// price id when it has none.
func lineItemName(item dream.LineItem) string {
	if item.Description != "" {
		return item.Description
	}
	return item.PriceID
}

// formatAmount formats an amount in the smallest unit of currency.
func formatAmount(amount int64, currency string) string {
	code := strings.ToUpper(currency)
	if zeroDecimal[currency] {
		return fmt.Sprintf("%d %s", amount, code)
	}
	return fmt.Sprintf("%d.%02d %s", amount/100, amount%100, code)
}

// zeroDecimal are the currencies Stripe counts in whole units rather than
// hundredths.
var zeroDecimal = map[string]bool{
	"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true, "krw": true, "mga": true,
	"pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true, "xof": true, "xpf": true,
}

// expireSessions expires the open checkout sessions whose time is up at
// now and returns the event each sends, as Stripe does when a session
// lapses unpaid.
func expireSessions(ctx context.Context, tx *sql.Tx, now int64) ([]event, error) {
	// The emulator keeps sessions as JSON, so it reads them all: fine at
	// the scale of a developer's machine.
	lapsed, err := selectAll(ctx, tx, func(s *checkoutSession) bool { return s.Status == sessionOpen && s.ExpiresAt <= now },
		`SELECT data FROM `+checkoutSessionsTable)
	if err != nil {
		return nil, err
	}
	var events []event
	for _, s := range lapsed {
		s.Status = sessionExpired
		if err := put(ctx, tx, checkoutSessionsTable, s.ID, s); err != nil {
			return nil, err
		}
		events = append(events, newEvent(s.owner(), "checkout.session.expired", s.ExpiresAt, s.object(), nil))
	}
	return events, nil
}

// RefundPayment implements dream.Payments: the paid checkout session of the
// payment gives its payment back, once however often it is asked.
func (e *Emulator) RefundPayment(ctx context.Context, account dream.PaymentAccount, paymentIntentID, idempotencyKey string) (string, error) {
	if err := validateAccount(account); err != nil {
		return "", err
	}
	var refund string
	err := e.update(ctx, func(tx *sql.Tx) error {
		found, err := selectAll(ctx, tx, func(s *checkoutSession) bool {
			return s.owner() == ownerOf(account) && s.PaymentIntent != "" && s.PaymentIntent == paymentIntentID
		}, `SELECT data FROM `+checkoutSessionsTable)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return notFound("No such payment_intent: %s", paymentIntentID)
		}
		paid := found[0]
		if paid.Refund == "" {
			paid.Refund = dream.NewID("re_")
			if err := put(ctx, tx, checkoutSessionsTable, paid.ID, paid); err != nil {
				return err
			}
		}
		refund = paid.Refund
		return nil
	})
	return refund, err
}
