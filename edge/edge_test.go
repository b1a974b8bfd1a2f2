package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/auth"
	"github.com/dream-api/dream/billing"
	"github.com/dream-api/dream/billing/emulator"
	"github.com/dream-api/dream/edge"
	"github.com/dream-api/dream/metrics"
	"github.com/dream-api/dream/outbox"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/ratelimit"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
	"golang.org/x/crypto/bcrypt"
)

// harness is a server over a real database with two developers: platform A
// with a SaaS and a store project, platform B with a SaaS project.
type harness struct {
	t       testing.TB
	db      *store.DB
	primary *primary.Primary
	outbox  *outbox.Outbox
	// options made server; restart makes another from them.
	options edge.Options
	// gate, when not nil, stands between the server and the primary for
	// batches of units: the harness ships them when the test says.
	gate   *shipGate
	issuer *auth.DevIssuer
	server *edge.Server
	logs   *syncBuffer
	// metrics are the node's: the primary's, the outbox's and the
	// server's.
	metrics *metrics.Metrics
	// payments is the payments emulator; it delivers its webhooks over
	// HTTP to the server listening at baseURL.
	payments *emulator.Emulator
	baseURL  string

	mu  sync.Mutex
	now time.Time

	saas, shop, other storetest.Project
}

type harnessOptions struct {
	rateLimit int
	// addressRateLimit and secretKeyRateLimit are the server's limits of
	// a client address and of a secret key per minute.
	addressRateLimit, secretKeyRateLimit int
	writer                               func(dream.Writer) dream.Writer
	noDev                                bool
	// noOutbox has every usage unit decided by the primary.
	noOutbox bool
	// noShip leaves acknowledged units in the outbox until the test ships
	// them.
	noShip bool
	// maxPending is the server's MaxPendingUnits.
	maxPending int
	// warm has the server save what it keeps of its end users at Close
	// and read it back at Open.
	warm bool
}

func newHarness(t testing.TB, opts harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, db: storetest.Open(t), logs: &syncBuffer{}, now: time.Date(2025, 1, 15, 9, 0, 0, 0, time.UTC),
		metrics: metrics.New(billing.EventTypes())}
	p := primary.New(h.db, h.clock, h.metrics)
	h.primary = p
	platformA := storetest.Platform(t, p)
	h.saas = storetest.CreateProject(t, h.db, p, platformA, dream.ProjectSaaS, storetest.SaaSTiers())
	five, zero := int64(5), int64(0)
	h.shop = storetest.CreateProject(t, h.db, p, platformA, dream.ProjectStore, []dream.Tier{
		{Slug: "mug", DisplayName: "Mug", Description: "Big mug", BillingMode: dream.BillingOneOff, PriceCents: 1200, Currency: "usd",
			Limit: dream.Unlimited, Inventory: &five, StripePriceID: "price_mug", StripeProductID: "prod_mug"},
		{Slug: "poster", DisplayName: "Poster", BillingMode: dream.BillingOneOff, PriceCents: 500, Limit: dream.Unlimited, Inventory: &zero,
			StripePriceID: "price_poster"},
		{Slug: "ebook", DisplayName: "E-book", BillingMode: dream.BillingOneOff, PriceCents: 900, Limit: dream.Unlimited, StripePriceID: "price_ebook"},
	})
	h.other = storetest.CreateProject(t, h.db, p, storetest.Platform(t, p), dream.ProjectSaaS, storetest.SaaSTiers())

	// Platform A takes payments through the emulator in both modes;
	// platform B never connected an account.
	for _, mode := range []dream.Mode{dream.ModeTest, dream.ModeLive} {
		if err := p.Write(context.Background(), dream.ConnectPaymentAccount{PlatformID: platformA, Mode: mode, AccountID: "acct_a"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if h.issuer, err = auth.OpenDevIssuer(t.TempDir(), h.clock); err != nil {
		t.Fatal(err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.baseURL = "http://" + listener.Addr().String()
	// The emulator signs with the wall clock, which the webhook's tolerance
	// check compares with; the harness clock only drives the API.
	h.payments, err = emulator.Open(filepath.Join(t.TempDir(), "emulator.db"), emulator.Config{
		BaseURL: h.baseURL, WebhookURL: h.baseURL + "/webhook/stripe", PlatformWebhookURL: h.baseURL + "/webhook/platform", Now: time.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.payments.Close() })
	limiter, err := ratelimit.New(1000)
	if err != nil {
		t.Fatal(err)
	}
	var w dream.Writer = p
	if opts.writer != nil {
		w = opts.writer(p)
	}
	if opts.noShip {
		h.gate = &shipGate{Writer: w}
		w = h.gate
	}
	passwords, err := auth.NewPasswords(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	attempts, err := ratelimit.New(1000)
	if err != nil {
		t.Fatal(err)
	}
	plan := &dream.PlatformPlan{PriceCents: 1900, TrialDays: 14, IncludedUsers: 2000, OverageCents: 3, Grace: 7 * 24 * time.Hour,
		Retention: 30 * 24 * time.Hour, PriceID: "price_plan", MeteredPriceID: "price_plan_users", MeterEvent: "live_end_users", Clock: h.clock}
	o := edge.Options{
		Dashboard: true,
		Plan:      plan,
		Attempts:  signInAttempts{attempts, h.clock},
		Console: &dream.Console{Plan: plan, Operator: h.payments, AdminEmails: []string{"Admin@Example.com"}, DashboardURL: h.baseURL + "/dashboard", Directory: h.db, Passwords: passwords, Attempts: signInAttempts{attempts, h.clock},
			Provider: h.payments, Connect: h.payments, Logger: slog.New(slog.NewJSONHandler(h.logs, nil)), Now: h.clock},
		DB: h.db, Writer: w, Tokens: h.issuer, Identity: h.issuer, Limiter: limiter, RateLimitPerMinute: opts.rateLimit,
		Payments: h.payments, Webhooks: billing.NewWebhookVerifier(h.payments.WebhookSecret()),
		PlatformWebhooks: billing.NewWebhookVerifier(h.payments.WebhookSecret()),
		Logger:           slog.New(slog.NewJSONHandler(h.logs, nil)), Now: h.clock, Dev: h.issuer, DevPayments: h.payments, Metrics: h.metrics,
	}
	if opts.noDev {
		o.Dev, o.DevPayments = nil, nil
	}
	if !opts.noOutbox {
		if h.outbox, err = outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), h.clock, h.metrics); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.outbox.Close() })
		o.Outbox = h.outbox
		h.metrics.CollectOutbox(h.outbox)
	}
	o.MaxPendingUnits = opts.maxPending
	if opts.warm {
		o.WarmFile, o.TokenTrust = filepath.Join(t.TempDir(), "warm"), h.issuer.Fingerprint()
	}
	o.AddressRateLimitPerMinute, o.SecretKeyRateLimitPerMinute = opts.addressRateLimit, opts.secretKeyRateLimit
	h.options = o
	h.open()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.current().ServeHTTP(w, r) })}
	go srv.Serve(listener)
	t.Cleanup(func() { srv.Close() })
	return h
}

