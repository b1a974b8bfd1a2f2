// Package billing connects Dream API to Stripe, its payment provider. Stripe
// implements dream.Payments: hosted checkout and portal pages, the line items
// of paid checkouts and subscription cancellation, each called with the
// platform's secret key on behalf of the developer's connected account.
// WebhookVerifier implements dream.WebhookVerifier for the events Stripe
// sends back. The dev-mode emulator in billing/emulator stands in for both
// offline.
package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/dream-api/dream"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// StripeConfig configures Stripe.
type StripeConfig struct {
	// SecretKey is the platform's live secret key (sk_live_…), used for
	// live-mode calls.
	SecretKey string
	// SecretKeyTest is the platform's test secret key (sk_test_…), used for
	// test-mode calls.
	SecretKeyTest string
	// APIURL replaces Stripe's API; "" means Stripe's own. Tests point it at
	// stripe-mock.
	APIURL string
	// HTTPClient makes the calls; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Logger receives Stripe's refusals and stripe-go's own messages; nil
	// discards them.
	Logger *slog.Logger
	// ConnectClientID and ConnectClientIDTest are the platform's Connect
	// application ids (ca_…) of each mode; PublicURL is the server's own
	// URL, on which Stripe returns to the Connect callback. Without them
	// Connect is off.
	ConnectClientID     string
	ConnectClientIDTest string
	PublicURL           string
	// ConnectURL replaces Stripe's Connect host (connect.stripe.com), whose
	// token call exchanges authorization codes; "" means Stripe's own.
	ConnectURL string
}

// httpTimeout bounds one attempt of a call when the configuration brings no
// HTTP client. stripe-go's own default is 80 s, longer than anyone waits
// for a checkout page to open.
const httpTimeout = 30 * time.Second

// maxNetworkRetries is how often stripe-go retries a call that failed on
// the network or that Stripe marked as safe to retry. The call's
// idempotency key makes each retry safe.
const maxNetworkRetries = 2

// lineItemsPageSize is the largest page Stripe serves, so that nearly every
// checkout's line items take one request.
const lineItemsPageSize = 100

// Stripe implements dream.Payments on Stripe. Every call uses the platform's
// secret key of the account's mode and acts on the developer's connected
// account. It is safe for concurrent use.
type Stripe struct {
	// clients holds one client per mode whose key is configured. Both
	// modes are in use at once, which is why stripe-go's package-level key
	// and backends are never touched.
	clients map[dream.Mode]*client.API
	// keys are the platform's secret keys by mode, which the Connect token
	// call sends as its client secret.
	keys             map[dream.Mode]string
	connectClientIDs map[dream.Mode]string
	publicURL        string
	logger           *slog.Logger
}

var _ dream.Payments = (*Stripe)(nil)

// NewStripe returns a Stripe configured by c. A mode whose key is empty is
// not configured: its calls fail with payments_not_configured.
func NewStripe(c StripeConfig) *Stripe {
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	httpClient := c.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: httpTimeout}
	}
	backend := func(kind stripe.SupportedBackend, url string) stripe.Backend {
		// Each backend gets a config of its own: GetBackendWithConfig fills
		// in defaults in place, so the config shared by
		// NewBackendsWithConfig would hand the API's URL to the Connect and
		// Uploads backends.
		config := &stripe.BackendConfig{
			HTTPClient:        httpClient,
			LeveledLogger:     stripeLogger{logger},
			MaxNetworkRetries: stripe.Int64(maxNetworkRetries),
		}
		if url != "" {
			config.URL = stripe.String(url)
		}
		return stripe.GetBackendWithConfig(kind, config)
	}
	// Backends hold no key, so both modes' clients share them.
	backends := &stripe.Backends{
		API:     backend(stripe.APIBackend, c.APIURL),
		Connect: backend(stripe.ConnectBackend, c.ConnectURL),
		Uploads: backend(stripe.UploadsBackend, ""),
	}
	s := &Stripe{
		clients:          make(map[dream.Mode]*client.API),
		keys:             map[dream.Mode]string{dream.ModeLive: c.SecretKey, dream.ModeTest: c.SecretKeyTest},
		connectClientIDs: map[dream.Mode]string{dream.ModeLive: c.ConnectClientID, dream.ModeTest: c.ConnectClientIDTest},
		publicURL:        strings.TrimRight(c.PublicURL, "/"),
		logger:           logger,
	}
	for mode, key := range s.keys {
		if key != "" {
			s.clients[mode] = client.New(key, backends)
		}
	}
	return s
}

