package edge_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream/metrics"
	"github.com/dream-api/dream/metrics/metricstest"
	"github.com/dream-api/dream/store/storetest"
)

// scrape reads the node's metrics as Prometheus does.
func (h *harness) scrape() metricstest.Scrape {
	h.t.Helper()
	return metricstest.Get(h.t, h.metrics.Handler(slog.New(slog.DiscardHandler)))
}

// moved is how much metric name with labels rose from before to after.
func moved(before, after metricstest.Scrape, name string, labels ...string) float64 {
	return after.Value(name, labels...) - before.Value(name, labels...)
}

const requests = "dream_http_request_duration_seconds"

// TestMetricsCountWhatHappened scrapes /metrics around known sequences of
// requests: each counter moves by exactly what the sequence did.
func TestMetricsCountWhatHappened(t *testing.T) {
	t.Run("RequestsByRouteAndStatus", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		pk := h.saas.Test.PublishableKey
		before := h.scrape()
		for range 7 {
			if res := h.do("GET", "/api/tiers", "", "X-Publishable-Key", pk); res.status != 200 {
				t.Fatalf("GET /api/tiers answered %d %s, want 200", res.status, res.raw)
			}
		}
		for range 2 {
			h.do("GET", "/api/tiers", "", "X-Publishable-Key", "pk_test_unknown")
		}
		after := h.scrape()
		for _, c := range []struct {
			status string
			want   float64
		}{{"200", 7}, {"401", 2}} {
			if got := moved(before, after, requests, "route", "/api/tiers", "method", "GET", "status", c.status); got != c.want {
				t.Errorf("GET /api/tiers answered %s %v times by the metrics, want %v", c.status, got, c.want)
			}
		}
	})

	t.Run("CacheMissesThenHits", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		pk := h.shop.Test.PublishableKey
		before := h.scrape()
		for range 5 {
			h.do("GET", "/api/products", "", "X-Publishable-Key", pk)
		}
		after := h.scrape()
		for _, cache := range []string{"environments", "catalogues"} {
			misses := moved(before, after, "dream_cache_lookups_total", "cache", cache, "result", "miss")
			hits := moved(before, after, "dream_cache_lookups_total", "cache", cache, "result", "hit")
			if misses != 1 || hits != 4 {
				t.Errorf("five reads of one key's products made %v misses and %v hits of the %s cache, want 1 and 4", misses, hits, cache)
			}
		}
	})

	t.Run("RateLimitRefusal", func(t *testing.T) {
		h := newHarness(t, harnessOptions{rateLimit: 2})
		u := h.saasUser("limited@example.com", "")
		before := h.scrape()
		for i := range 3 {
			if res, want := u.usage(), []int{200, 200, 429}[i]; res.status != want {
				t.Fatalf("usage request %d answered %d %s, want %d", i+1, res.status, res.raw, want)
			}
		}
		after := h.scrape()
		if got := moved(before, after, "dream_rate_limit_refusals_total", "limit", "end_user"); got != 1 {
			t.Errorf("the end-user limit refused %v requests by the metrics, want 1", got)
		}
		if got := moved(before, after, requests, "route", "/api/usage", "status", "429"); got != 1 {
			t.Errorf("GET /api/usage answered 429 %v times by the metrics, want 1", got)
		}
	})

	t.Run("Webhooks", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		secret := h.payments.WebhookSecret()
		event := func(id, typ string) string {
			b, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "livemode": false, "account": "acct_a",
				"created": time.Now().Unix(), "data": map[string]any{"object": map[string]any{"id": "x"}}})
			return string(b)
		}
		before := h.scrape()
		h.signed(event("evt_forged", "invoice.paid"), "whsec_forged", time.Now())
		h.signed(event("evt_forged_too", "made.up.type"), "whsec_forged", time.Now())
		h.do("POST", "/webhook/stripe", event("evt_unsigned", "invoice.paid"))
		h.signed(event("evt_refund", "charge.refunded"), secret, time.Now())
		h.signed(event("evt_invoice", "invoice.paid"), secret, time.Now())
		h.signed(event("evt_invoice", "invoice.paid"), secret, time.Now())
		after := h.scrape()
		const name = "dream_webhook_events_total"
		for _, c := range []struct {
			eventType, outcome string
			want               float64
		}{
			{metrics.OtherEvent, "invalid_signature", 3},
			{metrics.OtherEvent, "ignored", 1},
			{"invoice.paid", "ignored", 1},
			{"invoice.paid", "duplicate", 1},
		} {
			if got := moved(before, after, name, "endpoint", "connect", "type", c.eventType, "outcome", c.outcome); got != c.want {
				t.Errorf("%s{type=%q, outcome=%q} rose by %v, want %v", name, c.eventType, c.outcome, got, c.want)
			}
		}
		if types := after.LabelValues(name, "type"); slices.Contains(types, "made.up.type") || slices.Contains(types, "charge.refunded") {
			t.Errorf("webhook event types are %v, want types the node does not act on counted as other", types)
		}
	})

	t.Run("ShippedUnitsApplied", func(t *testing.T) {
		h := newHarness(t, harnessOptions{noShip: true})
		u := h.saasUser("shipped@example.com", "")
		before := h.scrape()
		const tracks = 9
		for range tracks {
			if res := u.track(); res.status != 200 {
				t.Fatalf("track answered %d %s, want 200", res.status, res.raw)
			}
		}
		held := h.scrape()
		if got := held.Value("dream_outbox_units"); got != tracks {
			t.Errorf("the outbox holds %v units by the metrics before shipping, want the %d tracked", got, tracks)
		}
		if got := moved(before, held, "dream_usage_units_applied_total", "decided_by", "node"); got != 0 {
			t.Errorf("the primary applied %v units before any was shipped, want 0", got)
		}
		if got := moved(before, held, "dream_group_commit_size", "loop", "outbox"); got < 1 {
			t.Errorf("the outbox made %v group commits for %d tracks, want at least one", got, tracks)
		}
		h.ship()
		after := h.scrape()
		if got := moved(before, after, "dream_usage_units_applied_total", "decided_by", "node"); got != tracks {
			t.Errorf("the primary applied %v units by the metrics, want exactly the %d tracked", got, tracks)
		}
		if got := moved(before, after, "dream_usage_ship_batch_units"); got < 1 {
			t.Errorf("%v batches were shipped by the metrics, want at least one", got)
		}
		if got := moved(before, after, "dream_group_commit_size", "loop", "primary"); got < 1 {
			t.Errorf("the primary made %v group commits applying the batches, want at least one", got)
		}
	})

	t.Run("StrictUnitsDecidedByThePrimary", func(t *testing.T) {
		h := newHarness(t, harnessOptions{noShip: true})
		storetest.SetStrictLimits(t, h.db, h.saas.ID, true)
		h.refresh()
		u := h.saasUser("strict@example.com", "")
		before := h.scrape()
		for range 3 {
			u.track()
		}
		// A retry of the same call is answered with the unit counted
		// before, and counts once.
		for range 2 {
			if res := u.track("Idempotency-Key", "retried"); res.status != 200 {
				t.Fatalf("strict track with an idempotency key answered %d %s, want 200", res.status, res.raw)
			}
		}
		after := h.scrape()
		if got := moved(before, after, "dream_usage_units_applied_total", "decided_by", "primary"); got != 4 {
			t.Errorf("the primary decided %v units by the metrics, want the 4 strict tracks, the retried one once", got)
		}
		if got := moved(before, after, "dream_usage_units_applied_total", "decided_by", "node"); got != 0 {
			t.Errorf("%v strict units counted as decided at the node, want 0", got)
		}
	})
}

