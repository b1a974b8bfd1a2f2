package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/stripe/stripe-go/v76"
)

// The platform's keys in tests. stripe-mock accepts test-mode keys only, so
// the live key differs from the test key only in its last part (stripe-mock
// also wants exactly three parts).
const (
	liveKey = "sk_test_platformLive"
	testKey = "sk_test_platformTest"
)

// The connected accounts the tests act on.
var (
	testAccount = dream.PaymentAccount{Mode: dream.ModeTest, AccountID: "acct_1TestDeveloper"}
	liveAccount = dream.PaymentAccount{Mode: dream.ModeLive, AccountID: "acct_1LiveDeveloper"}
)

// idempotencyKey is the form of the key every creating or changing call
// sends.
var idempotencyKey = regexp.MustCompile(`^dream_[0-9a-f]{32}$`)

// testStripe is a Stripe calling base with both keys, whose requests and
// logs the test reads.
type testStripe struct {
	*Stripe
	recorder *recorder
	logs     *logBuffer
}

// newTestStripe returns a testStripe calling base. stripe-go retries at once
// rather than after its back-off, so that tests of failures take no time.
func newTestStripe(t *testing.T, base string) *testStripe {
	t.Helper()
	return newTestStripeWithKeys(t, base, liveKey, testKey)
}

// newTestStripeWithKeys is newTestStripe with the given keys.
func newTestStripeWithKeys(t *testing.T, base, live, test string) *testStripe {
	t.Helper()
	recorder := &recorder{transport: http.DefaultTransport}
	logs := &logBuffer{}
	s := NewStripe(StripeConfig{
		SecretKey:     live,
		SecretKeyTest: test,
		APIURL:        base,
		HTTPClient:    &http.Client{Transport: recorder, Timeout: 10 * time.Second},
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	for _, api := range s.clients {
		api.CheckoutSessions.B.(*stripe.BackendImplementation).SetNetworkRetriesSleep(false)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs)
		}
	})
	return &testStripe{Stripe: s, recorder: recorder, logs: logs}
}

// onlyRequest returns the one request s sent.
func (s *testStripe) onlyRequest(t *testing.T) recordedRequest {
	t.Helper()
	requests := s.recorder.Requests()
	if len(requests) != 1 {
		t.Fatalf("the call sent Stripe %d requests, want 1: %+v", len(requests), requests)
	}
	return requests[0]
}

// logBuffer collects log output; stripe-go may log from any goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write implements io.Writer.
func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything logged.
func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// assertCall checks the method, path, key, account and idempotency key of
// request.
func assertCall(t *testing.T, request recordedRequest, method, path, key, account string) {
	t.Helper()
	if request.Method != method || request.Path != path {
		t.Errorf("the Stripe request is %s %s, want %s %s", request.Method, request.Path, method, path)
	}
	if got := request.Header.Get("Authorization"); got != "Bearer "+key {
		t.Errorf("the Stripe request has Authorization %q, want the key %q", got, key)
	}
	if got := request.Header.Get("Stripe-Account"); got != account {
		t.Errorf("the Stripe request has Stripe-Account %q, want the connected account %q", got, account)
	}
	got := request.Header.Get("Idempotency-Key")
	if method == http.MethodGet {
		if got != "" {
			t.Errorf("a GET to Stripe has Idempotency-Key %q, want none", got)
		}
	} else if !idempotencyKey.MatchString(got) {
		t.Errorf("the Stripe request has Idempotency-Key %q, want one matching %s", got, idempotencyKey)
	}
}

// assertForm checks that request carried exactly the parameters want.
func assertForm(t *testing.T, request recordedRequest, want url.Values) {
	t.Helper()
	if reflect.DeepEqual(request.Form, want) {
		return
	}
	for _, key := range slices.Sorted(maps.Keys(request.Form)) {
		if !reflect.DeepEqual(request.Form[key], want[key]) {
			t.Errorf("the Stripe request sent %s=%q, want %q", key, request.Form[key], want[key])
		}
	}
	for key := range want {
		if _, sent := request.Form[key]; !sent {
			t.Errorf("the Stripe request lacks %s, want %q", key, want[key])
		}
	}
}