// serverWith opens another server on the harness's database with options
// o and an outbox of its own, closed when the test ends.
func (h *harness) serverWith(o edge.Options) *edge.Server {
	h.t.Helper()
	ob, err := outbox.Open(filepath.Join(h.t.TempDir(), "outbox.db"), h.clock, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { ob.Close() })
	o.Outbox = ob
	server, err := edge.Open(context.Background(), o)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { server.Close() })
	return server
}

// open starts a server on the harness's database and outbox, closed when
// the test ends. The caches follow the database as in production; tests
// that change data behind the server's back call refresh to see it at
// once.
func (h *harness) open() {
	h.t.Helper()
	server, err := edge.Open(context.Background(), h.options)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { server.Close() })
	h.mu.Lock()
	h.server = server
	h.mu.Unlock()
}

// current is the server serving now.
func (h *harness) current() *edge.Server {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.server
}

// restart replaces the server with a new one on the same database and
// outbox, as a node that crashed and came back: nothing of the old one's
// memory survives, and the units the gate held back are still in the
// outbox.
func (h *harness) restart() {
	h.t.Helper()
	old := h.current()
	h.open()
	old.Close()
}

// stopAndStart closes the server and opens a new one on the same
// database and outbox, as a node stopped and started again.
func (h *harness) stopAndStart() {
	h.t.Helper()
	h.current().Close()
	h.open()
}

