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
}

// PaymentAccount says whose payment account a call acts on: the platform's
// key of Mode, on behalf of the developer's connected account.
type PaymentAccount struct {
	Mode Mode
	// AccountID is the developer's connected account ("acct_…").
	AccountID string
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
	// configured secrets.
	VerifyWebhook(payload []byte, signature string) (*PaymentEvent, error)
}

// PaymentEvent is a verified webhook event of the payment provider.
type PaymentEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Livemode decides the environment the event belongs to.
	Livemode bool `json:"livemode"`
	// Account is the connected account the event happened on; "" for the
	// platform's own account.
	Account string    `json:"account,omitempty"`
	Created time.Time `json:"created"`
	// Object is the event's data.object.
	Object json.RawMessage `json:"object"`
	// Payload is the whole event as received, kept with its record.
	Payload json.RawMessage `json:"payload"`
}

// Mode is the environment mode the event belongs to.
func (e *PaymentEvent) Mode() Mode {
	if e.Livemode {
		return ModeLive
	}
	return ModeTest
}

// PaidCheckoutSession returns the id of the checkout session a paid store
// checkout event is about, whose line items must be fetched before the
// event is applied: checkout.session.completed of a payment already paid,
// or checkout.session.async_payment_succeeded.
func (e *PaymentEvent) PaidCheckoutSession() (string, bool) {
	var s struct {
		ID            string `json:"id"`
		Mode          string `json:"mode"`
		PaymentStatus string `json:"payment_status"`
	}
	if json.Unmarshal(e.Object, &s) != nil || s.ID == "" || s.Mode != string(CheckoutPayment) {
		return "", false
	}
	switch e.Type {
	case "checkout.session.completed":
		return s.ID, s.PaymentStatus == "paid"
	case "checkout.session.async_payment_succeeded":
		return s.ID, true
	}
	return "", false
}

// From reports whether the event happened in env: in its mode, on the
// developer's connected account of that mode. Metadata naming a project is
// written by whoever creates the object, so it alone proves nothing.
func (e *PaymentEvent) From(env *Environment, account string) bool {
	return env != nil && env.Mode == e.Mode() && account != "" && account == e.Account
}

// Metadata returns the metadata of the event's object, which names
// the project and end user of objects our checkouts create.
func (e *PaymentEvent) Metadata() map[string]string {
	var o struct {
		Metadata map[string]string `json:"metadata"`
	}
	json.Unmarshal(e.Object, &o)
	return o.Metadata
}