// assertError checks that err is want, and that the message Stripe gave
// shows nowhere in it.
func assertError(t *testing.T, err error, want *dream.Error, stripeMessage string) {
	t.Helper()
	var got *dream.Error
	if !errors.As(err, &got) {
		t.Fatalf("the call failed with %v, want the dream.Error %v", err, want)
	}
	if got.Kind != want.Kind || got.Code != want.Code || got.Message != want.Message {
		t.Errorf("the call failed with {kind %d %q %q}, want {kind %d %q %q}",
			got.Kind, got.Code, got.Message, want.Kind, want.Code, want.Message)
	}
	if stripeMessage != "" && strings.Contains(err.Error(), stripeMessage) {
		t.Errorf("the error %q shows Stripe's message, want it kept to the logs", err)
	}
}

// subscriptionCheckout is a checkout of a subscription with every field
// set, but the customer.
func subscriptionCheckout() dream.CheckoutSession {
	return dream.CheckoutSession{
		Account: testAccount,
		Mode:    dream.CheckoutSubscription,
		LineItems: []dream.LineItem{
			{PriceID: "price_pro", Quantity: 1, ProductID: "prod_pro", Description: "Pro", UnitAmount: 1900, Currency: "usd", Recurring: true},
			{PriceID: "price_seat", Quantity: 3, ProductID: "prod_seat", Description: "Seat", UnitAmount: 500, Currency: "usd", Recurring: true},
		},
		ClientReferenceID:    "usr_1",
		SuccessURL:           "https://app.example.com/success",
		CancelURL:            "https://app.example.com/cancel",
		Metadata:             map[string]string{"projectId": "prj_1"},
		SubscriptionMetadata: map[string]string{"projectId": "prj_1", "userId": "usr_1"},
		TrialDays:            14,
	}
}

// checkoutForm is the form of subscriptionCheckout, without the customer.
func checkoutForm() url.Values {
	return url.Values{
		"mode":                                   {"subscription"},
		"line_items[0][price]":                   {"price_pro"},
		"line_items[0][quantity]":                {"1"},
		"line_items[1][price]":                   {"price_seat"},
		"line_items[1][quantity]":                {"3"},
		"client_reference_id":                    {"usr_1"},
		"success_url":                            {"https://app.example.com/success"},
		"cancel_url":                             {"https://app.example.com/cancel"},
		"metadata[projectId]":                    {"prj_1"},
		"subscription_data[metadata][projectId]": {"prj_1"},
		"subscription_data[metadata][userId]":    {"usr_1"},
		"subscription_data[trial_period_days]":   {"14"},
	}
}

