package edge_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store/storetest"
)

// developer is a signed-up developer of a test.
type developer struct {
	platformID, token, csrf, email string
}

// bearer is the developer's Authorization header.
func (d developer) bearer() []string { return []string{"Authorization", "Bearer " + d.token} }

// signUp creates a local account.
func (h *harness) signUp(email string) developer {
	h.t.Helper()
	res := h.do("POST", "/v1/accounts", fmt.Sprintf(`{"email":%q,"password":"correct horse battery"}`, email))
	if res.status != http.StatusCreated {
		h.t.Fatalf("signing up %s answered %d %s, want 201", email, res.status, res.raw)
	}
	return developer{platformID: res.body["platformId"].(string), token: res.body["token"].(string),
		csrf: res.body["csrfToken"].(string), email: email}
}

// raw serves a request whose answer need not be JSON.
func (h *harness) raw(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.current().ServeHTTP(rec, req)
	return rec
}

// createProject creates a project through the API and returns its id and
// test keys.
func (h *harness) createProject(d developer, name string, typ dream.ProjectType) (id, pk, sk string) {
	h.t.Helper()
	res := h.do("POST", "/v1/projects", fmt.Sprintf(`{"name":%q,"type":%q,"allowedOrigins":["https://app.example.com"]}`, name, typ), d.bearer()...)
	if res.status != http.StatusCreated {
		h.t.Fatalf("creating project %s answered %d %s, want 201", name, res.status, res.raw)
	}
	keys := res.body["environments"].(map[string]any)["test"].(map[string]any)
	return res.body["id"].(string), keys["publishableKey"].(string), keys["secretKey"].(string)
}

