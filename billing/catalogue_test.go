package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

func TestStripe_Catalogue(t *testing.T) {
	base := stripeMockURL(t)
	ctx := context.Background()
	limit := dream.Limit(10_000)
	pro := dream.Tier{Slug: "pro", DisplayName: "Pro", Description: "For teams", BillingMode: dream.BillingSubscription,
		PriceCents: 2900, Currency: "usd", Limit: limit, Features: []string{"Email support"},
		ImageURL: "https://cdn.example.com/pro.png", StripeProductID: "prod_1"}

	t.Run("CreateProduct", func(t *testing.T) {
		s := newTestStripe(t, base)
		id, err := s.CreateProduct(ctx, testAccount, pro)
		if err != nil || id == "" {
			t.Fatalf("creating a product: %q, %v; want an id", id, err)
		}
		request := s.onlyRequest(t)
		assertCall(t, request, http.MethodPost, "/v1/products", testKey, testAccount.AccountID)
		assertForm(t, request, url.Values{"name": {"Pro"}, "description": {"For teams"},
			"images[0]": {"https://cdn.example.com/pro.png"}, "marketing_features[0][name]": {"Email support"},
			"metadata[tierName]": {"pro"}, "metadata[limit]": {"10000"}})
	})

	t.Run("CreatePriceMonthly", func(t *testing.T) {
		s := newTestStripe(t, base)
		if _, err := s.CreatePrice(ctx, liveAccount, pro); err != nil {
			t.Fatalf("creating a price: %v", err)
		}
		request := s.onlyRequest(t)
		assertCall(t, request, http.MethodPost, "/v1/prices", liveKey, liveAccount.AccountID)
		assertForm(t, request, url.Values{"product": {"prod_1"}, "unit_amount": {"2900"}, "currency": {"usd"},
			"recurring[interval]": {"month"}, "metadata[tierName]": {"pro"}})
	})

	t.Run("CreatePriceOneOff", func(t *testing.T) {
		s := newTestStripe(t, base)
		product := dream.Tier{Slug: "tshirt", DisplayName: "T-shirt", BillingMode: dream.BillingOneOff, PriceCents: 0,
			Currency: "usd", StripeProductID: "prod_2"}
		if _, err := s.CreatePrice(ctx, testAccount, product); err != nil {
			t.Fatalf("creating a one-off price: %v", err)
		}
		assertForm(t, s.onlyRequest(t), url.Values{"product": {"prod_2"}, "unit_amount": {"0"}, "currency": {"usd"},
			"metadata[tierName]": {"tshirt"}})
	})

	t.Run("UpdateProduct", func(t *testing.T) {
		s := newTestStripe(t, base)
		changed := pro
		changed.Description, changed.ImageURL, changed.Features = "", "/api/assets/plt_x/1-a-pro.png", nil
		if err := s.UpdateProduct(ctx, testAccount, changed); err != nil {
			t.Fatalf("updating a product: %v", err)
		}
		request := s.onlyRequest(t)
		assertCall(t, request, http.MethodPost, "/v1/products/prod_1", testKey, testAccount.AccountID)
		// A relative image is not one Stripe can fetch: it is left out.
		assertForm(t, request, url.Values{"name": {"Pro"}, "description": {""}, "marketing_features": {""}, "images": {""},
			"metadata[tierName]": {"pro"}, "metadata[limit]": {"10000"}})
	})

	t.Run("Archive", func(t *testing.T) {
		s := newTestStripe(t, base)
		if err := s.ArchiveProduct(ctx, testAccount, "prod_1"); err != nil {
			t.Fatalf("archiving a product: %v", err)
		}
		if err := s.DeactivatePrice(ctx, testAccount, "price_1"); err != nil {
			t.Fatalf("deactivating a price: %v", err)
		}
		requests := s.recorder.Requests()
		if len(requests) != 2 {
			t.Fatalf("%d requests, want 2", len(requests))
		}
		assertCall(t, requests[0], http.MethodPost, "/v1/products/prod_1", testKey, testAccount.AccountID)
		assertForm(t, requests[0], url.Values{"active": {"false"}})
		assertCall(t, requests[1], http.MethodPost, "/v1/prices/price_1", testKey, testAccount.AccountID)
		assertForm(t, requests[1], url.Values{"active": {"false"}})
	})

	t.Run("NotConnected", func(t *testing.T) {
		s := newTestStripe(t, base)
		_, err := s.CreateProduct(ctx, dream.PaymentAccount{Mode: dream.ModeTest}, pro)
		if dream.ErrorKind(err) != dream.KindInvalid || len(s.recorder.Requests()) != 0 {
			t.Fatalf("creating a product without an account: %v after %d requests, want a refusal and none", err, len(s.recorder.Requests()))
		}
	})
}