func TestStripe_CreateCheckoutSession(t *testing.T) {
	base := stripeMockURL(t)
	ctx := context.Background()

	t.Run("Subscription", func(t *testing.T) {
		s := newTestStripe(t, base)
		checkout := subscriptionCheckout()
		checkout.CustomerEmail = "ada@example.com"
		result, err := s.CreateCheckoutSession(ctx, checkout)
		if err != nil {
			t.Fatalf("creating a subscription checkout session: %v, want a session", err)
		}
		if !strings.HasPrefix(result.ID, "cs_") || !strings.HasPrefix(result.URL, "https://") {
			t.Errorf("the new checkout session is %+v, want a cs_ id and an https URL", result)
		}
		request := s.onlyRequest(t)
		assertCall(t, request, http.MethodPost, "/v1/checkout/sessions", testKey, testAccount.AccountID)
		want := checkoutForm()
		want.Set("customer_email", "ada@example.com")
		assertForm(t, request, want)
	})

	t.Run("ReusesCustomer", func(t *testing.T) {
		s := newTestStripe(t, base)
		checkout := subscriptionCheckout()
		checkout.CustomerID = "cus_1"
		checkout.CustomerEmail = "ada@example.com"
		if _, err := s.CreateCheckoutSession(ctx, checkout); err != nil {
			t.Fatalf("creating a checkout session for customer cus_1: %v, want a session", err)
		}
		want := checkoutForm()
		want.Set("customer", "cus_1")
		assertForm(t, s.onlyRequest(t), want)
	})

	t.Run("NoEmptyCustomerEmail", func(t *testing.T) {
		s := newTestStripe(t, base)
		if _, err := s.CreateCheckoutSession(ctx, subscriptionCheckout()); err != nil {
			t.Fatalf("creating a checkout session without an email: %v, want a session", err)
		}
		assertForm(t, s.onlyRequest(t), checkoutForm())
	})

	t.Run("PaymentHasNoSubscriptionData", func(t *testing.T) {
		s := newTestStripe(t, base)
		checkout := subscriptionCheckout()
		checkout.Mode = dream.CheckoutPayment
		if _, err := s.CreateCheckoutSession(ctx, checkout); err != nil {
			t.Fatalf("creating a payment checkout session: %v, want a session", err)
		}
		want := checkoutForm()
		want.Set("mode", "payment")
		for key := range want {
			if strings.HasPrefix(key, "subscription_data") {
				want.Del(key)
			}
		}
		assertForm(t, s.onlyRequest(t), want)
	})

	t.Run("NoTrial", func(t *testing.T) {
		s := newTestStripe(t, base)
		checkout := subscriptionCheckout()
		checkout.TrialDays = 0
		if _, err := s.CreateCheckoutSession(ctx, checkout); err != nil {
			t.Fatalf("creating a checkout session without a trial: %v, want a session", err)
		}
		want := checkoutForm()
		want.Del("subscription_data[trial_period_days]")
		assertForm(t, s.onlyRequest(t), want)
	})

	t.Run("AutomaticTax", func(t *testing.T) {
		s := newTestStripe(t, base)
		checkout := subscriptionCheckout()
		checkout.AutomaticTax = true
		if _, err := s.CreateCheckoutSession(ctx, checkout); err != nil {
			t.Fatalf("creating a checkout session with automatic tax: %v, want a session", err)
		}
		want := checkoutForm()
		want.Set("automatic_tax[enabled]", "true")
		assertForm(t, s.onlyRequest(t), want)
	})

	t.Run("Lifetime", func(t *testing.T) {
		s := newTestStripe(t, base)
		checkout := subscriptionCheckout()
		checkout.Mode, checkout.TrialDays, checkout.Lifetime = dream.CheckoutPayment, 0, dream.CheckoutLifetime
		before := time.Now()
		if _, err := s.CreateCheckoutSession(ctx, checkout); err != nil {
			t.Fatalf("creating a checkout session with a lifetime: %v, want a session", err)
		}
		request := s.onlyRequest(t)
		expires, err := strconv.ParseInt(request.Form.Get("expires_at"), 10, 64)
		if err != nil || expires < before.Add(dream.CheckoutLifetime).Unix() || expires > time.Now().Add(dream.CheckoutLifetime).Unix() {
			t.Errorf("the session was sent expires_at %q, want %s from now", request.Form.Get("expires_at"), dream.CheckoutLifetime)
		}
	})

	t.Run("LiveMode", func(t *testing.T) {
		s := newTestStripe(t, base)
		checkout := subscriptionCheckout()
		checkout.Account = liveAccount
		if _, err := s.CreateCheckoutSession(ctx, checkout); err != nil {
			t.Fatalf("creating a live checkout session: %v, want a session", err)
		}
		assertCall(t, s.onlyRequest(t), http.MethodPost, "/v1/checkout/sessions", liveKey, liveAccount.AccountID)
	})

	t.Run("IdempotencyKeyPerCall", func(t *testing.T) {
		s := newTestStripe(t, base)
		for range 2 {
			if _, err := s.CreateCheckoutSession(ctx, subscriptionCheckout()); err != nil {
				t.Fatalf("creating a checkout session: %v, want a session", err)
			}
		}
		requests := s.recorder.Requests()
		if len(requests) != 2 {
			t.Fatalf("two checkout sessions sent Stripe %d requests, want 2", len(requests))
		}
		first, second := requests[0].Header.Get("Idempotency-Key"), requests[1].Header.Get("Idempotency-Key")
		if first == second {
			t.Errorf("two checkout sessions sent the same Idempotency-Key %q, want one key per call", first)
		}
	})
}