// refresh brings the server's caches in step with the database now.
func (h *harness) refresh() {
	h.t.Helper()
	if err := h.current().Refresh(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// signInAttempts counts sign-in attempts as cmd/dream does.
type signInAttempts struct {
	limiter *ratelimit.Limiter
	now     func() time.Time
}

func (a signInAttempts) Allow(key string) bool {
	return a.limiter.Allow(key, dream.SignInAttemptsPerMinute, a.now()).Allowed
}

// shipGate stands for a primary that the server's batches of units cannot
// reach until the test ships them.
type shipGate struct {
	dream.Writer
	open atomic.Bool
}

func (g *shipGate) Write(ctx context.Context, w dream.Write, result any) error {
	if _, batch := w.(dream.ApplyIncrements); batch && !g.open.Load() {
		return dream.ErrPrimaryUnavailable
	}
	return g.Writer.Write(ctx, w, result)
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

// response is a recorded answer with its body decoded.
type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// do sends a request; headers alternate names and values.
func (h *harness) do(method, path, body string, headers ...string) response {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.server.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if method != http.MethodHead && rec.Code != http.StatusNoContent {
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			h.t.Fatalf("%s %s answered with Content-Type %q, want application/json; body %s", method, path, ct, res.raw)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res.body); err != nil {
			h.t.Fatalf("%s %s answered a body that is not a JSON object (%v), want one: %s", method, path, err, res.raw)
		}
	}
	return res
}

// token mints a dev end-user token.
func (h *harness) token(pk, email, plan string) string {
	h.t.Helper()
	tok, _, err := h.issuer.IssueToken(pk, email, plan)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// expectError checks an error response's status and wire strings.
func expectError(t *testing.T, res response, status int, code, message string) {
	t.Helper()
	if res.status != status || res.body["error"] != code || (message != "" && res.body["message"] != message) {
		t.Fatalf("the API answered %d %s, want %d with error %q and message %q (empty: any)",
			res.status, res.raw, status, code, message)
	}
	if _, ok := res.body["message"].(string); !ok {
		t.Fatalf("the error answer %s has no message, want a message string", res.raw)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestHealth(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		res := h.do(method, "/health", "")
		if res.status != 200 || res.body["status"] != "ok" {
			t.Fatalf("%s /health answered %d %s, want 200 with status ok", method, res.status, res.raw)
		}
	}
	if res := h.do(http.MethodHead, "/health", ""); res.status != 200 {
		t.Fatalf("HEAD /health answered %d, want 200", res.status)
	}
}

func TestHeaders(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	t.Run("EveryResponse", func(t *testing.T) {
		for _, res := range []response{
			h.do("GET", "/health", ""),
			h.do("GET", "/api/tiers", ""),
			h.do("GET", "/no/such/route", ""),
		} {
			for name, want := range map[string]string{
				"Access-Control-Allow-Origin": "*",
				"Access-Control-Max-Age":      "86400",
				"Vary":                        "Origin",
				"X-Content-Type-Options":      "nosniff",
				"X-Frame-Options":             "SAMEORIGIN",
				"Referrer-Policy":             "strict-origin-when-cross-origin",
			} {
				if got := res.header.Get(name); got != want {
					t.Errorf("header %s is %q, want %q", name, got, want)
				}
			}
			for _, name := range []string{"Content-Security-Policy", "Strict-Transport-Security", "Permissions-Policy", "X-Request-Id"} {
				if res.header.Get(name) == "" {
					t.Errorf("header %s is missing, want it on every response", name)
				}
			}
			expose := res.header.Get("Access-Control-Expose-Headers")
			for _, name := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"} {
				if !strings.Contains(expose, name) {
					t.Errorf("Access-Control-Expose-Headers is %q, want it to name %s", expose, name)
				}
			}
		}
	})
	t.Run("OriginEchoed", func(t *testing.T) {
		res := h.do("GET", "/health", "", "Origin", "https://app.example.com")
		if got := res.header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
			t.Fatalf("Access-Control-Allow-Origin is %q, want the caller's origin https://app.example.com", got)
		}
	})
	t.Run("NoCredentialsForAnyRouteClass", func(t *testing.T) {
		// Keys and tokens come in headers, never cookies: no answer lets a
		// browser send credentials cross-origin, whatever the route.
		pk, sk := h.saas.Test.PublishableKey, h.saas.Test.SecretKey
		token := h.token(pk, "cors@example.com", "")
		origin := "https://app.example.com"
		for _, tt := range []struct {
			class, method, path, body string
			headers                   []string
		}{
			{"public", "GET", "/health", "", nil},
			{"keyed", "GET", "/api/tiers", "", []string{"X-Publishable-Key", pk}},
			{"end user", "GET", "/api/usage", "", []string{"X-Publishable-Key", pk, "X-Clerk-Token", token}},
			{"secret key", "GET", "/api/dashboard", "", []string{"Authorization", "Bearer " + sk}},
			{"dev", "POST", "/dev/tokens", `{"publishableKey":"` + pk + `","email":"cors@example.com"}`, nil},
			{"webhook", "POST", "/webhook/stripe", `{}`, nil},
			{"refused", "GET", "/api/usage", "", []string{"X-Publishable-Key", pk}},
			{"no route", "GET", "/nothing/here", "", nil},
			{"preflight", "OPTIONS", "/api/data", "", nil},
		} {
			res := h.do(tt.method, tt.path, tt.body, append([]string{"Origin", origin}, tt.headers...)...)
			if got, ok := res.header["Access-Control-Allow-Credentials"]; ok {
				t.Errorf("a %s route (%s %s) answered Access-Control-Allow-Credentials %q, want none", tt.class, tt.method, tt.path, got)
			}
			if got := res.header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("a %s route (%s %s) answered Access-Control-Allow-Origin %q, want the caller's %s", tt.class, tt.method, tt.path, got, origin)
			}
		}
	})
	t.Run("InvalidOriginNotEchoed", func(t *testing.T) {
		for _, origin := range []string{"null", "https://" + strings.Repeat("a", 64<<10) + ".example.com", "javascript:alert(1)",
			"https://app.example.com/path", "ftp://app.example.com", "https://user@app.example.com", "https://", "app.example.com",
			"https://app.example.com?x=1", "https://app.example.com#top", "https://app example.com", "HTTPS://app.example.com"} {
			res := h.do("GET", "/health", "", "Origin", origin)
			if got := res.header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("an Origin of %d bytes starting %.40q came back as Access-Control-Allow-Origin %.40q, want *", len(origin), origin, got)
			}
		}
	})
	t.Run("ValidOriginsEchoed", func(t *testing.T) {
		for _, origin := range []string{"https://app.example.com", "http://localhost:5173", "http://127.0.0.1:8080", "http://[::1]:3000",
			"https://xn--bcher-kva.example"} {
			if got := h.do("GET", "/health", "", "Origin", origin).header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("the Origin %s came back as Access-Control-Allow-Origin %q, want it echoed", origin, got)
			}
		}
	})
	t.Run("Preflight", func(t *testing.T) {
		for _, path := range []string{"/api/data", "/anything/at/all"} {
			res := h.do("OPTIONS", path, "", "Origin", "http://localhost:5173")
			if res.status != http.StatusNoContent || res.raw != "" {
				t.Fatalf("preflight OPTIONS %s answered %d %q, want 204 with an empty body", path, res.status, res.raw)
			}
			for _, want := range []string{"X-Clerk-Token", "X-Publishable-Key", "Authorization", "Content-Type"} {
				if !strings.Contains(res.header.Get("Access-Control-Allow-Headers"), want) {
					t.Errorf("preflight allows headers %q, want %s among them",
						res.header.Get("Access-Control-Allow-Headers"), want)
				}
			}
			if !strings.Contains(res.header.Get("Access-Control-Allow-Methods"), "PATCH") {
				t.Errorf("preflight allows methods %q, want PATCH among them", res.header.Get("Access-Control-Allow-Methods"))
			}
		}
	})
	t.Run("RequestID", func(t *testing.T) {
		a, b := h.do("GET", "/health", ""), h.do("GET", "/health", "")
		if a.header.Get("X-Request-Id") == b.header.Get("X-Request-Id") {
			t.Fatalf("two requests both got X-Request-Id %q, want a different id for each", a.header.Get("X-Request-Id"))
		}
		if got := h.do("GET", "/health", "", "X-Request-Id", "fly-abc.123_x").header.Get("X-Request-Id"); got != "fly-abc.123_x" {
			t.Fatalf("the caller's X-Request-Id came back as %q, want fly-abc.123_x kept", got)
		}
		if got := h.do("GET", "/health", "", "X-Request-Id", "evil\nlog line").header.Get("X-Request-Id"); strings.ContainsAny(got, "\n ") {
			t.Fatalf("an X-Request-Id with a newline came back as %q, want it replaced by a safe id", got)
		}
	})
}

func TestRouting(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, tt := range []struct {
		name, method, path string
		headers            []string
		status             int
		code               string
	}{
		{"UnknownWithoutCredentials", "GET", "/api/nothing", nil, 404, "Not found"},
		{"UnknownWithSecretKey", "GET", "/api/nothing", []string{"Authorization", "Bearer " + h.saas.Test.SecretKey}, 404, "Not found"},
		{"TrailingSlashIsExact", "GET", "/api/tiers/", nil, 404, "Not found"},
		{"WrongMethod", "DELETE", "/api/tiers", nil, 405, "Method not allowed"},
		{"HeadIsNotRouted", "PUT", "/api/data", nil, 405, "Method not allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := h.do(tt.method, tt.path, "", tt.headers...)
			expectError(t, res, tt.status, tt.code, "")
		})
	}
	if got := h.do("DELETE", "/api/tiers", "").header.Get("Allow"); !strings.Contains(got, "GET") {
		t.Fatalf("DELETE /api/tiers answered with Allow %q, want it to list GET", got)
	}
}