func TestStripe_Connect(t *testing.T) {
	var form url.Values
	var key string
	connect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		form, key = r.PostForm, r.Header.Get("Authorization")
		if r.URL.Path != "/oauth/token" || r.PostForm.Get("code") != "ac_good" {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "bad code"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"stripe_user_id": "acct_1Connected", "livemode": false, "scope": "read_write"})
	}))
	defer connect.Close()
	s := NewStripe(StripeConfig{SecretKey: liveKey, SecretKeyTest: testKey, ConnectURL: connect.URL,
		ConnectClientIDTest: "ca_test", PublicURL: "https://api.example.com/",
		Logger: slog.New(slog.DiscardHandler)})

	raw, err := s.AuthorizeURL(dream.ModeTest, "cst_state")
	if err != nil {
		t.Fatalf("authorize URL: %v", err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	if u.Host != "connect.stripe.com" || u.Path != "/oauth/authorize" || q.Get("client_id") != "ca_test" ||
		q.Get("scope") != "read_write" || q.Get("response_type") != "code" || q.Get("state") != "cst_state" ||
		q.Get("redirect_uri") != "https://api.example.com/v1/connect/test/callback" {
		t.Errorf("authorize URL %s, want Stripe's OAuth page for ca_test with the state and the callback", raw)
	}
	if _, err := s.AuthorizeURL(dream.ModeLive, "cst_state"); dream.ErrorKind(err) != dream.KindUnavailable {
		t.Errorf("authorize URL of live mode without a live client id: %v, want connect_not_configured", err)
	}

	account, err := s.Exchange(context.Background(), dream.ModeTest, "ac_good")
	if err != nil || account != "acct_1Connected" {
		t.Fatalf("exchanging a code: %q, %v; want acct_1Connected", account, err)
	}
	if form.Get("grant_type") != "authorization_code" || form.Get("client_secret") != testKey || key != "Bearer "+testKey {
		t.Errorf("the token call sent %v with %q, want the code grant with the test key as client secret", form, key)
	}
	if _, err := s.Exchange(context.Background(), dream.ModeTest, "ac_bad"); dream.ErrorKind(err) != dream.KindInvalid {
		t.Errorf("exchanging a refused code: %v, want a refusal", err)
	}
}

func TestStripe_OperatorBilling(t *testing.T) {
	base := stripeMockURL(t)
	ctx := context.Background()
	plan := &dream.PlatformPlan{PriceID: "price_plan", MeteredPriceID: "price_users"}

	t.Run("Customer", func(t *testing.T) {
		s := newTestStripe(t, base)
		if _, err := s.CreateCustomer(ctx, "plt_1", "dev@example.com"); err != nil {
			t.Fatal(err)
		}
		request := s.onlyRequest(t)
		// The operator's own account: the live key and no Stripe-Account.
		assertCall(t, request, http.MethodPost, "/v1/customers", liveKey, "")
		assertForm(t, request, url.Values{"email": {"dev@example.com"}, "metadata[platformId]": {"plt_1"}})
	})
	for _, trial := range []int{14, 0} {
		t.Run(fmt.Sprintf("CheckoutWithTrial%d", trial), func(t *testing.T) {
			s := newTestStripe(t, base)
			_, err := s.CreatePlatformCheckout(ctx, dream.PlatformCheckout{PlatformID: "plt_1", CustomerID: "cus_1", Plan: plan,
				TrialDays: trial, SuccessURL: "https://api.example.com/dashboard?billing=success", CancelURL: "https://api.example.com/dashboard"})
			if err != nil {
				t.Fatal(err)
			}
			request := s.onlyRequest(t)
			assertCall(t, request, http.MethodPost, "/v1/checkout/sessions", liveKey, "")
			want := url.Values{"mode": {"subscription"}, "customer": {"cus_1"}, "client_reference_id": {"plt_1"},
				"line_items[0][price]": {"price_plan"}, "line_items[0][quantity]": {"1"}, "line_items[1][price]": {"price_users"},
				"payment_method_collection": {"always"}, "metadata[platformId]": {"plt_1"},
				"subscription_data[metadata][platformId]": {"plt_1"},
				"success_url": {"https://api.example.com/dashboard?billing=success"}, "cancel_url": {"https://api.example.com/dashboard"}}
			if trial > 0 {
				want.Set("subscription_data[trial_period_days]", strconv.Itoa(trial))
			}
			assertForm(t, request, want)
		})
	}
	t.Run("Portal", func(t *testing.T) {
		s := newTestStripe(t, base)
		if _, err := s.CreatePlatformPortal(ctx, "cus_1", "https://api.example.com/dashboard"); err != nil {
			t.Fatal(err)
		}
		request := s.onlyRequest(t)
		assertCall(t, request, http.MethodPost, "/v1/billing_portal/sessions", liveKey, "")
		assertForm(t, request, url.Values{"customer": {"cus_1"}, "return_url": {"https://api.example.com/dashboard"}})
	})
	t.Run("MeterEvent", func(t *testing.T) {
		s := newTestStripe(t, base)
		at := time.Date(2026, 5, 9, 23, 59, 59, 0, time.UTC)
		err := s.ReportUsage(ctx, dream.UsageReport{Event: "dream_live_end_users", CustomerID: "cus_1", Value: 2345,
			Identifier: "plt_1-2026-05-09", Timestamp: at})
		if err != nil {
			t.Fatal(err)
		}
		request := s.onlyRequest(t)
		if request.Method != http.MethodPost || request.Path != "/v1/billing/meter_events" || request.Header.Get("Stripe-Account") != "" {
			t.Errorf("the meter event went to %s %s (account %q), want POST /v1/billing/meter_events on the operator's account",
				request.Method, request.Path, request.Header.Get("Stripe-Account"))
		}
		assertForm(t, request, url.Values{"event_name": {"dream_live_end_users"}, "identifier": {"plt_1-2026-05-09"},
			"timestamp": {strconv.FormatInt(at.Unix(), 10)}, "payload[stripe_customer_id]": {"cus_1"}, "payload[value]": {"2345"}})
	})
}