func TestStripe_CreatePortalSession(t *testing.T) {
	base := stripeMockURL(t)
	s := newTestStripe(t, base)
	portalURL, err := s.CreatePortalSession(context.Background(), dream.PortalSession{
		Account:    liveAccount,
		CustomerID: "cus_1",
		ReturnURL:  "https://app.example.com/account",
		Plans:      []dream.LineItem{{PriceID: "price_pro", UnitAmount: 1900, Currency: "usd", Recurring: true}},
	})
	if err != nil {
		t.Fatalf("creating a portal session: %v, want its URL", err)
	}
	if !strings.HasPrefix(portalURL, "https://") {
		t.Errorf("the portal session URL is %q, want an https URL of the portal", portalURL)
	}
	request := s.onlyRequest(t)
	assertCall(t, request, http.MethodPost, "/v1/billing_portal/sessions", liveKey, liveAccount.AccountID)
	assertForm(t, request, url.Values{
		"customer":   {"cus_1"},
		"return_url": {"https://app.example.com/account"},
	})
}

func TestStripe_CheckoutLineItems(t *testing.T) {
	t.Run("StripeMock", func(t *testing.T) {
		s := newTestStripe(t, stripeMockURL(t))
		items, err := s.CheckoutLineItems(context.Background(), testAccount, "cs_test_1")
		if err != nil {
			t.Fatalf("reading the line items of a checkout session: %v, want the items", err)
		}
		if len(items) == 0 {
			t.Fatal("the checkout session has no line items, want stripe-mock's items")
		}
		for _, item := range items {
			if !strings.HasPrefix(item.PriceID, "price_") || !strings.HasPrefix(item.ProductID, "prod_") || item.Quantity == 0 || item.Currency == "" {
				t.Errorf("line item %+v, want its price, product, quantity and currency", item)
			}
		}
		request := s.onlyRequest(t)
		assertCall(t, request, http.MethodGet, "/v1/checkout/sessions/cs_test_1/line_items", testKey, testAccount.AccountID)
		assertForm(t, request, url.Values{"limit": {"100"}})
	})

	// Stripe pages line items; the second page must be read too.
	t.Run("Paginates", func(t *testing.T) {
		pages := map[string]string{
			"": `{"object":"list","url":"/v1/checkout/sessions/cs_1/line_items","has_more":true,"data":[
				{"id":"li_1","object":"item","description":"Pro plan","quantity":1,"currency":"usd",
				 "price":{"id":"price_pro","object":"price","product":"prod_pro","unit_amount":1900,"currency":"usd","recurring":{"interval":"month","interval_count":1}}},
				{"id":"li_2","object":"item","description":"Sticker","quantity":3,"currency":"usd",
				 "price":{"id":"price_sticker","object":"price","product":{"id":"prod_sticker","object":"product"},"unit_amount":300,"currency":"usd","recurring":null}}]}`,
			"li_2": `{"object":"list","url":"/v1/checkout/sessions/cs_1/line_items","has_more":false,"data":[
				{"id":"li_3","object":"item","description":"Poster","quantity":2,"currency":"eur",
				 "price":{"id":"price_poster","object":"price","product":"prod_poster","unit_amount":1200,"currency":"eur","recurring":null}}]}`,
		}
		server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			page, ok := pages[r.URL.Query().Get("starting_after")]
			if r.URL.Path != "/v1/checkout/sessions/cs_1/line_items" || !ok {
				http.Error(w, `{"error":{"type":"invalid_request_error","message":"unexpected request"}}`, http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, page)
		}))
		defer server.Close()
		s := newTestStripe(t, server.URL)

		items, err := s.CheckoutLineItems(context.Background(), testAccount, "cs_1")
		if err != nil {
			t.Fatalf("reading two pages of line items: %v, want the items", err)
		}
		want := []dream.LineItem{
			{PriceID: "price_pro", Quantity: 1, ProductID: "prod_pro", Description: "Pro plan", UnitAmount: 1900, Currency: "usd", Recurring: true},
			{PriceID: "price_sticker", Quantity: 3, ProductID: "prod_sticker", Description: "Sticker", UnitAmount: 300, Currency: "usd"},
			{PriceID: "price_poster", Quantity: 2, ProductID: "prod_poster", Description: "Poster", UnitAmount: 1200, Currency: "eur"},
		}
		if !reflect.DeepEqual(items, want) {
			t.Errorf("the checkout session's line items are\n%+v\nwant\n%+v", items, want)
		}
		requests := s.recorder.Requests()
		if len(requests) != 2 {
			t.Fatalf("two pages of line items took %d requests, want 2", len(requests))
		}
		assertForm(t, requests[1], url.Values{"limit": {"100"}, "starting_after": {"li_2"}})
		assertCall(t, requests[1], http.MethodGet, "/v1/checkout/sessions/cs_1/line_items", testKey, testAccount.AccountID)
	})
}

