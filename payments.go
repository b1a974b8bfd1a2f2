package dream

import (
	"context"
	"encoding/json"
	"time"
)

// Payments is the payment provider as the API uses it: hosted checkout
// pages, the customer portal, and the few calls that webhook handling and
// the customers API need. billing.Stripe calls Stripe on the developer's
// connected account; the dev-mode emulator stands in for it offline and
// answers the same way, webhooks included.
type Payments interface {
	// CreateCheckoutSession creates a hosted checkout page for a
	// subscription or a one-off payment and returns its id and URL.
	CreateCheckoutSession(ctx context.Context, s CheckoutSession) (*CheckoutSessionResult, error)
	// CreatePortalSession creates a customer portal page where the customer
	// manages their subscription, and returns its URL.
	CreatePortalSession(ctx context.Context, s PortalSession) (string, error)
	// CheckoutLineItems lists every line item of a checkout session, all
	// pages of them.
	CheckoutLineItems(ctx context.Context, account PaymentAccount, sessionID string) ([]LineItem, error)
	// CancelSubscription cancels a subscription at the end of its current
	// period, or at once.
	CancelSubscription(ctx context.Context, account PaymentAccount, subscriptionID string, atPeriodEnd bool) error
	// RefundPayment gives a payment back in full and returns the refund's
	// id. idempotencyKey makes a retry of the same refund refund once.
	RefundPayment(ctx context.Context, account PaymentAccount, paymentIntentID, idempotencyKey string) (string, error)
}

// PaymentAccount says whose payment account a call acts on: the platform's
// key of Mode, on behalf of the developer's connected account.
type PaymentAccount struct {
	Mode Mode
	// AccountID is the developer's connected account ("acct_…").
	AccountID string
}

// ConnectedAccount is the developer's connected payment account for env,
// or the error that asks them to connect one.
func ConnectedAccount(ctx context.Context, dir PaymentDirectory, env *Environment) (PaymentAccount, error) {
	id, err := dir.PaymentAccount(ctx, env.Project.PlatformID, env.Mode)
	if err != nil {
		return PaymentAccount{}, err
	}
	if id == "" {
		return PaymentAccount{}, Errorf(KindInvalid, "Developer has not connected their Stripe account",
			"Connect a Stripe account for %s mode in the dashboard before taking payments", env.Mode)
	}
	return PaymentAccount{Mode: env.Mode, AccountID: id}, nil
}

// CheckoutMode is what a checkout session sells.
type CheckoutMode string

// The checkout modes.
const (
	CheckoutSubscription CheckoutMode = "subscription"
	CheckoutPayment      CheckoutMode = "payment"
)

// CheckoutSession is a request for a hosted checkout page.
type CheckoutSession struct {
	Account   PaymentAccount
	Mode      CheckoutMode
	LineItems []LineItem
	// CustomerID reuses the end user's existing customer at the provider;
	// without it CustomerEmail, if any, prefills the page.
	CustomerID        string
	CustomerEmail     string
	ClientReferenceID string
	SuccessURL        string
	CancelURL         string
	// Metadata is set on the session; SubscriptionMetadata on the
	// subscription a subscription checkout creates, so that every later
	// subscription event names its project and end user.
	Metadata             map[string]string
	SubscriptionMetadata map[string]string
	TrialDays            int
	AutomaticTax         bool
	// Lifetime is how long the page takes payment, from its creation by
	// the provider's clock; zero for the provider's default.
	Lifetime time.Duration
}

// CheckoutSessionResult is a created checkout page.
type CheckoutSessionResult struct {
	ID  string
	URL string
}

// LineItem is one price in a checkout, as sent and as reported back.
type LineItem struct {
	PriceID  string `json:"priceId"`
	Quantity int64  `json:"quantity"`
	// The rest describes the price as the catalogue knows it. Stripe has its
	// own copy and ignores these when creating a session; the emulator,
	// which has no catalogue, keeps them. Listed line items report them.
	ProductID   string `json:"productId,omitempty"`
	Description string `json:"description,omitempty"`
	UnitAmount  int64  `json:"unitAmount"`
	Currency    string `json:"currency,omitempty"`
	Recurring   bool   `json:"recurring,omitempty"`
}

// PortalSession is a request for a customer portal page.
type PortalSession struct {
	Account    PaymentAccount
	CustomerID string
	ReturnURL  string
	// Plans are the subscription tiers a customer may switch between.
	// Stripe takes them from the account's portal configuration; the
	// emulator offers these.
	Plans []LineItem
}

// WebhookVerifier checks the signature of a payment provider's webhook
// request and returns the event it carries.
type WebhookVerifier interface {
	// VerifyWebhook returns the event of payload if signature is a valid
	// signature of it, no older than the tolerance, by one of the
	// configured secrets. A signature that is missing or does not verify
	// is a KindInvalid error.
	VerifyWebhook(payload []byte, signature string) (*PaymentEvent, error)
}

// PaymentEvent is a verified event of the payment provider as what it means
// to Dream API: where it happened and the one change it reports, if any.
// Package billing makes them from the provider's webhook events; the
// primary applies them and never reads the provider's own shapes.
type PaymentEvent struct {
	// ID is the provider's event id: an event is applied once.
	ID string `json:"id"`
	// Type is the provider's event type, recorded with the event.
	Type string `json:"type"`
	// Mode is the mode of the environment the event belongs to.
	Mode Mode `json:"mode"`
	// Account is the connected account the event happened on; "" for the
	// platform's own account.
	Account string    `json:"account,omitempty"`
	Created time.Time `json:"created"`
	// Payload is the whole event as received, kept with its record.
	Payload json.RawMessage `json:"payload"`

	// The change the event reports: at most one is set. An event of a type
	// not handled, or whose object cannot be read, has none and is recorded
	// as ignored.
	Checkout     *CheckoutCompleted   `json:"checkout,omitempty"`
	Expired      *CheckoutExpired     `json:"expired,omitempty"`
	Subscription *SubscriptionChanged `json:"subscription,omitempty"`
	Invoice      *InvoicePayment      `json:"invoice,omitempty"`
	// Deauthorized: the developer revoked our access to Account.
	Deauthorized bool `json:"deauthorized,omitempty"`
}