func TestCredentials(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	unknownSK, _ := dream.NewSecretKey(dream.ModeTest)
	for _, tt := range []struct {
		name    string
		headers []string
		status  int
		code    string
		message string
	}{
		{"Nothing", nil, 401, "Missing authentication", "Provide Authorization: Bearer {secret_key} or X-Publishable-Key header"},
		{"NotBearer", []string{"Authorization", "Basic abc"}, 401, "Missing authentication", ""},
		{"BearerNotSecretKey", []string{"Authorization", "Bearer pk_test_abc"}, 401, "Invalid API key", "API key not found or expired"},
		{"MalformedSecretKey", []string{"Authorization", "Bearer sk_test_abc"}, 401, "Invalid API key", "API key not found or expired"},
		{"UnknownSecretKey", []string{"Authorization", "Bearer " + unknownSK}, 401, "Invalid API key", ""},
		{"SecretKeyWithWrongModePrefix", []string{"Authorization", "Bearer sk_live_" + strings.TrimPrefix(h.saas.Test.SecretKey, "sk_test_")}, 401, "Invalid API key", ""},
		{"LowercaseBearer", []string{"Authorization", "bearer " + h.saas.Test.SecretKey}, 401, "Missing authentication", ""},
		{"MalformedPublishableKey", []string{"X-Publishable-Key", "pk_test_nope"}, 401, "Invalid publishable key", "Publishable key not found or invalid"},
		{"UnknownPublishableKey", []string{"X-Publishable-Key", dream.NewPublishableKey(dream.ModeLive)}, 401, "Invalid publishable key", ""},
		{"SecretKeyAsPublishableKey", []string{"X-Publishable-Key", h.saas.Test.SecretKey}, 401, "Invalid publishable key", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			expectError(t, h.do("GET", "/api/tiers", "", tt.headers...), tt.status, tt.code, tt.message)
		})
	}
	t.Run("PublishableKeyIgnoresOtherBearer", func(t *testing.T) {
		res := h.do("GET", "/api/tiers", "", "X-Publishable-Key", h.saas.Test.PublishableKey, "Authorization", "Bearer something-else")
		if res.status != 200 {
			t.Fatalf("tiers with a publishable key and an unrelated bearer answered %d %s, want 200", res.status, res.raw)
		}
	})
	t.Run("SecretKey", func(t *testing.T) {
		if res := h.do("GET", "/api/tiers", "", "Authorization", "Bearer "+h.saas.Test.SecretKey); res.status != 200 {
			t.Fatalf("tiers with the project's secret key answered %d %s, want 200", res.status, res.raw)
		}
	})
	t.Run("RotatedSecretKey", func(t *testing.T) {
		p := primary.New(h.db, h.clock, nil)
		sk, hash := dream.NewSecretKey(dream.ModeTest)
		if err := p.Write(context.Background(), dream.RotateSecretKey{EnvironmentID: h.saas.Test.EnvironmentID, NewHash: hash}, nil); err != nil {
			t.Fatal(err)
		}
		h.refresh()
		expectError(t, h.do("GET", "/api/tiers", "", "Authorization", "Bearer "+h.saas.Test.SecretKey), 401, "Invalid API key", "")
		if res := h.do("GET", "/api/tiers", "", "Authorization", "Bearer "+sk); res.status != 200 {
			t.Fatalf("tiers with the rotated-in secret key answered %d %s, want 200", res.status, res.raw)
		}
	})
}

func TestSecretKeyOverride(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	sk := "Bearer " + h.saas.Test.SecretKey
	t.Run("OwnKey", func(t *testing.T) {
		res := h.do("GET", "/api/tiers", "", "Authorization", sk, "X-Publishable-Key", h.saas.Test.PublishableKey)
		if res.status != 200 || len(res.body["tiers"].([]any)) != 3 {
			t.Fatalf("tiers with the secret key and its own publishable key answered %d %s, want 200 with 3 tiers",
				res.status, res.raw)
		}
	})
	t.Run("SamePlatformAndMode", func(t *testing.T) {
		res := h.do("GET", "/api/products", "", "Authorization", sk, "X-Publishable-Key", h.shop.Test.PublishableKey)
		if res.status != 200 || len(res.body["products"].([]any)) != 3 {
			t.Fatalf("products via the same developer's store publishable key answered %d %s, want 200 with 3 products",
				res.status, res.raw)
		}
	})
	for _, tt := range []struct{ name, pk string }{
		{"OtherPlatform", h.other.Test.PublishableKey},
		{"OtherMode", h.saas.Live.PublishableKey},
		{"OtherModeOtherProject", h.shop.Live.PublishableKey},
		{"Unknown", dream.NewPublishableKey(dream.ModeTest)},
		{"Malformed", "pk_test_x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := h.do("GET", "/api/tiers", "", "Authorization", sk, "X-Publishable-Key", tt.pk)
			expectError(t, res, 403, "Forbidden", "Publishable key does not belong to this account")
		})
	}
}

