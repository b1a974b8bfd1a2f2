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
		if isBrowserPage(path) && rec.Code != http.StatusNotFound {
			// The Connect callback and the hosted pages are a browser's,
			// HTML by design; FuzzHostedPages holds them to their rules.
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

// isBrowserPage reports whether path is one a browser opens, answered in
// HTML: the Connect callback and the hosted end-user pages.
func isBrowserPage(path string) bool {
	if strings.HasPrefix(path, "/v1/connect/") {
		return true
	}
	for _, page := range []string{"/signup", "/signin", "/account", "/refresh"} {
		if path == page || strings.HasPrefix(path, page+"?") || strings.HasPrefix(path, page+"/") {
			return true
		}
	}
	return false
}

// FuzzHostedPages sends the hosted pages arbitrary pk and redirect values
// and holds them to their rules: no 5xx, a page that escapes what it
// shows, and a redirect only back to an allowed origin or on to sign in.
func FuzzHostedPages(f *testing.F) {
	h := newHarness(f, harnessOptions{})
	pk := h.saas.Test.PublishableKey
	for _, seed := range []struct {
		page         uint8
		pk, redirect string
	}{
		{0, pk, "http://localhost:3000/"},
		{1, pk, `"><script>alert(1)</script>`},
		{2, pk, "javascript:alert(1)"},
		{3, pk, "//evil.example"},
		{0, pk, "http://localhost.evil.example/"},
		{1, "pk_test_" + strings.Repeat("0", 32), "http://localhost:3000/"},
		{2, `pk_test_"'<>`, "http://127.0.0.1:1/%zz"},
		{3, pk, "http://localhost:3000/\"><img src=x onerror=alert(1)>"},
	} {
		f.Add(seed.page, seed.pk, seed.redirect)
	}
	pages := []string{"/signup", "/signin", "/account", "/refresh"}
	f.Fuzz(func(t *testing.T, which uint8, pk, redirect string) {
		page := pages[int(which)%len(pages)]
		rec := httptest.NewRecorder()
		h.current().ServeHTTP(rec, httptest.NewRequest("GET", page+"?"+url.Values{"pk": {pk}, "redirect": {redirect}}.Encode(), nil))
		if rec.Code >= 500 {
			t.Fatalf("%s with pk %q and redirect %q answered %d", page, pk, redirect, rec.Code)
		}
		if to := rec.Header().Get("Location"); to != "" {
			u, err := url.Parse(to)
			if err != nil || !(strings.HasPrefix(to, "/signin?") || u.Host == "localhost" || strings.HasPrefix(u.Host, "localhost:") ||
				u.Host == "127.0.0.1" || strings.HasPrefix(u.Host, "127.0.0.1:")) {
				t.Fatalf("%s with redirect %q sent the browser to %q", page, redirect, to)
			}
		}
		if body := rec.Body.String(); strings.Contains(body, "<script") || strings.Contains(body, "onerror=") {
			t.Fatalf("%s echoed markup unescaped: %s", page, body)
		}
	})
}