func TestStripe_CancelSubscription(t *testing.T) {
	base := stripeMockURL(t)

	t.Run("AtPeriodEnd", func(t *testing.T) {
		s := newTestStripe(t, base)
		if err := s.CancelSubscription(context.Background(), liveAccount, "sub_1", true); err != nil {
			t.Fatalf("canceling a subscription at period end: %v, want no error", err)
		}
		request := s.onlyRequest(t)
		assertCall(t, request, http.MethodPost, "/v1/subscriptions/sub_1", liveKey, liveAccount.AccountID)
		assertForm(t, request, url.Values{"cancel_at_period_end": {"true"}})
	})

	t.Run("Now", func(t *testing.T) {
		s := newTestStripe(t, base)
		if err := s.CancelSubscription(context.Background(), testAccount, "sub_1", false); err != nil {
			t.Fatalf("canceling a subscription now: %v, want no error", err)
		}
		request := s.onlyRequest(t)
		assertCall(t, request, http.MethodDelete, "/v1/subscriptions/sub_1", testKey, testAccount.AccountID)
		assertForm(t, request, url.Values{})
	})
}

func TestStripe_RefundPayment(t *testing.T) {
	s := newTestStripe(t, stripeMockURL(t))
	refund, err := s.RefundPayment(context.Background(), testAccount, "pi_1", "refund_ord_1")
	if err != nil || !strings.HasPrefix(refund, "re_") {
		t.Fatalf("refunding payment pi_1 gave %q, %v; want a re_ refund", refund, err)
	}
	request := s.onlyRequest(t)
	if request.Method != http.MethodPost || request.Path != "/v1/refunds" || request.Header.Get("Authorization") != "Bearer "+testKey ||
		request.Header.Get("Stripe-Account") != testAccount.AccountID {
		t.Errorf("the refund was %s %s with key %q on account %q, want POST /v1/refunds with the test key on %s", request.Method,
			request.Path, request.Header.Get("Authorization"), request.Header.Get("Stripe-Account"), testAccount.AccountID)
	}
	assertForm(t, request, url.Values{"payment_intent": {"pi_1"}})
	if key := request.Header.Get("Idempotency-Key"); key != "refund_ord_1" {
		t.Errorf("the refund was sent Idempotency-Key %q, want refund_ord_1, so that a retry refunds once", key)
	}
}

// calls makes each call of dream.Payments on account.
var calls = map[string]func(s *Stripe, account dream.PaymentAccount) error{
	"CreateCheckoutSession": func(s *Stripe, account dream.PaymentAccount) error {
		checkout := subscriptionCheckout()
		checkout.Account = account
		_, err := s.CreateCheckoutSession(context.Background(), checkout)
		return err
	},
	"CreatePortalSession": func(s *Stripe, account dream.PaymentAccount) error {
		_, err := s.CreatePortalSession(context.Background(), dream.PortalSession{Account: account, CustomerID: "cus_1", ReturnURL: "https://app.example.com"})
		return err
	},
	"CheckoutLineItems": func(s *Stripe, account dream.PaymentAccount) error {
		_, err := s.CheckoutLineItems(context.Background(), account, "cs_1")
		return err
	},
	"CancelSubscription": func(s *Stripe, account dream.PaymentAccount) error {
		return s.CancelSubscription(context.Background(), account, "sub_1", true)
	},
	"RefundPayment": func(s *Stripe, account dream.PaymentAccount) error {
		_, err := s.RefundPayment(context.Background(), account, "pi_1", "refund_ord_1")
		return err
	},
}