func TestPlatformGate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	setPlatform := func(status dream.SubscriptionStatus, endedAgo time.Duration) {
		var ended time.Time
		if endedAgo > 0 {
			ended = h.clock().Add(-endedAgo)
		}
		storetest.SetPlatformSubscription(t, h.db, h.saas.PlatformID, status, ended)
		h.refresh()
	}
	live := func() []response {
		tok := h.token(h.saas.Live.PublishableKey, "gate@example.com", "")
		return []response{
			h.do("GET", "/api/tiers", "", "X-Publishable-Key", h.saas.Live.PublishableKey),
			h.do("GET", "/api/tiers", "", "Authorization", "Bearer "+h.saas.Live.SecretKey),
			h.do("GET", "/api/usage", "", "X-Publishable-Key", h.saas.Live.PublishableKey, "X-Clerk-Token", tok),
		}
	}
	for _, tt := range []struct {
		name     string
		status   dream.SubscriptionStatus
		endedAgo time.Duration
		allowed  bool
	}{
		{"NeverSubscribed", "none", 0, false},
		{"Trialing", "trialing", 0, true},
		{"Active", "active", 0, true},
		{"PastDue", "past_due", 0, true},
		{"CanceledInGrace", "canceled", 6 * 24 * time.Hour, true},
		{"CanceledAfterGrace", "canceled", 8 * 24 * time.Hour, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setPlatform(tt.status, tt.endedAgo)
			for _, res := range live() {
				if tt.allowed && res.status != 200 {
					t.Fatalf("a live call with platform subscription %s answered %d %s, want 200", tt.status, res.status, res.raw)
				}
				if !tt.allowed {
					expectError(t, res, 403, "subscription_expired", "Subscription expired. Please renew at dashboard to restore API access.")
				}
			}
			// Test keys always work: building on localhost is free.
			if res := h.do("GET", "/api/tiers", "", "X-Publishable-Key", h.saas.Test.PublishableKey); res.status != 200 {
				t.Fatalf("tiers with a test publishable key answered %d %s under platform subscription %s, want 200",
					res.status, res.raw, tt.status)
			}
		})
	}
}

func TestTiers(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	res := h.do("GET", "/api/tiers", "", "X-Publishable-Key", h.saas.Test.PublishableKey)
	var body struct {
		Tiers []json.RawMessage `json:"tiers"`
	}
	if err := json.Unmarshal([]byte(res.raw), &body); err != nil || len(body.Tiers) != 3 {
		t.Fatalf("tiers answered %d %s, want a JSON body with 3 tiers", res.status, res.raw)
	}
	const wantPro = `{"id":"pro","name":"Pro Plan","displayName":"Pro Plan","price":2900,"limit":10000,"features":["Pro Plan feature"],` +
		`"description":"","billingMode":"subscription","imageUrl":null,"inventory":null,"soldOut":false,"popular":false,` +
		`"stripePriceId":"price_pro","priceId":"price_pro","productId":"prod_pro","trialDays":null}`
	if string(body.Tiers[1]) != wantPro {
		t.Fatalf("the pro tier encodes as\n got %s\nwant %s", body.Tiers[1], wantPro)
	}
	if !strings.Contains(string(body.Tiers[2]), `"limit":"unlimited"`) {
		t.Fatalf("the enterprise tier encodes as %s, want %s in it", body.Tiers[2], `"limit":"unlimited"`)
	}
	store := h.do("GET", "/api/tiers", "", "X-Publishable-Key", h.shop.Test.PublishableKey)
	tiers := store.body["tiers"].([]any)
	if poster := tiers[1].(map[string]any); poster["soldOut"] != true || poster["inventory"] != 0.0 || poster["billingMode"] != "one_off" {
		t.Fatalf("the store's poster tier is %v, want sold out, inventory 0 and billing mode one_off", poster)
	}
}

func TestProducts(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	res := h.do("GET", "/api/products", "", "X-Publishable-Key", h.shop.Test.PublishableKey)
	var body struct {
		Products []json.RawMessage `json:"products"`
	}
	if err := json.Unmarshal([]byte(res.raw), &body); err != nil || len(body.Products) != 3 {
		t.Fatalf("products answered %d %s, want a JSON body with 3 products", res.status, res.raw)
	}
	const wantMug = `{"id":"prod_mug","key":"mug","name":"Mug","displayName":"Mug","description":"Big mug","price":1200,"currency":"usd",` +
		`"imageUrl":null,"inventory":5,"soldOut":false,"priceId":"price_mug","productId":"prod_mug","features":[]}`
	if string(body.Products[0]) != wantMug {
		t.Fatalf("the mug product encodes as\n got %s\nwant %s", body.Products[0], wantMug)
	}
	if !strings.Contains(string(body.Products[1]), `"id":"poster"`) || !strings.Contains(string(body.Products[1]), `"soldOut":true`) {
		t.Fatalf("the poster product encodes as %s, want id \"poster\" (its tier slug) and soldOut true", body.Products[1])
	}
	if saas := h.do("GET", "/api/products", "", "X-Publishable-Key", h.saas.Test.PublishableKey); len(saas.body["products"].([]any)) != 0 {
		t.Fatalf("products of a SaaS project answered %s, want an empty list", saas.raw)
	}
}

func TestEndUserToken(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pk := h.saas.Test.PublishableKey
	good := h.token(pk, "ada@example.com", "")
	foreignIssuer, err := auth.OpenDevIssuer(t.TempDir(), h.clock)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, _ := foreignIssuer.IssueToken(pk, "ada@example.com", "")
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]

	for _, route := range []struct{ method, path string }{{"POST", "/api/data"}, {"GET", "/api/usage"}} {
		t.Run(route.method+route.path, func(t *testing.T) {
			expectError(t, h.do(route.method, route.path, "", "X-Publishable-Key", pk), 401,
				"Invalid or missing end-user token", "Missing end-user token (send X-Clerk-Token with a valid JWT)")
			for name, tok := range map[string]string{"Tampered": tampered, "OtherIssuer": foreign, "Garbage": "not.a.jwt"} {
				res := h.do(route.method, route.path, "", "X-Publishable-Key", pk, "X-Clerk-Token", tok)
				if res.status != 401 || res.body["error"] != "Invalid or missing end-user token" {
					t.Fatalf("a %s end-user token answered %d %s, want 401 Invalid or missing end-user token",
						name, res.status, res.raw)
				}
			}
			// A token for another project is refused even with valid keys.
			otherTok := h.token(h.other.Test.PublishableKey, "ada@example.com", "")
			expectError(t, h.do(route.method, route.path, "", "X-Publishable-Key", pk, "X-Clerk-Token", otherTok), 403,
				"Publishable key mismatch", "End-user token does not match this project")
			expectError(t, h.do(route.method, route.path, "", "Authorization", "Bearer "+h.saas.Test.SecretKey, "X-Clerk-Token", otherTok), 403,
				"Publishable key mismatch", "")
			for _, header := range []string{"X-Clerk-Token", "X-User-Token", "X-End-User-Token"} {
				if res := h.do(route.method, route.path, "", "X-Publishable-Key", pk, header, good); res.status != 200 {
					t.Fatalf("a valid end-user token in %s answered %d %s, want 200", header, res.status, res.raw)
				}
			}
		})
	}
	t.Run("Expired", func(t *testing.T) {
		h.advance(25 * time.Hour)
		res := h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", good)
		expectError(t, res, 401, "Invalid or missing end-user token", "Token verification failed")
	})
}