// CreateCheckoutSession implements dream.Payments.
func (s *Stripe) CreateCheckoutSession(ctx context.Context, session dream.CheckoutSession) (*dream.CheckoutSessionResult, error) {
	api, err := s.client(session.Account)
	if err != nil {
		return nil, err
	}
	params := &stripe.CheckoutSessionParams{
		Params:            changeParams(ctx, session.Account),
		Mode:              stripe.String(string(session.Mode)),
		ClientReferenceID: optional(session.ClientReferenceID),
		SuccessURL:        optional(session.SuccessURL),
		CancelURL:         optional(session.CancelURL),
		Metadata:          session.Metadata,
	}
	// Stripe keeps its own copy of each price, so only the price and the
	// quantity are sent.
	for _, item := range session.LineItems {
		params.LineItems = append(params.LineItems, &stripe.CheckoutSessionLineItemParams{
			Price:    stripe.String(item.PriceID),
			Quantity: stripe.Int64(item.Quantity),
		})
	}
	// An existing customer keeps one customer per end user at Stripe; the
	// email only prefills the page of a customer Stripe will create.
	if session.CustomerID != "" {
		params.Customer = stripe.String(session.CustomerID)
	} else {
		params.CustomerEmail = optional(session.CustomerEmail)
	}
	// Stripe refuses subscription_data outside subscription mode.
	if session.Mode == dream.CheckoutSubscription {
		params.SubscriptionData = &stripe.CheckoutSessionSubscriptionDataParams{
			Metadata: session.SubscriptionMetadata,
		}
		if session.TrialDays > 0 {
			params.SubscriptionData.TrialPeriodDays = stripe.Int64(int64(session.TrialDays))
		}
	}
	if session.Lifetime > 0 {
		params.ExpiresAt = stripe.Int64(time.Now().Add(session.Lifetime).Unix())
	}
	// Automatic tax needs the account's tax settings, so it is asked for
	// only when the developer turned it on.
	if session.AutomaticTax {
		params.AutomaticTax = &stripe.CheckoutSessionAutomaticTaxParams{Enabled: stripe.Bool(true)}
	}
	created, err := api.CheckoutSessions.New(params)
	if err != nil {
		return nil, s.fail("create checkout session", session.Account, err)
	}
	return &dream.CheckoutSessionResult{ID: created.ID, URL: created.URL}, nil
}

// CreatePortalSession implements dream.Payments. The portal offers the plans
// of the account's portal configuration at Stripe, so session.Plans is not
// sent.
func (s *Stripe) CreatePortalSession(ctx context.Context, session dream.PortalSession) (string, error) {
	api, err := s.client(session.Account)
	if err != nil {
		return "", err
	}
	created, err := api.BillingPortalSessions.New(&stripe.BillingPortalSessionParams{
		Params:    changeParams(ctx, session.Account),
		Customer:  stripe.String(session.CustomerID),
		ReturnURL: optional(session.ReturnURL),
	})
	if err != nil {
		return "", s.fail("create portal session", session.Account, err)
	}
	return created.URL, nil
}

// CheckoutLineItems implements dream.Payments. stripe-go's iterator fetches
// the next page while Stripe reports more, so no line item is missed.
func (s *Stripe) CheckoutLineItems(ctx context.Context, account dream.PaymentAccount, sessionID string) ([]dream.LineItem, error) {
	api, err := s.client(account)
	if err != nil {
		return nil, err
	}
	iter := api.CheckoutSessions.ListLineItems(&stripe.CheckoutSessionListLineItemsParams{
		ListParams: stripe.ListParams{
			Context:       ctx,
			StripeAccount: stripe.String(account.AccountID),
			Limit:         stripe.Int64(lineItemsPageSize),
		},
		Session: stripe.String(sessionID),
	})
	var items []dream.LineItem
	for iter.Next() {
		line := iter.LineItem()
		item := dream.LineItem{
			Quantity:    line.Quantity,
			Description: line.Description,
			Currency:    string(line.Currency),
		}
		if price := line.Price; price != nil {
			item.PriceID = price.ID
			item.UnitAmount = price.UnitAmount
			item.Recurring = price.Recurring != nil
			if price.Product != nil {
				item.ProductID = price.Product.ID
			}
		}
		items = append(items, item)
	}
	if err := iter.Err(); err != nil {
		return nil, s.fail("list checkout line items", account, err)
	}
	return items, nil
}

// CancelSubscription implements dream.Payments.
func (s *Stripe) CancelSubscription(ctx context.Context, account dream.PaymentAccount, subscriptionID string, atPeriodEnd bool) error {
	api, err := s.client(account)
	if err != nil {
		return err
	}
	if atPeriodEnd {
		_, err = api.Subscriptions.Update(subscriptionID, &stripe.SubscriptionParams{
			Params:            changeParams(ctx, account),
			CancelAtPeriodEnd: stripe.Bool(true),
		})
	} else {
		_, err = api.Subscriptions.Cancel(subscriptionID, &stripe.SubscriptionCancelParams{
			Params: changeParams(ctx, account),
		})
	}
	if err != nil {
		return s.fail("cancel subscription", account, err)
	}
	return nil
}

// RefundPayment implements dream.Payments.
func (s *Stripe) RefundPayment(ctx context.Context, account dream.PaymentAccount, paymentIntentID, idempotencyKey string) (string, error) {
	api, err := s.client(account)
	if err != nil {
		return "", err
	}
	params := &stripe.RefundParams{
		Params:        changeParams(ctx, account),
		PaymentIntent: stripe.String(paymentIntentID),
	}
	params.IdempotencyKey = stripe.String(idempotencyKey)
	refund, err := api.Refunds.New(params)
	if err != nil {
		return "", s.fail("refund payment", account, err)
	}
	return refund.ID, nil
}

