package edge_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// zeros reads as many zero bytes as asked.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestBodyBounds walks the route table: every route declares the largest
// body it reads, and one byte more is refused with 413 before anything
// reads it, announced or not.
func TestBodyBounds(t *testing.T) {
	m := newMatrix(t)
	h := m.h
	for _, r := range h.current().Routes() {
		if r.MaxBody <= 0 {
			t.Errorf("route %s %s declares no body bound", r.Method, r.Path)
			continue
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			continue
		}
		req := httptest.NewRequest(r.Method, m.path(r), io.LimitReader(zeros{}, r.MaxBody+1))
		req.ContentLength = r.MaxBody + 1
		rec := httptest.NewRecorder()
		h.current().ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge || !isErrorBody(rec.Body.Bytes()) {
			t.Errorf("%s %s with a body of %d bytes answered %d %s, want 413 with a JSON error", r.Method, r.Path, r.MaxBody+1, rec.Code, rec.Body)
		}
	}
	t.Run("Unannounced", func(t *testing.T) {
		// A chunked body says nothing of its size: reading stops at the
		// bound.
		req := httptest.NewRequest(http.MethodPost, "/v1/accounts", io.LimitReader(zeros{}, 2<<20))
		req.ContentLength = -1
		rec := httptest.NewRecorder()
		h.current().ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge || !isErrorBody(rec.Body.Bytes()) {
			t.Fatalf("a chunked body of 2 MiB answered %d %s, want 413 with a JSON error", rec.Code, rec.Body)
		}
	})
}

// TestAddressRateLimit: routes that act without a credential count the
// requests of each client address; reads and other addresses go on.
func TestAddressRateLimit(t *testing.T) {
	h := newHarness(t, harnessOptions{addressRateLimit: 3})
	signIn := func(address string) response {
		return h.do("POST", "/v1/session", `{"email":"nobody@example.com","password":"wrong password"}`, "Fly-Client-IP", address)
	}
	before := h.scrape()
	for i := range 3 {
		if res := signIn("203.0.113.7"); res.status != 401 {
			t.Fatalf("sign-in %d answered %d %s, want 401", i+1, res.status, res.raw)
		}
	}
	res := signIn("203.0.113.7")
	expectError(t, res, 429, "Rate limit exceeded", "Maximum 3 requests per minute")
	if res.header.Get("Retry-After") != "20" || res.header.Get("RateLimit-Limit") != "3" {
		t.Errorf("the refusal's headers are %v, want Retry-After 20 and RateLimit-Limit 3", res.header)
	}
	expectError(t, h.do("POST", "/dev/tokens", `{"publishableKey":"`+h.saas.Test.PublishableKey+`","email":"a@example.com"}`,
		"Fly-Client-IP", "203.0.113.7"), 429, "Rate limit exceeded", "")
	if res := h.do("GET", "/health", "", "Fly-Client-IP", "203.0.113.7"); res.status != 200 {
		t.Errorf("a read from the limited address answered %d, want 200", res.status)
	}
	if res := signIn("198.51.100.1"); res.status != 401 {
		t.Errorf("another address answered %d %s, want 401: its own count", res.status, res.raw)
	}
	h.advance(20 * time.Second)
	if res := signIn("203.0.113.7"); res.status != 401 {
		t.Errorf("after 20 s the address answered %d %s, want one more request through", res.status, res.raw)
	}
	if got := moved(before, h.scrape(), "dream_rate_limit_refusals_total", "limit", "address"); got != 2 {
		t.Errorf("the address limit's refusals rose by %v, want 2", got)
	}
}

// TestSecretKeyRateLimit: the routes of the developer's backend count the
// requests of each environment's secret key.
func TestSecretKeyRateLimit(t *testing.T) {
	h := newHarness(t, harnessOptions{secretKeyRateLimit: 2})
	totals := func(sk string) response {
		return h.do("GET", "/api/dashboard/totals", "", "Authorization", "Bearer "+sk)
	}
	before := h.scrape()
	for i := range 2 {
		if res := totals(h.saas.Test.SecretKey); res.status != 200 {
			t.Fatalf("request %d answered %d %s, want 200", i+1, res.status, res.raw)
		}
	}
	expectError(t, totals(h.saas.Test.SecretKey), 429, "Rate limit exceeded", "Maximum 2 requests per minute")
	if res := totals(h.other.Test.SecretKey); res.status != 200 {
		t.Errorf("another project's key answered %d %s, want 200: its own count", res.status, res.raw)
	}
	if res := h.do("GET", "/api/tiers", "", "Authorization", "Bearer "+h.saas.Test.SecretKey); res.status != 200 {
		t.Errorf("the limited key on a route a publishable key opens answered %d %s, want 200", res.status, res.raw)
	}
	if !strings.Contains(h.do("GET", "/api/dashboard", "", "Authorization", "Bearer "+h.saas.Test.SecretKey).raw, "Rate limit exceeded") {
		t.Error("the limit counts per route, want it per key")
	}
	if got := moved(before, h.scrape(), "dream_rate_limit_refusals_total", "limit", "secret_key"); got != 2 {
		t.Errorf("the secret key limit's refusals rose by %v, want 2", got)
	}
}