func TestTrackAndUsage(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pk := h.saas.Test.PublishableKey
	tok := h.token(pk, "ada@example.com", "")
	track := func() response { return h.do("POST", "/api/data", "", "X-Publishable-Key", pk, "X-Clerk-Token", tok) }
	check := func() response { return h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", tok) }

	res := check()
	if res.body["usageCount"] != 0.0 || res.body["limit"] != 100.0 || res.body["remaining"] != 100.0 || res.body["plan"] != "free" ||
		res.body["periodStart"] != "2025-01-15" || res.body["periodEnd"] != "2025-02-13" || res.body["userId"] == "" {
		t.Fatalf("before any use the usage is %s, want usageCount 0 of the free plan's 100 from 2025-01-15 to 2025-02-13, "+
			"and a userId", res.raw)
	}
	res = track()
	want := `{"success":true,"data":{"message":"Request processed successfully"},"usage":{"count":1,"usageCount":1,"limit":100,` +
		`"remaining":99,"plan":"free","periodStart":"2025-01-15","periodEnd":"2025-02-13"}}`
	if res.status != 200 || res.raw != want {
		t.Fatalf("the first track answered\n got %d %s\nwant 200 %s", res.status, res.raw, want)
	}
	for i := 2; i <= 100; i++ {
		if res := track(); res.status != 200 {
			t.Fatalf("track %d of the free tier's 100 answered %d %s, want 200", i, res.status, res.raw)
		}
	}
	res = track()
	expectError(t, res, 403, "Tier limit reached", "Please upgrade to unlock more requests")
	if res.body["usageCount"] != 100.0 || res.body["limit"] != 100.0 || res.body["success"] != nil {
		t.Fatalf("the refusal at the limit is %s, want usageCount 100, limit 100 and no success field", res.raw)
	}
	if res := check(); res.body["usageCount"] != 100.0 || res.body["remaining"] != 0.0 {
		t.Fatalf("usage at the limit is %s, want usageCount 100 and remaining 0", res.raw)
	}

	t.Run("SecretKeyWithOverrideScopesUsage", func(t *testing.T) {
		// The same end user in the developer's other project starts at zero.
		res := h.do("GET", "/api/usage", "", "Authorization", "Bearer "+h.saas.Test.SecretKey, "X-Publishable-Key", h.shop.Test.PublishableKey, "X-Clerk-Token", tok)
		if res.status != 200 || res.body["usageCount"] != 0.0 {
			t.Fatalf("usage in the store project through the secret key override answered %d %s, want 200 with usageCount 0",
				res.status, res.raw)
		}
		res = h.do("GET", "/api/usage", "", "Authorization", "Bearer "+h.saas.Test.SecretKey, "X-Clerk-Token", tok)
		if res.status != 200 || res.body["usageCount"] != 100.0 {
			t.Fatalf("usage in the secret key's own project answered %d %s, want 200 with usageCount 100", res.status, res.raw)
		}
	})
	t.Run("TokenPlanRaisesLimit", func(t *testing.T) {
		pro := h.token(pk, "bob@example.com", "pro")
		res := h.do("POST", "/api/data", "", "X-Publishable-Key", pk, "X-Clerk-Token", pro)
		if u := res.body["usage"].(map[string]any); u["plan"] != "pro" || u["limit"] != 10000.0 {
			t.Fatalf("a track with a pro token answered %s, want plan pro with limit 10000", res.raw)
		}
		ent := h.token(pk, "cy@example.com", "Enterprise")
		res = h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", ent)
		if res.body["plan"] != "enterprise" || res.body["limit"] != "unlimited" || res.body["remaining"] != "unlimited" {
			t.Fatalf("usage with an Enterprise token is %s, want plan enterprise with unlimited limit and remaining", res.raw)
		}
	})
	t.Run("NewPeriodOnReadAndWrite", func(t *testing.T) {
		h.advance(30 * 24 * time.Hour) // 2025-02-14: the period has ended
		tok = h.token(pk, "ada@example.com", "")
		res := check()
		if res.body["usageCount"] != 0.0 || res.body["periodStart"] != "2025-02-14" || res.body["periodEnd"] != "2025-03-15" {
			t.Fatalf("usage after the period ended is %s, want usageCount 0 from 2025-02-14 to 2025-03-15", res.raw)
		}
		res = track()
		if u := res.body["usage"].(map[string]any); res.status != 200 || u["count"] != 1.0 || u["periodStart"] != "2025-02-14" {
			t.Fatalf("a track after the period ended answered %s, want 200 with count 1 from 2025-02-14", res.raw)
		}
	})
}

func TestIsolation(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	// The same email in two developers' projects is two end users, and
	// usage never crosses.
	mine := h.token(h.saas.Test.PublishableKey, "same@example.com", "")
	theirs := h.token(h.other.Test.PublishableKey, "same@example.com", "")
	for i := 0; i < 3; i++ {
		h.do("POST", "/api/data", "", "X-Publishable-Key", h.saas.Test.PublishableKey, "X-Clerk-Token", mine)
	}
	res := h.do("GET", "/api/usage", "", "X-Publishable-Key", h.other.Test.PublishableKey, "X-Clerk-Token", theirs)
	if res.body["usageCount"] != 0.0 {
		t.Fatalf("usage of the same email in another developer's project is %s, want usageCount 0", res.raw)
	}
	// A test-mode key never reaches live data and vice versa.
	h.activatePlatform()
	liveTok := h.token(h.saas.Live.PublishableKey, "same@example.com", "")
	expectError(t, h.do("GET", "/api/usage", "", "Authorization", "Bearer "+h.saas.Live.SecretKey, "X-Clerk-Token", mine), 403, "Publishable key mismatch", "")
	expectError(t, h.do("GET", "/api/usage", "", "X-Publishable-Key", h.saas.Test.PublishableKey, "X-Clerk-Token", liveTok), 403, "Publishable key mismatch", "")
	// Another developer's secret key cannot borrow this project's scope.
	expectError(t, h.do("GET", "/api/usage", "", "Authorization", "Bearer "+h.other.Test.SecretKey,
		"X-Publishable-Key", h.saas.Test.PublishableKey, "X-Clerk-Token", mine), 403, "Forbidden", "Publishable key does not belong to this account")
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, harnessOptions{rateLimit: 3})
	pk := h.saas.Test.PublishableKey
	tok := h.token(pk, "fast@example.com", "")
	var res response
	for i := 1; i <= 3; i++ {
		res = h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", tok)
		if res.status != 200 || res.header.Get("RateLimit-Limit") != "3" || res.header.Get("RateLimit-Remaining") != string(rune('0'+3-i)) {
			t.Fatalf("request %d answered %d with headers %v, want 200 with RateLimit-Limit 3 and RateLimit-Remaining %d",
				i, res.status, res.header, 3-i)
		}
	}
	res = h.do("POST", "/api/data", "", "X-Publishable-Key", pk, "X-Clerk-Token", tok)
	expectError(t, res, 429, "Rate limit exceeded", "Maximum 3 requests per minute")
	if res.body["retryAfter"] != 20.0 || res.header.Get("Retry-After") != "20" || res.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("the rate-limited answer is %s with headers %v, want retryAfter 20, Retry-After 20, RateLimit-Remaining 0",
			res.raw, res.header)
	}
	// Other users and keyed routes are not affected.
	if res := h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", h.token(pk, "slow@example.com", "")); res.status != 200 {
		t.Fatalf("another end user answered %d while the first was rate limited, want 200", res.status)
	}
	if res := h.do("GET", "/api/tiers", "", "X-Publishable-Key", pk); res.status != 200 || res.header.Get("RateLimit-Limit") != "" {
		t.Fatalf("tiers answered %d with headers %v, want 200 without RateLimit-Limit (not rate limited)",
			res.status, res.header)
	}
	h.advance(20 * time.Second)
	if res := h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", tok); res.status != 200 {
		t.Fatalf("usage after waiting out Retry-After answered %d %s, want 200", res.status, res.raw)
	}

	t.Run("ProjectSetting", func(t *testing.T) {
		zero, fifty := 0, 50
		storetest.SetRateLimit(t, h.db, h.saas.ID, &zero)
		h.refresh()
		for i := 0; i < 10; i++ {
			if res := h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", tok); res.status != 200 || res.header.Get("RateLimit-Limit") != "" {
				t.Fatalf("with the project's rate limit at 0, usage answered %d with headers %v, want 200 without RateLimit-Limit",
					res.status, res.header)
			}
		}
		storetest.SetRateLimit(t, h.db, h.saas.ID, &fifty)
		h.refresh()
		if res := h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", tok); res.header.Get("RateLimit-Limit") != "50" {
			t.Fatalf("with the project's rate limit at 50, usage has headers %v, want RateLimit-Limit 50", res.header)
		}
	})
	t.Run("ServerDisabled", func(t *testing.T) {
		h := newHarness(t, harnessOptions{rateLimit: 0})
		tok := h.token(h.saas.Test.PublishableKey, "x@example.com", "")
		for i := 0; i < 150; i++ {
			if res := h.do("GET", "/api/usage", "", "X-Publishable-Key", h.saas.Test.PublishableKey, "X-Clerk-Token", tok); res.status != 200 {
				t.Fatalf("with rate limiting off on the server, request %d answered %d, want 200", i, res.status)
			}
		}
	})
}