// connect connects the developer's account of mode through the emulator's
// Connect page, as their browser would, and returns the callback's answer.
func (h *harness) connect(d developer, mode dream.Mode) *httptest.ResponseRecorder {
	h.t.Helper()
	start := h.raw("GET", "/v1/connect/"+string(mode)+"/authorize", "", d.bearer()...)
	to, err := url.Parse(start.Header().Get("Location"))
	if start.Code != http.StatusFound || err != nil || to.Path != "/dev/connect/authorize" {
		h.t.Fatalf("starting Connect answered %d to %q, want a redirect to the emulator's Connect page", start.Code, start.Header().Get("Location"))
	}
	page := h.raw("POST", "/dev/connect/authorize", url.Values{"mode": {string(mode)}, "state": {to.Query().Get("state")}, "decision": {"allow"}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded")
	back, _ := url.Parse(page.Header().Get("Location"))
	return h.raw("GET", back.RequestURI(), "")
}

// TestConsole_Journey drives a developer's whole way over HTTP: sign up,
// a project and its keys, Connect, a tier an end user upgrades to, a key
// rotated with overlap, promotion to live, and deletion.
func TestConsole_Journey(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.signUp("ada@example.com")

	if res := h.do("GET", "/v1/account", "", d.bearer()...); res.status != 200 || res.body["platformId"] != d.platformID ||
		res.body["email"] != "ada@example.com" || res.body["subscription"].(map[string]any)["status"] != "none" {
		t.Fatalf("GET /v1/account answered %d %s, want the new platform with no subscription", res.status, res.raw)
	}
	id, pk, sk := h.createProject(d, "Ada's SaaS", dream.ProjectSaaS)
	if res := h.do("GET", "/v1/projects/"+id, "", d.bearer()...); res.status != 200 ||
		strings.Contains(res.raw, sk) || strings.Contains(res.raw, "secretKey") {
		t.Fatalf("GET the project answered %d %s, want it without any secret key: it is shown once", res.status, res.raw)
	}
	if res := h.do("GET", "/api/tiers", "", "Authorization", "Bearer "+sk); res.status != 200 || len(res.body["tiers"].([]any)) != 0 {
		t.Fatalf("the new secret key read /api/tiers as %d %s, want 200 and no tiers yet", res.status, res.raw)
	}

	// A tier saved before Stripe is connected is created there on connect.
	res := h.do("POST", "/v1/projects/"+id+"/environments/test/tiers",
		`{"name":"free","displayName":"Free","price":0,"limit":50}`, d.bearer()...)
	if res.status != http.StatusCreated || res.body["priceId"] != nil {
		t.Fatalf("adding a tier before Connect answered %d %s, want 201 and no price yet", res.status, res.raw)
	}
	if back := h.connect(d, dream.ModeTest); back.Code != http.StatusFound || back.Header().Get("Location") != "/dashboard?mode=test&stripe=connected" {
		t.Fatalf("the Connect callback answered %d to %q, want the dashboard told test mode connected", back.Code, back.Header().Get("Location"))
	}
	res = h.do("POST", "/v1/projects/"+id+"/environments/test/tiers",
		`{"name":"pro","displayName":"Pro","price":2900,"limit":1000,"features":["Email support"],"popular":true,"trialDays":7}`, d.bearer()...)
	if res.status != http.StatusCreated || !strings.HasPrefix(fmt.Sprint(res.body["priceId"]), "price_dev_") {
		t.Fatalf("adding a tier answered %d %s, want 201 with a price at the connected account", res.status, res.raw)
	}
	oldPrice := res.body["priceId"]
	tiers := h.do("GET", "/api/tiers", "", "X-Publishable-Key", pk).body["tiers"].([]any)
	if len(tiers) != 2 || tiers[0].(map[string]any)["priceId"] == nil || tiers[1].(map[string]any)["id"] != "pro" {
		t.Fatalf("the customer API lists %v, want free (synced on connect) and pro", tiers)
	}
	res = h.do("PATCH", "/v1/projects/"+id+"/environments/test/tiers/pro", `{"price":3900}`, d.bearer()...)
	if res.status != 200 || res.body["price"] != 3900.0 || res.body["priceId"] == oldPrice {
		t.Fatalf("changing the price answered %d %s, want a new price", res.status, res.raw)
	}

	// An end user upgrades to the new tier through the emulator.
	token := h.token(pk, "grace@example.com", "")
	res = h.do("POST", "/api/create-checkout", `{"tier":"pro","successUrl":"https://app.example.com/ok","cancelUrl":"https://app.example.com/no"}`,
		"X-Publishable-Key", pk, "X-Clerk-Token", token)
	if res.status != 200 {
		t.Fatalf("checkout of the new tier answered %d %s, want 200", res.status, res.raw)
	}

	// Rotation with overlap: the old key works until the overlap ends.
	res = h.do("POST", "/v1/projects/"+id+"/environments/test/rotate", `{"overlapSeconds":3600}`, d.bearer()...)
	newSK, _ := res.body["secretKey"].(string)
	if res.status != 200 || !strings.HasPrefix(newSK, "sk_test_") {
		t.Fatalf("rotating answered %d %s, want a new test secret key", res.status, res.raw)
	}
	for _, key := range []string{sk, newSK} {
		if res := h.do("GET", "/api/tiers", "", "Authorization", "Bearer "+key); res.status != 200 {
			t.Fatalf("during the overlap a key got %d, want both keys to work", res.status)
		}
	}
	h.advance(time.Hour + time.Second)
	if res := h.do("GET", "/api/tiers", "", "Authorization", "Bearer "+sk); res.status != 401 {
		t.Fatalf("after the overlap the old key got %d, want 401", res.status)
	}
	if res := h.do("GET", "/api/tiers", "", "Authorization", "Bearer "+newSK); res.status != 200 {
		t.Fatalf("after the overlap the new key got %d, want 200", res.status)
	}

	// Promotion needs a live account and a platform subscription.
	expectError(t, h.do("POST", "/v1/projects/"+id+"/promote", "", d.bearer()...), 403, "platform_subscription_required", "")
	storetest.SetPlatformSubscription(t, h.db, d.platformID, dream.StatusTrialing, time.Time{})
	h.refresh()
	expectError(t, h.do("POST", "/v1/projects/"+id+"/promote", "", d.bearer()...), 403, "live_account_required", "")
	h.connect(d, dream.ModeLive)
	res = h.do("POST", "/v1/projects/"+id+"/promote", "", d.bearer()...)
	live, _ := res.body["environments"].(map[string]any)["live"].(map[string]any)
	if res.status != 200 || live == nil || !strings.HasPrefix(fmt.Sprint(live["secretKey"]), "sk_live_") {
		t.Fatalf("promoting answered %d %s, want live keys with the secret shown once", res.status, res.raw)
	}
	liveTiers := h.do("GET", "/api/tiers", "", "X-Publishable-Key", live["publishableKey"].(string)).body["tiers"].([]any)
	if len(liveTiers) != 2 || liveTiers[1].(map[string]any)["priceId"] == tiers[1].(map[string]any)["priceId"] {
		t.Fatalf("the live catalogue is %v, want the two test tiers with live prices of their own", liveTiers)
	}
	if res := h.do("GET", "/api/tiers", "", "Authorization", "Bearer "+newSK); res.status != 200 {
		t.Fatalf("after promotion the test key got %d, want the test environment untouched", res.status)
	}
	expectError(t, h.do("POST", "/v1/projects/"+id+"/promote", "", d.bearer()...), 409, "already_live", "")

	// Deletion needs the name, and then every key stops.
	expectError(t, h.do("DELETE", "/v1/projects/"+id, `{"confirm":"Ada's"}`, d.bearer()...), 400, "confirmation_required", "")
	if res := h.raw("DELETE", "/v1/projects/"+id, `{"confirm":"Ada's SaaS"}`, d.bearer()...); res.Code != http.StatusNoContent {
		t.Fatalf("deleting answered %d %s, want 204", res.Code, res.Body)
	}
	for _, key := range []string{newSK, live["secretKey"].(string)} {
		if res := h.do("GET", "/api/tiers", "", "Authorization", "Bearer "+key); res.status != 401 {
			t.Fatalf("after deletion a key got %d, want 401", res.status)
		}
	}
	if n := storetest.Count(t, h.db, `SELECT count(*) FROM environments e JOIN projects p ON p.id = e.project_id WHERE p.id = ?`, id); n != 0 {
		t.Fatalf("%d environments of the deleted project remain, want none", n)
	}
	if res := h.do("GET", "/v1/projects", "", d.bearer()...); len(res.body["projects"].([]any)) != 0 {
		t.Fatalf("after deletion the projects are %s, want none", res.raw)
	}
	// The other developers' projects are untouched.
	if res := h.do("GET", "/api/tiers", "", "X-Publishable-Key", h.saas.Test.PublishableKey); res.status != 200 {
		t.Fatalf("another platform's project answered %d after the deletion, want 200", res.status)
	}
}

func TestConsole_Accounts(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	t.Run("SignUpValidation", func(t *testing.T) {
		for _, body := range []string{`{"email":"not an email","password":"correct horse battery"}`,
			`{"email":"a@example.com","password":"short"}`, `{"email":"a@example.com"}`,
			`{"email":"a@example.com","password":"` + strings.Repeat("p", dream.MaxDeveloperPassword+1) + `"}`} {
			if res := h.do("POST", "/v1/accounts", body); res.status != 400 {
				t.Errorf("signing up with %s answered %d %s, want 400", body, res.status, res.raw)
			}
		}
	})
	d := h.signUp("bob@example.com")
	t.Run("OneAccountPerEmail", func(t *testing.T) {
		expectError(t, h.do("POST", "/v1/accounts", `{"email":"BOB@example.com","password":"another password"}`), 409, "account_exists", "")
	})
	t.Run("SignIn", func(t *testing.T) {
		expectError(t, h.do("POST", "/v1/session", `{"email":"bob@example.com","password":"wrong password!"}`), 401, "invalid_credentials", "")
		expectError(t, h.do("POST", "/v1/session", `{"email":"nobody@example.com","password":"wrong password!"}`), 401, "invalid_credentials", "")
		res := h.do("POST", "/v1/session", `{"email":"Bob@Example.com","password":"correct horse battery"}`)
		if res.status != 200 || res.body["token"] == "" {
			t.Fatalf("signing in answered %d %s, want a token", res.status, res.raw)
		}
		cookie := res.header.Get("Set-Cookie")
		for _, attr := range []string{"dream_session=", "HttpOnly", "SameSite=Lax"} {
			if !strings.Contains(cookie, attr) {
				t.Errorf("the session cookie %q lacks %s", cookie, attr)
			}
		}
	})
	t.Run("Cookie", func(t *testing.T) {
		cookie := "dream_session=" + d.token
		if res := h.do("GET", "/v1/account", "", "Cookie", cookie); res.status != 200 || res.body["csrfToken"] != d.csrf {
			t.Fatalf("reading the account with the cookie answered %d %s, want 200 with the CSRF token", res.status, res.raw)
		}
		expectError(t, h.do("POST", "/v1/projects", `{"name":"x","type":"saas"}`, "Cookie", cookie), 403, "csrf_token_invalid", "")
		wrong := strings.Map(func(c rune) rune { return map[bool]rune{true: '1', false: '0'}[c == '0'] }, d.csrf[:1]) + d.csrf[1:]
		expectError(t, h.do("POST", "/v1/projects", `{"name":"x","type":"saas"}`, "Cookie", cookie, "X-CSRF-Token", wrong), 403, "csrf_token_invalid", "")
		if res := h.do("POST", "/v1/projects", `{"name":"x","type":"saas"}`, "Cookie", cookie, "X-CSRF-Token", d.csrf); res.status != 201 {
			t.Fatalf("a cookie write with the CSRF token answered %d %s, want 201", res.status, res.raw)
		}
	})
	t.Run("SignInAttemptsAreLimited", func(t *testing.T) {
		var last response
		for range dream.SignInAttemptsPerMinute + 1 {
			last = h.do("POST", "/v1/session", `{"email":"carol@example.com","password":"wrong password!"}`)
		}
		expectError(t, last, 429, "too_many_attempts", "")
		h.advance(time.Minute)
	})
	t.Run("SignOutEndsTheSession", func(t *testing.T) {
		e := h.signUp("dave@example.com")
		if res := h.raw("DELETE", "/v1/session", "", e.bearer()...); res.Code != http.StatusNoContent {
			t.Fatalf("signing out answered %d, want 204", res.Code)
		}
		expectError(t, h.do("GET", "/v1/account", "", e.bearer()...), 401, "unauthenticated", "")
	})
	t.Run("PasswordChangeEndsEverySession", func(t *testing.T) {
		e := h.signUp("erin@example.com")
		other := h.do("POST", "/v1/session", `{"email":"erin@example.com","password":"correct horse battery"}`).body["token"].(string)
		body := `{"currentPassword":"correct horse battery","newPassword":"a new long password"}`
		if res := h.raw("POST", "/v1/account/password", body, e.bearer()...); res.Code != http.StatusNoContent {
			t.Fatalf("changing the password answered %d %s, want 204", res.Code, res.Body)
		}
		for _, token := range []string{e.token, other} {
			expectError(t, h.do("GET", "/v1/account", "", "Authorization", "Bearer "+token), 401, "unauthenticated", "")
		}
		if res := h.do("POST", "/v1/session", `{"email":"erin@example.com","password":"a new long password"}`); res.status != 200 {
			t.Fatalf("signing in with the new password answered %d, want 200", res.status)
		}
	})
	t.Run("SessionsExpire", func(t *testing.T) {
		e := h.signUp("frank@example.com")
		h.advance(dream.SessionLifetime)
		expectError(t, h.do("GET", "/v1/account", "", e.bearer()...), 401, "unauthenticated", "")
	})
}

func TestConsole_Catalogue(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.signUp("cat@example.com")
	saas, _, _ := h.createProject(d, "SaaS", dream.ProjectSaaS)
	shop, shopPK, _ := h.createProject(d, "Shop", dream.ProjectStore)
	h.connect(d, dream.ModeTest)
	tiers := "/v1/projects/" + saas + "/environments/test/tiers"
	products := "/v1/projects/" + shop + "/environments/test/products"

	for _, c := range []struct {
		path, body string
		status     int
		code       string
		// param is the field the refusal names, if any.
		param string
	}{
		{tiers, `{"name":"Pro Plan","displayName":"Pro","price":1}`, 400, "invalid_tier", "name"},
		{tiers, `{"name":"pro","price":1}`, 400, "invalid_tier", "displayName"},
		{tiers, `{"name":"pro","displayName":"Pro","price":-1}`, 400, "invalid_tier", "price"},
		{tiers, `{"name":"pro","displayName":"Pro","price":1.5}`, 400, "Invalid JSON body", ""},
		{tiers, `{"name":"pro","displayName":"Pro","price":1,"inventory":3}`, 400, "invalid_tier", ""},
		{products, `{"name":"mug","displayName":"Mug","price":1,"limit":5}`, 400, "invalid_tier", ""},
		{products, `{"name":"mug","displayName":"Mug","price":1,"imageUrl":"javascript:alert(1)"}`, 400, "invalid_tier", "imageUrl"},
		{"/v1/projects/" + saas + "/environments/test/products", `{"name":"mug","displayName":"Mug","price":1}`, 400, "wrong_catalogue", ""},
		{"/v1/projects/" + saas + "/environments/live/tiers", `{"name":"pro","displayName":"Pro","price":1}`, 404, "not_found", ""},
		{"/v1/projects/" + saas + "/environments/prod/tiers", `{"name":"pro","displayName":"Pro","price":1}`, 404, "not_found", ""},
	} {
		res := h.do("POST", c.path, c.body, d.bearer()...)
		expectError(t, res, c.status, c.code, "")
		if param, _ := res.body["param"].(string); param != c.param {
			t.Errorf("POST %s %s names param %q, want %q", c.path, c.body, param, c.param)
		}
	}

	res := h.do("POST", products, `{"name":"mug","displayName":"Mug","price":1200,"inventory":2,"description":"Big"}`, d.bearer()...)
	if res.status != 201 || res.body["inventory"] != 2.0 || res.body["soldOut"] != false {
		t.Fatalf("adding a product answered %d %s", res.status, res.raw)
	}
	expectError(t, h.do("POST", products, `{"name":"mug","displayName":"Mug again","price":1}`, d.bearer()...), 409, "tier_exists", "")
	res = h.do("PATCH", products+"/mug", `{"inventory":0}`, d.bearer()...)
	if res.status != 200 || res.body["soldOut"] != true {
		t.Fatalf("setting inventory to 0 answered %d %s, want the product sold out", res.status, res.raw)
	}
	if p := h.do("GET", "/api/products", "", "X-Publishable-Key", shopPK).body["products"].([]any)[0].(map[string]any); p["soldOut"] != true {
		t.Fatalf("the customer API shows %v, want the product sold out at once", p)
	}
	res = h.do("PATCH", products+"/mug", `{"inventory":null}`, d.bearer()...)
	if res.status != 200 || res.body["inventory"] != nil || res.body["soldOut"] != false {
		t.Fatalf("setting unlimited inventory answered %d %s", res.status, res.raw)
	}
	expectError(t, h.do("PATCH", products+"/mug", `{"name":"cup"}`, d.bearer()...), 400, "invalid_tier", "")
	expectError(t, h.do("PATCH", products+"/cup", `{"price":1}`, d.bearer()...), 404, "not_found", "")

	for i := range dream.MaxTiers {
		if res := h.do("POST", tiers, fmt.Sprintf(`{"name":"t%d","displayName":"T","price":%d}`, i, i), d.bearer()...); res.status != 201 {
			t.Fatalf("tier %d answered %d %s", i, res.status, res.raw)
		}
	}
	expectError(t, h.do("POST", tiers, `{"name":"one-more","displayName":"T","price":1}`, d.bearer()...), 409, "catalogue_full", "")
	if res := h.raw("DELETE", tiers+"/t0", "", d.bearer()...); res.Code != 204 {
		t.Fatalf("deleting a tier answered %d %s", res.Code, res.Body)
	}
	expectError(t, h.do("DELETE", tiers+"/t0", "", d.bearer()...), 404, "not_found", "")
}

func TestConsole_Connect(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.signUp("con@example.com")
	start := h.raw("GET", "/v1/connect/test/authorize", "", d.bearer()...)
	to, _ := url.Parse(start.Header().Get("Location"))
	state := to.Query().Get("state")

	if res := h.raw("GET", "/v1/connect/test/callback?state="+url.QueryEscape(state)+"&error=access_denied", ""); res.Code != 400 ||
		!strings.Contains(res.Body.String(), "did not connect") || !strings.HasPrefix(res.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("a declined authorization answered %d %s, want a 400 page saying why", res.Code, res.Body)
	}
	if res := h.raw("GET", "/v1/connect/test/callback?state="+url.QueryEscape(state)+"&code=ac_x", ""); res.Code != 400 ||
		!strings.Contains(res.Body.String(), "used already") {
		t.Fatalf("a used state answered %d %s, want a 400 page saying it is used", res.Code, res.Body)
	}
	start = h.raw("GET", "/v1/connect/test/authorize", "", d.bearer()...)
	to, _ = url.Parse(start.Header().Get("Location"))
	h.advance(dream.ConnectStateLifetime + time.Second)
	if res := h.raw("GET", "/v1/connect/test/callback?state="+url.QueryEscape(to.Query().Get("state"))+"&code=ac_x", ""); res.Code != 400 {
		t.Fatalf("an expired state answered %d %s, want 400", res.Code, res.Body)
	}
	if res := h.raw("GET", "/v1/connect/test/callback?state=<script>&code=x", ""); res.Code != 400 || strings.Contains(res.Body.String(), "<script>") {
		t.Fatalf("a forged state answered %d %s, want 400 without the value echoed", res.Code, res.Body)
	}
	if back := h.connect(d, dream.ModeTest); back.Code != http.StatusFound {
		t.Fatalf("connecting answered %d %s", back.Code, back.Body)
	}
	account, err := h.db.PaymentAccount(context.Background(), d.platformID, dream.ModeTest)
	if err != nil || !strings.HasPrefix(account, "acct_dev_") {
		t.Fatalf("the connected account is %q, %v", account, err)
	}
	if res := h.do("GET", "/v1/account", "", d.bearer()...); res.body["connectedAccounts"].(map[string]any)["test"] != account {
		t.Fatalf("the account shows %s, want the test account %s", res.raw, account)
	}
}

func TestConsole_RotationOverlapBounds(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.signUp("rot@example.com")
	id, _, _ := h.createProject(d, "Rot", dream.ProjectSaaS)
	rotate := "/v1/projects/" + id + "/environments/test/rotate"
	for _, overlap := range []string{"-1", "86401", "9223372036", "9223372036854775807"} {
		expectError(t, h.do("POST", rotate, `{"overlapSeconds":`+overlap+`}`, d.bearer()...), 400, "invalid_overlap", "")
	}
	res := h.do("POST", rotate, `{"overlapSeconds":86400}`, d.bearer()...)
	if res.status != 200 || res.body["previousKeysExpireAt"] != h.clock().Add(24*time.Hour).Format(time.RFC3339) {
		t.Fatalf("rotating with a 24 h overlap answered %d %s, want the old keys to expire in 24 h", res.status, res.raw)
	}
}

// TestConsole_PlatformBilling subscribes a developer to the platform plan
// through the emulator, which plays the operator's account and reports to
// the platform webhook.
func TestConsole_PlatformBilling(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.signUp("payer@example.com")
	res := h.do("GET", "/v1/billing", "", d.bearer()...)
	if res.status != 200 || res.body["status"] != "none" || res.body["trialDays"] != 14.0 || res.body["includedUsers"] != 2000.0 ||
		res.body["estimatedOverageCents"] != 0.0 {
		t.Fatalf("GET /v1/billing before subscribing answered %d %s, want status none and a 14-day trial to come", res.status, res.raw)
	}
	expectError(t, h.do("POST", "/v1/billing/portal", "", d.bearer()...), 404, "no_subscription", "")

	res = h.do("POST", "/v1/billing/checkout", "", d.bearer()...)
	page, _ := res.body["url"].(string)
	if res.status != 200 || !strings.HasPrefix(page, h.baseURL+"/dev/checkout/") {
		t.Fatalf("the plan's checkout answered %d %s, want an emulator checkout page", res.status, res.raw)
	}
	customer := storetest.Count(t, h.db, `SELECT count(*) FROM platforms WHERE id = ? AND stripe_customer_id IS NOT NULL`, d.platformID)
	if customer != 1 {
		t.Fatal("the checkout stored no customer for the developer")
	}
	// A second checkout reuses the customer.
	again := h.do("POST", "/v1/billing/checkout", "", d.bearer()...)
	if again.status != 200 {
		t.Fatalf("a second checkout answered %d %s", again.status, again.raw)
	}
	// Paying on the page delivers the operator account's events to the
	// platform webhook, over HTTP.
	resp, err := http.Post(page+"/pay", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h.refresh()
	res = h.do("GET", "/v1/billing", "", d.bearer()...)
	if res.body["status"] != "trialing" || res.body["trialEndsAt"] == nil || res.body["trialDays"] != 0.0 {
		t.Fatalf("after paying, GET /v1/billing answered %s, want trialing with no second trial on offer", res.raw)
	}
	expectError(t, h.do("POST", "/v1/billing/checkout", "", d.bearer()...), 409, "already_subscribed", "")
	if res := h.do("POST", "/v1/billing/portal", `{"returnUrl":"`+h.baseURL+`/dashboard?tab=billing"}`, d.bearer()...); res.status != 200 ||
		!strings.HasPrefix(res.body["url"].(string), h.baseURL+"/dev/portal/") {
		t.Fatalf("the portal answered %d %s, want an emulator portal page", res.status, res.raw)
	}
	expectError(t, h.do("POST", "/v1/billing/portal", `{"returnUrl":"https://evil.example.com/"}`, d.bearer()...), 400, "invalid_return_url", "")
}