// TestMetricsRouteLabelsAreBounded: requests to many distinct paths, ids
// and methods add no series; a route's label is its pattern, and a path
// no route has is "unmatched".
func TestMetricsRouteLabelsAreBounded(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	sk := h.saas.Test.SecretKey
	const distinct = 40
	for i := range distinct {
		h.do("GET", fmt.Sprintf("/api/customers/user_%d", i), "", "Authorization", "Bearer "+sk)
		h.do("GET", fmt.Sprintf("/no/such/path/%d?key=sk_%d", i, i), "")
		h.do(fmt.Sprintf("BREW%d", i), "/api/tiers", "")
	}
	s := h.scrape()
	if got := s.Value(requests, "route", "/api/customers/:id", "method", "GET"); got != distinct {
		t.Errorf("the customer route counts %v requests, want all %d under its pattern", got, distinct)
	}
	if got := s.Value(requests, "route", metrics.Unmatched); got != 2*distinct {
		t.Errorf("unmatched requests count %v, want %d: the unknown paths and the unknown methods", got, 2*distinct)
	}
	mounted := map[string]bool{metrics.Unmatched: true}
	for _, r := range h.server.Routes() {
		mounted[r.Path] = true
	}
	for _, route := range s.LabelValues(requests, "route") {
		if !mounted[route] {
			t.Errorf("a request series has route %q, want only mounted patterns and %q", route, metrics.Unmatched)
		}
	}
	if methods := s.LabelValues(requests, "method"); slices.ContainsFunc(methods, func(m string) bool { return strings.HasPrefix(m, "BREW") }) {
		t.Errorf("request methods are %v, want unknown methods counted as other", methods)
	}
	if n := len(s.Series(requests)); n > 4 {
		t.Errorf("%d request series after %d distinct paths, want at most 4 (customers 404 or 200, unmatched GET 404, unmatched other 405)", n, 3*distinct)
	}
}