// failingWriter stands for a primary that breaks: it panics or fails.
type failingWriter struct {
	dream.Writer
	panics bool
}

func (w failingWriter) Write(ctx context.Context, write dream.Write, result any) error {
	if _, track := write.(dream.TrackUsage); !track {
		return w.Writer.Write(ctx, write, result)
	}
	if w.panics {
		panic("primary exploded")
	}
	return io.ErrUnexpectedEOF
}

func TestInternalErrors(t *testing.T) {
	for _, panics := range []bool{false, true} {
		h := newHarness(t, harnessOptions{noOutbox: true, writer: func(w dream.Writer) dream.Writer { return failingWriter{w, panics} }})
		tok := h.token(h.saas.Test.PublishableKey, "x@example.com", "")
		res := h.do("POST", "/api/data", "", "X-Publishable-Key", h.saas.Test.PublishableKey, "X-Clerk-Token", tok)
		expectError(t, res, 500, "internal_error", "Internal error")
		id := res.header.Get("X-Request-Id")
		logs := h.logs.String()
		if !strings.Contains(logs, id) || (panics && !strings.Contains(logs, "primary exploded")) || (!panics && !strings.Contains(logs, "unexpected EOF")) {
			t.Fatalf("the logs lack request id %s or the cause (panic: %v), want both:\n%s", id, panics, logs)
		}
		if strings.Contains(res.raw, "EOF") || strings.Contains(res.raw, "exploded") {
			t.Fatalf("the 500 answer is %s, want no detail of the cause", res.raw)
		}
	}
}