// The calls that cannot be made fail before any request.
func TestStripe_NotCallable(t *testing.T) {
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Run("ModeNotConfigured", func(t *testing.T) {
				s := newTestStripeWithKeys(t, "http://127.0.0.1:1", "", testKey)
				assertError(t, call(s.Stripe, liveAccount), &dream.Error{
					Kind:    dream.KindUnavailable,
					Code:    "payments_not_configured",
					Message: "Payments in live mode are not configured on this server",
				}, "")
				if requests := s.recorder.Requests(); len(requests) != 0 {
					t.Errorf("a call in an unconfigured mode sent Stripe %d requests, want none", len(requests))
				}
			})
			t.Run("NotConnected", func(t *testing.T) {
				s := newTestStripe(t, "http://127.0.0.1:1")
				assertError(t, call(s.Stripe, dream.PaymentAccount{Mode: dream.ModeTest}), errNotConnected, "")
				if requests := s.recorder.Requests(); len(requests) != 0 {
					t.Errorf("a call without a connected account sent Stripe %d requests, want none", len(requests))
				}
			})
			t.Run("InvalidMode", func(t *testing.T) {
				s := newTestStripe(t, "http://127.0.0.1:1")
				err := call(s.Stripe, dream.PaymentAccount{Mode: "staging", AccountID: "acct_1"})
				if err == nil || dream.ErrorKind(err) != dream.KindInternal {
					t.Errorf("a call in mode staging failed with %v, want an internal error", err)
				}
			})
		})
	}
}

func TestStripe_Errors(t *testing.T) {
	const stripeMessage = "Secret details of the failure from Stripe"
	const requestID = "req_failure"
	tests := []struct {
		name      string
		status    int
		errorType string
		code      string
		// want is nil for an internal error.
		want *dream.Error
	}{
		{"InvalidRequest", 400, "invalid_request_error", "parameter_missing", errRequestRejected},
		{"Idempotency", 400, "idempotency_error", "", errRequestRejected},
		{"CardDeclined", 402, "card_error", "card_declined", errRequestRejected},
		{"PlatformKeyRefused", 401, "authentication_error", "", nil},
		{"PermissionRevoked", 403, "permission_error", "", errNotConnected},
		{"AccountInvalid", 403, "invalid_request_error", "account_invalid", errNotConnected},
		{"AccountInvalidUnauthenticated", 401, "authentication_error", "account_invalid", errNotConnected},
		{"NotFound", 404, "invalid_request_error", "resource_missing", errRequestRejected},
		{"RateLimited", 429, "rate_limit_error", "rate_limit", errProviderUnavailable},
		{"ServerError", 500, "api_error", "", errProviderUnavailable},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Request-Id", requestID)
				w.WriteHeader(test.status)
				fmt.Fprintf(w, `{"error":{"type":%q,"code":%q,"message":%q,"param":"customer"}}`, test.errorType, test.code, stripeMessage)
			}))
			defer server.Close()
			s := newTestStripe(t, server.URL)

			err := calls["CreatePortalSession"](s.Stripe, testAccount)
			if test.want == nil {
				var shown *dream.Error
				var stripeErr *stripe.Error
				if errors.As(err, &shown) || !errors.As(err, &stripeErr) {
					t.Errorf("the call failed with %v, want an internal error wrapping Stripe's", err)
				}
			} else {
				assertError(t, err, test.want, stripeMessage)
			}
			if requests := s.recorder.Requests(); len(requests) != 1 {
				t.Errorf("the failed call sent Stripe %d requests, want 1", len(requests))
			}
			logs := s.logs.String()
			for _, logged := range []string{stripeMessage, requestID, "param=customer", "type=" + test.errorType} {
				if !strings.Contains(logs, logged) {
					t.Errorf("the logs of Stripe's error lack %q, want it shown:\n%s", logged, logs)
				}
			}
		})
	}

	t.Run("ConnectionRefused", func(t *testing.T) {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		refusing := "http://" + listener.Addr().String()
		listener.Close()
		for name, call := range calls {
			t.Run(name, func(t *testing.T) {
				s := newTestStripe(t, refusing)
				assertError(t, call(s.Stripe, testAccount), errProviderUnavailable, "")
				// The call and both of stripe-go's retries, as one
				// idempotent call.
				requests := s.recorder.Requests()
				if len(requests) != 1+maxNetworkRetries {
					t.Fatalf("a call to an unreachable Stripe sent %d requests, want %d",
						len(requests), 1+maxNetworkRetries)
				}
				for _, request := range requests[1:] {
					if got, want := request.Header.Get("Idempotency-Key"), requests[0].Header.Get("Idempotency-Key"); got != want {
						t.Errorf("retry sent Idempotency-Key %q, want the call's %q", got, want)
					}
				}
				if !strings.Contains(s.logs.String(), "stripe unreachable") {
					t.Errorf("the logs lack %q, want the failure shown:\n%s", "stripe unreachable", s.logs)
				}
			})
		}
	})

	// Stripe answers 503 when a retry may succeed; stripe-go retries with
	// the call's idempotency key.
	t.Run("RetriedUnavailable", func(t *testing.T) {
		var mu sync.Mutex
		attempts := 0
		server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			attempts++
			attempt := attempts
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			if attempt <= maxNetworkRetries {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `{"error":{"type":"api_error","message":"Try again"}}`)
				return
			}
			fmt.Fprint(w, `{"id":"bps_1","object":"billing_portal.session","url":"https://billing.stripe.com/p/session/test_1"}`)
		}))
		defer server.Close()
		s := newTestStripe(t, server.URL)

		if err := calls["CreatePortalSession"](s.Stripe, testAccount); err != nil {
			t.Fatalf("creating a portal session after two 503s: %v, want its URL", err)
		}
		requests := s.recorder.Requests()
		if len(requests) != 1+maxNetworkRetries {
			t.Fatalf("a retried portal session sent %d requests, want %d", len(requests), 1+maxNetworkRetries)
		}
		for _, request := range requests[1:] {
			if got, want := request.Header.Get("Idempotency-Key"), requests[0].Header.Get("Idempotency-Key"); got != want {
				t.Errorf("retry sent Idempotency-Key %q, want the call's %q", got, want)
			}
		}
	})
}

