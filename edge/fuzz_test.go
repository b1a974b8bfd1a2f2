package edge_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/dream-api/dream"
)

// FuzzAPI sends arbitrary requests, with and without real credentials, and
// holds the server to its contract: no request crashes it or gets a 500,
// and every error is a JSON object with an error code and a message.
func FuzzAPI(f *testing.F) {
	h := newHarness(f, harnessOptions{rateLimit: 1000})
	methods := []string{"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"}
	token := h.token(h.saas.Test.PublishableKey, "fuzz@example.com", "")
	d := h.signUp("developer@example.com")
	project, _, _ := h.createProject(d, "Fuzzed", dream.ProjectSaaS)
	credentials := [][]string{
		nil,
		{"X-Publishable-Key", h.saas.Test.PublishableKey},
		{"Authorization", "Bearer " + h.saas.Test.SecretKey},
		{"X-Publishable-Key", h.saas.Test.PublishableKey, "X-Clerk-Token", token},
		{"Authorization", "Bearer " + h.saas.Test.SecretKey, "X-Publishable-Key", h.shop.Test.PublishableKey, "X-Clerk-Token", token},
		{"Authorization", "Bearer " + h.other.Live.SecretKey, "X-Clerk-Token", token},
		d.bearer(),
		{"Cookie", "dream_session=" + d.token, "X-CSRF-Token", d.csrf},
	}
	for _, seed := range []struct {
		method, cred uint8
		path, extra  string
		body         string
	}{
		{0, 0, "/health", "", ""},
		{0, 1, "/api/tiers", "", ""},
		{0, 2, "/api/products", "", ""},
		{1, 3, "/api/data", "", ""},
		{0, 4, "/api/usage", "", ""},
		{1, 0, "/dev/tokens", "", `{"publishableKey":"` + h.saas.Test.PublishableKey + `","email":"a@b.c","plan":"pro"}`},
		{1, 0, "/dev/tokens", "", `{"publishableKey":[1],"email":{}}`},
		{0, 1, "/api/tiers", "pk_live_zz", ""},
		{1, 3, "/api/data", "Bearer sk_", "{"},
		{0, 5, "/api/usage/../tiers", "\x00", ""},
		{2, 2, "/api/%zz", "", "null"},
		{2, 2, "/api/customers/user_x", "", `{"plan":"free","Plan":"enterprise"}`},
		{1, 3, "/api/create-checkout", "", `{"tier":"pro","tier":"free","successUrl":"//evil.example.com"}`},
		{1, 1, "/api/cart/checkout", "", `{"items":[{"priceId":"price_mug","priceId":"price_ebook"}]}`},
		{1, 6, "/v1/projects", "", `{"name":"x","type":"saas","allowedOrigins":["https://a.example"]}`},
		{2, 6, "/v1/projects/" + project, "", `{"rateLimitPerMinute":-5,"allowedOrigins":null}`},
		{1, 7, "/v1/projects/" + project + "/environments/test/tiers", "", `{"name":"pro","displayName":"Pro","price":1e30,"limit":"lots"}`},
		{2, 6, "/v1/projects/" + project + "/environments/test/tiers/pro", "", `{"inventory":null,"features":[1]}`},
		{1, 6, "/v1/projects/" + project + "/environments/test/rotate", "", `{"overlapSeconds":1e300}`},
		{3, 6, "/v1/projects/" + project, "", `{"confirm":{}}`},
		{1, 0, "/v1/session", "", `{"email":"developer@example.com","password":null}`},
		{1, 0, "/v1/accounts", "", `{"email":"a@b","password":"` + strings.Repeat("x", 100) + `"}`},
	} {
		f.Add(seed.method, seed.cred, seed.path, seed.extra, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, method, cred uint8, path, extra string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#?") {
			path = "/" + strings.NewReplacer(" ", "", "\r", "", "\n", "", "\t", "", "#", "", "?", "").Replace(path)
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			return // net/http answers such a request line itself, before any handler
		}
		req := httptest.NewRequest(methods[int(method)%len(methods)], "http://dream.test"+path, bytes.NewReader(body))
		headers := credentials[int(cred)%len(credentials)]
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		if extra != "" {
			// The extra value lands in a header the pipeline reads.
			name := []string{"Authorization", "X-Publishable-Key", "X-Clerk-Token", "Origin", "X-Request-Id"}[len(extra)%5]
			req.Header[name] = []string{extra}
		}
		rec := httptest.NewRecorder()
		h.server.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s answered %d %s, want a status below 500", req.Method, path, rec.Code, rec.Body.String())
		}
		if req.Method == http.MethodHead || rec.Code == http.StatusNoContent || rec.Code/100 == 3 {
			return
		}
		if strings.HasPrefix(path, "/v1/connect/") && rec.Code != http.StatusNotFound {
			// The Connect callback is a browser's page, HTML by design.
			return
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s answered with Content-Type %q, want application/json", req.Method, path, ct)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s answered a body that is not a JSON object, want one: %s", req.Method, path, rec.Body.String())
		}
		if rec.Code >= 400 {
			if code, _ := out["error"].(string); code == "" {
				t.Fatalf("%s %s answered an error without a code, want an error field: %s", req.Method, path, rec.Body.String())
			}
			if _, ok := out["message"].(string); !ok {
				t.Fatalf("%s %s answered an error without a message, want a message field: %s",
					req.Method, path, rec.Body.String())
			}
		}
	})
}
