package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/dream-api/dream"
)

var setupPlan = dream.PlatformPlan{PriceCents: 1900, IncludedUsers: 2000, OverageCents: 3, MeterEvent: "dream_live_end_users"}

// TestStripe_SetUpPlatformPlan sends stripe-mock the calls of a first
// setup, which its OpenAPI spec checks.
func TestStripe_SetUpPlatformPlan(t *testing.T) {
	s := newTestStripe(t, stripeMockURL(t))
	setup, err := s.SetUpPlatformPlan(context.Background(), setupPlan)
	if err != nil {
		t.Fatal(err)
	}
	if setup.PriceID == "" || setup.MeterID == "" || setup.MeteredPriceID == "" {
		t.Fatalf("the setup answered %+v, want every id", setup)
	}
	var meter, metered url.Values
	for _, r := range s.recorder.Requests() {
		if r.Header.Get("Stripe-Account") != "" {
			t.Errorf("%s %s acted on a connected account, want the operator's own", r.Method, r.Path)
		}
		switch {
		case r.Path == "/v1/billing/meters" && r.Method == http.MethodPost:
			meter = r.Form
		case r.Path == "/v1/prices" && r.Method == http.MethodPost && r.Form.Get("lookup_key") == usersPriceKey:
			metered = r.Form
		}
	}
	assertForm(t, recordedRequest{Form: meter}, url.Values{"display_name": {"Live end users"}, "event_name": {"dream_live_end_users"},
		"default_aggregation[formula]": {"last"}, "customer_mapping[type]": {"by_id"},
		"customer_mapping[event_payload_key]": {"stripe_customer_id"}, "value_settings[event_payload_key]": {"value"}})
	assertForm(t, recordedRequest{Form: metered}, url.Values{"product": {planProductID}, "lookup_key": {usersPriceKey}, "currency": {"usd"},
		"recurring[interval]": {"month"}, "recurring[usage_type]": {"metered"}, "recurring[meter]": {setup.MeterID},
		"billing_scheme": {"tiered"}, "tiers_mode": {"graduated"},
		"tiers[0][up_to]": {"2000"}, "tiers[0][unit_amount]": {"0"}, "tiers[1][up_to]": {"inf"}, "tiers[1][unit_amount]": {"3"}})
}

// operatorFake is the operator's account for the calls of the setup, with
// state: what one run creates, the next finds.
type operatorFake struct {
	mu       sync.Mutex
	products map[string]bool
	prices   map[string]string // lookup key → id
	meters   map[string]string // event name → id
	creates  int
}

func (f *operatorFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.ParseForm()
	list := func(data []map[string]any) {
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "has_more": false})
	}
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/products/"):
		id := strings.TrimPrefix(r.URL.Path, "/v1/products/")
		if !f.products[id] {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": "invalid_request_error", "code": "resource_missing"}})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "product"})
	case r.Method == http.MethodPost && r.URL.Path == "/v1/products":
		f.creates++
		f.products[r.PostForm.Get("id")] = true
		json.NewEncoder(w).Encode(map[string]any{"id": r.PostForm.Get("id"), "object": "product"})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/prices":
		var data []map[string]any
		for name, keys := range r.Form {
			if !strings.HasPrefix(name, "lookup_keys[") {
				continue
			}
			if id, ok := f.prices[keys[0]]; ok {
				data = append(data, map[string]any{"id": id, "object": "price", "lookup_key": keys[0]})
			}
		}
		list(data)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/prices":
		f.creates++
		id := fmt.Sprintf("price_%d", f.creates)
		f.prices[r.PostForm.Get("lookup_key")] = id
		json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "price"})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/billing/meters":
		var data []map[string]any
		for event, id := range f.meters {
			data = append(data, map[string]any{"id": id, "object": "billing.meter", "event_name": event})
		}
		list(data)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/billing/meters":
		f.creates++
		id := fmt.Sprintf("mtr_%d", f.creates)
		f.meters[r.PostForm.Get("event_name")] = id
		json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "billing.meter"})
	default:
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": "invalid_request_error", "message": r.URL.Path}})
	}
}

func TestStripe_SetUpPlatformPlanTwice(t *testing.T) {
	fake := &operatorFake{products: map[string]bool{}, prices: map[string]string{}, meters: map[string]string{}}
	server := httptest.NewServer(fake)
	defer server.Close()
	s := NewStripe(StripeConfig{SecretKey: liveKey, APIURL: server.URL, Logger: slog.New(slog.DiscardHandler)})
	first, err := s.SetUpPlatformPlan(context.Background(), setupPlan)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Created) != 4 {
		t.Fatalf("the first setup created %v, want the product, two prices and the meter", first.Created)
	}
	second, err := s.SetUpPlatformPlan(context.Background(), setupPlan)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Created) != 0 || fake.creates != 4 || second.PriceID != first.PriceID || second.MeteredPriceID != first.MeteredPriceID ||
		second.MeterID != first.MeterID {
		t.Fatalf("the second setup answered %+v after %d creations in all, want the first's ids and nothing new", second, fake.creates)
	}
}