// CheckoutCompleted reports a checkout session that a customer finished,
// or whose asynchronous payment then arrived or failed.
type CheckoutCompleted struct {
	SessionID string       `json:"sessionId"`
	Mode      CheckoutMode `json:"mode"`
	// PublishableKey, UserID and Tier are what our checkouts write into a
	// session: its environment, end user (subscription checkouts) and
	// canonical tier.
	PublishableKey string `json:"publishableKey,omitempty"`
	UserID         string `json:"userId,omitempty"`
	Tier           string `json:"tier,omitempty"`
	// PlatformID is what the platform plan's checkouts write instead: the
	// developer who subscribes.
	PlatformID string `json:"platformId,omitempty"`
	// ReservationID is the reservation of a store checkout's stock.
	ReservationID string `json:"reservationId,omitempty"`
	CustomerID    string `json:"customerId,omitempty"`
	Email         string `json:"email,omitempty"`
	// SubscriptionID is the subscription a subscription checkout started.
	SubscriptionID  string       `json:"subscriptionId,omitempty"`
	Payment         PaymentState `json:"payment"`
	PaymentIntentID string       `json:"paymentIntentId,omitempty"`
	AmountCents     int64        `json:"amountCents"`
	Currency        string       `json:"currency,omitempty"`
	// Version orders this report of the subscription among the provider's
	// others (Subscription.Version).
	Version int64 `json:"version"`
}

// PaymentState is where a finished checkout's payment stands.
type PaymentState string

// The states of a checkout's payment.
const (
	// PaymentPaid: the money arrived. A store order is placed.
	PaymentPaid PaymentState = "paid"
	// PaymentNotRequired: nothing was due, as for a subscription that
	// starts with a trial.
	PaymentNotRequired PaymentState = "no_payment_required"
	// PaymentPending: an asynchronous payment (a bank debit) is on its way;
	// nothing is sold until it arrives.
	PaymentPending PaymentState = "pending"
	// PaymentFailed: the asynchronous payment failed; nothing is sold.
	PaymentFailed PaymentState = "failed"
)

// CheckoutExpired reports a checkout session that lapsed unpaid: what it
// reserved returns to stock.
type CheckoutExpired struct {
	SessionID      string `json:"sessionId"`
	PublishableKey string `json:"publishableKey,omitempty"`
	ReservationID  string `json:"reservationId,omitempty"`
}

// SubscriptionChanged reports the state of a subscription: created,
// updated or deleted (then with StatusCanceled).
type SubscriptionChanged struct {
	// PublishableKey and UserID are what our checkouts write into a
	// subscription: its environment and end user.
	PublishableKey string `json:"publishableKey,omitempty"`
	UserID         string `json:"userId,omitempty"`
	// PlatformID is the developer a platform plan subscription is of.
	PlatformID string `json:"platformId,omitempty"`
	// Subscription is the reported state. Its Plan is the tier our checkout
	// named, which the price overrides when it is a tier's.
	Subscription Subscription `json:"subscription"`
}

// InvoicePayment reports an invoice of a subscription paid, or its payment
// failed.
type InvoicePayment struct {
	SubscriptionID string `json:"subscriptionId"`
	Paid           bool   `json:"paid"`
	// PeriodEnd is the latest end of the periods the invoice bills; zero
	// if it names none.
	PeriodEnd time.Time `json:"periodEnd,omitzero"`
	// Version orders this report of the subscription among the provider's
	// others (Subscription.Version).
	Version int64 `json:"version"`
}

// LineItemsNeeded is the checkout session whose line items applying the
// event needs, fetched from the provider beforehand because events do not
// carry them: a paid store checkout's. ok is false for any other event.
func (e *PaymentEvent) LineItemsNeeded() (sessionID string, ok bool) {
	if c := e.Checkout; c != nil && c.Mode == CheckoutPayment && c.Payment == PaymentPaid {
		return c.SessionID, true
	}
	return "", false
}

// PaymentDirectory is what deciding an event's environment reads: a node's
// copy of the database, or the primary's transaction.
type PaymentDirectory interface {
	EnvironmentByPublishableKey(ctx context.Context, pk string) (*Environment, error)
	PaymentAccount(ctx context.Context, platformID string, mode Mode) (string, error)
}

// Environment is the environment of publishableKey if the event happened
// in it: in its mode, on the developer's connected account of that mode;
// nil otherwise. Metadata naming a project is written by whoever creates
// the object, so it alone proves nothing. This is the one ownership check
// of payment events.
func (e *PaymentEvent) Environment(ctx context.Context, dir PaymentDirectory, publishableKey string) (*Environment, error) {
	if publishableKey == "" {
		return nil, nil
	}
	env, err := dir.EnvironmentByPublishableKey(ctx, publishableKey)
	if err != nil || env == nil || env.Mode != e.Mode {
		return nil, err
	}
	account, err := dir.PaymentAccount(ctx, env.Project.PlatformID, env.Mode)
	if err != nil || account == "" || account != e.Account {
		return nil, err
	}
	return env, nil
}
