package edge_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAPI measures the SDK routes in process, beside a bare handler
// that writes a body of the same size as the tiers response, so figures
// compare as ratios taken in one run (docs/BENCHMARKS.md).
func BenchmarkAPI(b *testing.B) {
	h := newHarness(b, harnessOptions{})
	pk := h.saas.Test.PublishableKey
	token := h.token(pk, "bench@example.com", "enterprise")
	tiers := h.do("GET", "/api/tiers", "", "X-Publishable-Key", pk).raw
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(tiers))
	})
	for _, bench := range []struct {
		name, method, path string
		handler            http.Handler
		headers            []string
	}{
		{"Bare", "GET", "/api/tiers", bare, nil},
		{"Tiers", "GET", "/api/tiers", h.server, []string{"X-Publishable-Key", pk}},
		{"UsageCheck", "GET", "/api/usage", h.server, []string{"X-Publishable-Key", pk, "X-Clerk-Token", token}},
		{"Track", "POST", "/api/data", h.server, []string{"X-Publishable-Key", pk, "X-Clerk-Token", token}},
	} {
		b.Run(bench.name, func(b *testing.B) {
			b.ReportAllocs()
			// As many requests in flight as a loaded server has, so that
			// writes share their syncs as they do in production.
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(bench.method, bench.path, nil)
					for i := 0; i+1 < len(bench.headers); i += 2 {
						req.Header.Set(bench.headers[i], bench.headers[i+1])
					}
					rec := httptest.NewRecorder()
					bench.handler.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("a %s request answered %d %s, want 200", bench.name, rec.Code, rec.Body.String())
					}
				}
			})
		})
	}
}