// client returns the client of account's mode, or the error that keeps the
// call from being made at all.
func (s *Stripe) client(account dream.PaymentAccount) (*client.API, error) {
	if !account.Mode.Valid() {
		return nil, fmt.Errorf("billing: payment account mode %q is neither test nor live", account.Mode)
	}
	api := s.clients[account.Mode]
	if api == nil {
		return nil, &dream.Error{
			Kind:    dream.KindUnavailable,
			Code:    "payments_not_configured",
			Message: fmt.Sprintf("Payments in %s mode are not configured on this server", account.Mode),
		}
	}
	if account.AccountID == "" {
		return nil, errNotConnected
	}
	return api, nil
}

// changeParams returns the parameters every creating or changing call
// shares: it acts on the connected account, and carries an idempotency key
// of its own. stripe-go sends the key with each of its retries of the call,
// so Stripe applies the call once however often it is retried, while two
// calls are never mistaken for one.
func changeParams(ctx context.Context, account dream.PaymentAccount) stripe.Params {
	return stripe.Params{
		Context:        ctx,
		StripeAccount:  stripe.String(account.AccountID),
		IdempotencyKey: stripe.String(dream.NewID("dream_")),
	}
}

// optional returns nil for "", which stripe-go leaves out of the request,
// and a pointer to s otherwise: Stripe refuses some parameters sent empty.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// The errors a failed call answers with. Stripe's own message, which may
// name parameters and objects of the developer's account, is logged and
// never shown.
var (
	errNotConnected = &dream.Error{
		Kind:    dream.KindInvalid,
		Code:    "Developer has not connected their Stripe account",
		Message: "The project's Stripe account is not connected or has revoked access",
	}
	errProviderUnavailable = &dream.Error{
		Kind:    dream.KindUnavailable,
		Code:    "payment_provider_unavailable",
		Message: "The payment provider could not be reached; try again",
	}
	errRequestRejected = &dream.Error{
		Kind:    dream.KindInvalid,
		Code:    "payment_request_rejected",
		Message: "The payment provider rejected the request",
	}
)

// fail logs why call on account failed and returns the error the caller
// answers with.
func (s *Stripe) fail(call string, account dream.PaymentAccount, err error) error {
	var stripeErr *stripe.Error
	if !errors.As(err, &stripeErr) {
		// The network failed, the call timed out, or the answer could not
		// be read: the call may succeed when tried again.
		s.logger.Warn("stripe unreachable", "call", call, "mode", account.Mode, "account", account.AccountID, "error", err)
		return errProviderUnavailable
	}
	s.logger.Warn("stripe refused",
		"call", call, "mode", account.Mode, "account", account.AccountID,
		"status", stripeErr.HTTPStatusCode, "type", string(stripeErr.Type), "code", string(stripeErr.Code),
		"param", stripeErr.Param, "message", stripeErr.Msg, "request_id", stripeErr.RequestID)
	switch {
	case stripeErr.HTTPStatusCode == http.StatusTooManyRequests || stripeErr.HTTPStatusCode >= http.StatusInternalServerError:
		return errProviderUnavailable
	// Checked before authentication_error so that an account that revoked
	// our access is the developer's to fix, never a server error.
	case stripeErr.Type == "permission_error" || stripeErr.Code == stripe.ErrorCodeAccountInvalid:
		return errNotConnected
	// The platform's own key was refused: only the operator can fix that.
	case stripeErr.Type == "authentication_error":
		return fmt.Errorf("billing: %s: Stripe refused the platform's %s key: %w", call, account.Mode, err)
	default:
		return errRequestRejected
	}
}

// stripeLogger passes stripe-go's messages to slog rather than to stderr,
// stripe-go's default. Its errors go out at debug level because every
// failure it logs is also returned, and Stripe.fail logs it once with the
// call and the account. Its warnings announce retries. Its debug messages
// are dropped: they hold whole response bodies, with customers' personal
// data that must not reach the logs.
type stripeLogger struct {
	logger *slog.Logger
}

// Debugf drops the message; see stripeLogger.
func (l stripeLogger) Debugf(format string, v ...any) {}

// Errorf logs at debug level; see stripeLogger.
func (l stripeLogger) Errorf(format string, v ...any) { l.log(slog.LevelDebug, format, v) }

// Infof logs at debug level.
func (l stripeLogger) Infof(format string, v ...any) { l.log(slog.LevelDebug, format, v) }

// Warnf logs at info level; see stripeLogger.
func (l stripeLogger) Warnf(format string, v ...any) { l.log(slog.LevelInfo, format, v) }

// log formats the message only when it is logged: stripe-go logs twice on
// every call.
func (l stripeLogger) log(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if l.logger.Enabled(ctx, level) {
		l.logger.Log(ctx, level, fmt.Sprintf(format, v...), "library", "stripe-go")
	}
}