func TestRequestLog(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.token(h.saas.Test.PublishableKey, "log@example.com", "")
	res := h.do("POST", "/api/data", "", "Authorization", "Bearer "+h.saas.Test.SecretKey, "X-Clerk-Token", tok)
	if res.status != 200 {
		t.Fatalf("a track with the secret key answered %d %s, want 200", res.status, res.raw)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		json.Unmarshal([]byte(l), &line)
	}
	if line["msg"] != "request" || line["method"] != "POST" || line["route"] != "/api/data" || line["status"] != 200.0 ||
		line["request_id"] != res.header.Get("X-Request-Id") || line["project"] != h.saas.ID || line["duration"] == nil {
		t.Fatalf("the last log line is %v, want a request entry for POST /api/data with status 200, "+
			"its request id, project %s and a duration", line, h.saas.ID)
	}
	logs := h.logs.String()
	for _, secret := range []string{h.saas.Test.SecretKey, tok, h.saas.Test.PublishableKey} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds a secret key, end-user token or publishable key, want none:\n%s", logs)
		}
	}
}

func TestDevTokens(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pk := h.saas.Test.PublishableKey
	res := h.do("POST", "/dev/tokens", `{"publishableKey":"`+pk+`","email":"Ada@Example.com","plan":"pro"}`)
	if res.status != 200 || res.body["token"] == "" || res.body["userId"] == "" {
		t.Fatalf("POST /dev/tokens answered %d %s, want 200 with a token and a userId", res.status, res.raw)
	}
	again := h.do("POST", "/dev/tokens", `{"publishableKey":"`+pk+`","email":"ada@example.com"}`)
	if again.body["userId"] != res.body["userId"] {
		t.Fatalf("dev tokens for one email in two cases answered %s then %s, want the same userId", res.raw, again.raw)
	}
	usage := h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", again.body["token"].(string))
	if usage.status != 200 || usage.body["plan"] != "pro" || usage.body["userId"] != res.body["userId"] {
		t.Fatalf("usage with a dev token for plan pro is %s, want 200 with plan pro and the token's userId", usage.raw)
	}
	expectError(t, h.do("POST", "/dev/tokens", `{"publishableKey":"`+pk+`"}`), 400, "Missing required field", "")
	expectError(t, h.do("POST", "/dev/tokens", `{"email":"a@b.c"}`), 400, "Missing required field", "publishableKey is required")
	expectError(t, h.do("POST", "/dev/tokens", `{"publishableKey":"`+dream.NewPublishableKey(dream.ModeTest)+`","email":"a@b.c"}`), 401, "Invalid publishable key", "")
	expectError(t, h.do("POST", "/dev/tokens", `{"publishableKey":`), 400, "Invalid JSON body", "")
	expectError(t, h.do("POST", "/dev/tokens", ``), 400, "Invalid JSON body", "")
	expectError(t, h.do("POST", "/dev/tokens", `{"email":"`+strings.Repeat("a", 2<<20)+`"}`), 413, "Request too large", "")

	jwks := h.do("GET", "/.well-known/jwks.json", "")
	keys, _ := jwks.body["keys"].([]any)
	if jwks.status != 200 || len(keys) != 1 {
		t.Fatalf("the JWKS answered %d %s, want 200 with one key", jwks.status, jwks.raw)
	}

	t.Run("ProductionHasNone", func(t *testing.T) {
		h := newHarness(t, harnessOptions{noDev: true})
		expectError(t, h.do("POST", "/dev/tokens", `{"publishableKey":"`+pk+`","email":"a@b.c"}`), 404, "Not found", "")
		expectError(t, h.do("GET", "/.well-known/jwks.json", ""), 404, "Not found", "")
	})
}

func TestHealthAndReadiness(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	if res := h.do("GET", "/healthz", ""); res.status != 200 {
		t.Fatalf("/healthz answered %d, want 200", res.status)
	}
	if res := h.do("GET", "/readyz", ""); res.status != 200 || res.body["status"] != "ready" {
		t.Fatalf("/readyz answered %d %s, want 200 with status ready", res.status, res.raw)
	}

	// A replica whose copy lags is not ready.
	dir := t.TempDir()
	db := filepath.Join(dir, "dream.db")
	os.WriteFile(filepath.Join(dir, ".lag"), []byte("+0000020000\n"), 0o644)
	lagging, err := edge.Open(context.Background(), edge.Options{DB: h.db, LiteFS: store.DetectLiteFS(db), Logger: slog.New(slog.DiscardHandler), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer lagging.Close()
	rec := httptest.NewRecorder()
	lagging.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "20s behind") {
		t.Fatalf("/readyz on a replica 20 s behind answered %d %s, want 503 saying 20s behind", rec.Code, rec.Body.String())
	}
	os.WriteFile(filepath.Join(dir, ".lag"), []byte("+0000000040\n"), 0o644)
	rec = httptest.NewRecorder()
	lagging.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 {
		t.Fatalf("/readyz on a caught-up replica answered %d %s, want 200", rec.Code, rec.Body.String())
	}
}

func TestTrackIdempotencyKey(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pk := h.saas.Test.PublishableKey
	token := h.token(pk, "retry@example.com", "")
	track := func(key string) response {
		return h.do("POST", "/api/data", "", "X-Publishable-Key", pk, "X-Clerk-Token", token, "Idempotency-Key", key)
	}
	first := track("req-1")
	again := track("req-1")
	if first.status != 200 || again.raw != first.raw {
		t.Fatalf("a track and its retry with one idempotency key answered %d\n%s\nand\n%s\nwant 200 and the same answer",
			first.status, first.raw, again.raw)
	}
	if res := track("req-2"); res.body["usage"].(map[string]any)["count"] != 2.0 {
		t.Fatalf("a track with a new idempotency key answered %s, want count 2", res.raw)
	}
	// Keys are per end user: another user's "req-1" is their own.
	other := h.token(pk, "other@example.com", "")
	if res := h.do("POST", "/api/data", "", "X-Publishable-Key", pk, "X-Clerk-Token", other, "Idempotency-Key", "req-1"); res.body["usage"].(map[string]any)["count"] != 1.0 {
		t.Fatalf("another end user's track with idempotency key req-1 answered %s, want count 1", res.raw)
	}
	expectError(t, track(strings.Repeat("k", 300)), 400, "Invalid idempotency key", "")
}