func TestNewStripe(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		s := NewStripe(StripeConfig{SecretKeyTest: testKey})
		if _, live := s.clients[dream.ModeLive]; live || len(s.clients) != 1 {
			t.Fatalf("a Stripe with a test key has clients for modes %v, want test only",
				slices.Collect(maps.Keys(s.clients)))
		}
		api := s.clients[dream.ModeTest]
		backend := api.CheckoutSessions.B.(*stripe.BackendImplementation)
		if backend.URL != stripe.APIURL {
			t.Errorf("the default Stripe API URL is %q, want %q", backend.URL, stripe.APIURL)
		}
		if backend.HTTPClient.Timeout != httpTimeout {
			t.Errorf("the default HTTP timeout is %v, want %v", backend.HTTPClient.Timeout, httpTimeout)
		}
		if backend.MaxNetworkRetries != maxNetworkRetries {
			t.Errorf("the default MaxNetworkRetries is %d, want %d", backend.MaxNetworkRetries, maxNetworkRetries)
		}
		if _, bridged := backend.LeveledLogger.(stripeLogger); !bridged {
			t.Errorf("stripe-go logs to %T, want slog", backend.LeveledLogger)
		}
		// The OAuth backend keeps its own URL.
		if connect := api.OAuth.B.(*stripe.BackendImplementation); connect.URL != stripe.ConnectURL {
			t.Errorf("the default Connect URL is %q, want %q", connect.URL, stripe.ConnectURL)
		}
	})

	t.Run("APIURL", func(t *testing.T) {
		s := NewStripe(StripeConfig{SecretKey: liveKey, SecretKeyTest: testKey, APIURL: "http://127.0.0.1:12111/"})
		for mode, api := range s.clients {
			if backend := api.CheckoutSessions.B.(*stripe.BackendImplementation); backend.URL != "http://127.0.0.1:12111" {
				t.Errorf("%s mode calls Stripe at %q, want http://127.0.0.1:12111", mode, backend.URL)
			}
		}
	})
}

// stripe-go's log lines reach slog, and its debug lines, which hold response
// bodies, do not.
func TestStripeLogger(t *testing.T) {
	logs := &logBuffer{}
	logger := stripeLogger{slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	logger.Debugf("Response: %s", "customer ada@example.com")
	logger.Infof("Requesting %s", "POST")
	logger.Warnf("Initiating retry %d", 1)
	logger.Errorf("Request error from Stripe (status %d)", 400)
	got := logs.String()
	if strings.Contains(got, "ada@example.com") {
		t.Errorf("stripe-go's debug line with a response body was logged, want it dropped:\n%s", got)
	}
	for _, want := range []string{"level=DEBUG msg=\"Requesting POST\"", "level=INFO msg=\"Initiating retry 1\"", "level=DEBUG msg=\"Request error from Stripe (status 400)\""} {
		if !strings.Contains(got, want) {
			t.Errorf("the logs lack %s, want stripe-go's line there:\n%s", want, got)
		}
	}
}
