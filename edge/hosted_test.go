package edge_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/auth"
	"github.com/dream-api/dream/edge"
	"github.com/dream-api/dream/ratelimit"
	"github.com/dream-api/dream/store/storetest"
	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
)

// browserSession is a browser on the hosted pages: its cookies.
type browserSession struct {
	h       *harness
	cookies map[string]string
}

func (h *harness) browser() *browserSession {
	return &browserSession{h: h, cookies: map[string]string{}}
}

// do sends a request with the browser's cookies and keeps those set.
func (b *browserSession) do(method, path string, form url.Values) *httptest.ResponseRecorder {
	b.h.t.Helper()
	var body string
	if form != nil {
		body = form.Encode()
	}
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for name, value := range b.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	rec := httptest.NewRecorder()
	b.h.current().ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return rec
}

// form is a hosted page's form fields with the browser's CSRF token.
func (b *browserSession) form(pk, redirect string, fields ...string) url.Values {
	v := url.Values{"pk": {pk}, "redirect": {redirect}, "csrf": {b.cookies["dream_form"]}}
	for i := 0; i+1 < len(fields); i += 2 {
		v.Set(fields[i], fields[i+1])
	}
	return v
}

// assertPageHeaders checks the headers every hosted page carries.
func assertPageHeaders(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	h := rec.Header()
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("X-Frame-Options") != "DENY" ||
		h.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("a hosted page has headers %v, want HTML with a CSP, X-Frame-Options DENY and Referrer-Policy no-referrer", h)
	}
}

func TestHosted_RefusesWhatItMustNot(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pk := h.saas.Test.PublishableKey
	hostile := []string{`"><script>alert(1)</script>`, "javascript:alert(1)", "//evil.example", "http://localhost.evil.example/",
		"https://аpp.example.com/", "http://127.0.0.1.nip.io/", strings.Repeat("https://evil.example/", 200), "data:text/html,<b>x</b>",
		"http://localhost:3000/\"><img src=x onerror=alert(1)>"}
	for _, path := range []string{"/signup", "/signin", "/account", "/refresh"} {
		for _, redirect := range hostile[:len(hostile)-1] {
			rec := h.raw("GET", path+"?"+url.Values{"pk": {pk}, "redirect": {redirect}}.Encode(), "")
			if rec.Code != 400 || rec.Header().Get("Location") != "" {
				t.Errorf("%s with redirect %q answered %d to %q, want a 400 page and no redirect", path, dream.Quote(redirect), rec.Code, rec.Header().Get("Location"))
			}
			assertPageHeaders(t, rec)
			if strings.Contains(rec.Body.String(), "<script>") || strings.Contains(rec.Body.String(), "<b>x") {
				t.Errorf("%s echoed a hostile value unescaped: %s", path, rec.Body)
			}
		}
		for _, pk := range []string{"", "pk_test_nope", `pk_test_"><script>`, h.other.Live.PublishableKey + "x"} {
			rec := h.raw("GET", path+"?"+url.Values{"pk": {pk}, "redirect": {"http://localhost:3000/"}}.Encode(), "")
			if rec.Code != 400 || strings.Contains(rec.Body.String(), "<script>") {
				t.Errorf("%s with pk %q answered %d, want a 400 page", path, pk, rec.Code)
			}
		}
	}
	// A value that is allowed lands escaped in the page's attributes.
	rec := h.raw("GET", "/signup?"+url.Values{"pk": {pk}, "redirect": {hostile[len(hostile)-1]}}.Encode(), "")
	if rec.Code != 200 || strings.Contains(rec.Body.String(), `"><img`) {
		t.Errorf("an allowed redirect with markup in its path answered %d and was echoed unescaped:\n%s", rec.Code, rec.Body)
	}
	// A deleted project's key is unknown.
	d := h.signUp("hosted-owner@example.com")
	id, gonePK, _ := h.createProject(d, "Gone", dream.ProjectSaaS)
	h.raw("DELETE", "/v1/projects/"+id, `{"confirm":"Gone"}`, d.bearer()...)
	if rec := h.raw("GET", "/signin?"+url.Values{"pk": {gonePK}, "redirect": {"http://localhost:3000/"}}.Encode(), ""); rec.Code != 400 {
		t.Errorf("the key of a deleted project answered %d, want 400", rec.Code)
	}
	// A live key allows only the project's origins, never localhost.
	storetest.SetPlatformSubscription(t, h.db, h.saas.PlatformID, dream.StatusActive, time.Time{})
	h.refresh()
	if rec := h.raw("GET", "/signin?"+url.Values{"pk": {h.saas.Live.PublishableKey}, "redirect": {"http://localhost:3000/"}}.Encode(), ""); rec.Code != 400 {
		t.Errorf("a live key with a localhost redirect answered %d, want 400", rec.Code)
	}
}

func TestHosted_DevSignUpAndSignIn(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pk := h.saas.Test.PublishableKey
	redirect := "http://localhost:3000/app?tab=home#top"
	b := h.browser()
	query := "?" + url.Values{"pk": {pk}, "redirect": {redirect}}.Encode()

	rec := b.do("GET", "/signup"+query, nil)
	if rec.Code != 200 || b.cookies["dream_form"] == "" || !strings.Contains(rec.Body.String(), `name="csrf"`) {
		t.Fatalf("GET /signup answered %d, want the form with a CSRF token: %s", rec.Code, rec.Body)
	}
	assertPageHeaders(t, rec)
	if rec := b.do("POST", "/signup", url.Values{"pk": {pk}, "redirect": {redirect}, "email": {"eve@example.com"},
		"password": {"long enough"}, "csrf": {"forged"}}); rec.Code != 403 {
		t.Fatalf("a sign-up with a forged CSRF token answered %d, want 403", rec.Code)
	}
	if rec := b.do("POST", "/signup", b.form(pk, redirect, "email", "eve@example.com", "password", "short")); rec.Code != 400 ||
		!strings.Contains(rec.Body.String(), "8 to 72") || !strings.Contains(rec.Body.String(), `value="eve@example.com"`) {
		t.Fatalf("a short password answered %d, want the form with the error and the email kept: %s", rec.Code, rec.Body)
	}
	rec = b.do("POST", "/signup", b.form(pk, redirect, "email", "eve@example.com", "password", "long enough"))
	back, _ := url.Parse(rec.Header().Get("Location"))
	token := back.Query().Get(dream.TokenParam)
	if rec.Code != http.StatusSeeOther || back.Host != "localhost:3000" || back.Query().Get("tab") != "home" || back.Fragment != "top" || token == "" {
		t.Fatalf("signing up answered %d to %q, want the redirect with its query, fragment and __clerk_jwt", rec.Code, rec.Header().Get("Location"))
	}
	res := h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
	if res.status != 200 || res.body["plan"] != "free" {
		t.Fatalf("the sign-up's token read /api/usage as %d %s, want the free plan", res.status, res.raw)
	}
	userID := res.body["userId"].(string)
	// A customer of the project at once.
	if res := h.do("GET", "/api/customers/"+userID, "", "Authorization", "Bearer "+h.saas.Test.SecretKey); res.status != 200 {
		t.Fatalf("the signed-up end user is not a customer: %d %s", res.status, res.raw)
	}

	t.Run("SignedInAlready", func(t *testing.T) {
		rec := b.do("GET", "/signin"+query, nil)
		if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), dream.TokenParam+"=") {
			t.Fatalf("/signin with a session answered %d to %q, want straight back with a token", rec.Code, rec.Header().Get("Location"))
		}
	})
	t.Run("Account", func(t *testing.T) {
		rec := b.do("GET", "/account"+query, nil)
		body := rec.Body.String()
		if rec.Code != 200 || !strings.Contains(body, "eve@example.com") || !strings.Contains(body, "free") || !strings.Contains(body, "Sign out") {
			t.Fatalf("/account answered %d, want the end user's email, plan and sign-out: %s", rec.Code, body)
		}
	})
	t.Run("OneAccountPerEmail", func(t *testing.T) {
		other := h.browser()
		other.do("GET", "/signup"+query, nil)
		rec := other.do("POST", "/signup", other.form(pk, redirect, "email", "EVE@example.com", "password", "another one"))
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), "sign in instead") {
			t.Fatalf("a second sign-up of one email answered %d, want the form saying so: %s", rec.Code, rec.Body)
		}
	})
	t.Run("SignOutThenIn", func(t *testing.T) {
		b.do("GET", "/account"+query, nil)
		if rec := b.do("POST", "/account/signout", b.form(pk, redirect)); rec.Code != http.StatusSeeOther {
			t.Fatalf("signing out answered %d", rec.Code)
		}
		rec := b.do("GET", "/account"+query, nil)
		if to := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(to, "/signin?") || !strings.Contains(to, "next=account") {
			t.Fatalf("/account signed out answered %d to %q, want /signin and back", rec.Code, to)
		}
		b.do("GET", rec.Header().Get("Location"), nil)
		wrong := b.do("POST", "/signin", b.form(pk, redirect, "email", "eve@example.com", "password", "not the one", "next", "account"))
		if wrong.Code != 400 || !strings.Contains(wrong.Body.String(), "wrong") {
			t.Fatalf("a wrong password answered %d, want the form saying so", wrong.Code)
		}
		right := b.do("POST", "/signin", b.form(pk, redirect, "email", "eve@example.com", "password", "long enough", "next", "account"))
		if to := right.Header().Get("Location"); right.Code != http.StatusSeeOther || !strings.HasPrefix(to, "/account?") {
			t.Fatalf("signing in for the account page answered %d to %q, want /account", right.Code, to)
		}
	})
	t.Run("AttemptsAreLimited", func(t *testing.T) {
		c := h.browser()
		c.do("GET", "/signin"+query, nil)
		var last *httptest.ResponseRecorder
		for range dream.SignInAttemptsPerMinute + 1 {
			last = c.do("POST", "/signin", c.form(pk, redirect, "email", "mallory@example.com", "password", "guessing!"))
		}
		if !strings.Contains(last.Body.String(), "Too many attempts") {
			t.Fatalf("the 11th sign-in attempt in a minute answered %d %s, want too many attempts", last.Code, last.Body)
		}
		h.advance(2 * time.Minute)
	})
	t.Run("RefreshAfterAPlanChange", func(t *testing.T) {
		res := h.do("PATCH", "/api/customers/"+userID, `{"plan":"pro"}`, "Authorization", "Bearer "+h.saas.Test.SecretKey)
		if res.status != 200 {
			t.Fatalf("assigning pro answered %d %s", res.status, res.raw)
		}
		rec := b.do("GET", "/refresh"+query, nil)
		back, _ := url.Parse(rec.Header().Get("Location"))
		fresh := back.Query().Get(dream.TokenParam)
		if rec.Code != http.StatusSeeOther || fresh == "" {
			t.Fatalf("/refresh after a plan change answered %d to %q, want back with a fresh token", rec.Code, rec.Header().Get("Location"))
		}
		claims, err := h.issuer.VerifyEndUserToken(context.Background(), dream.ModeTest, fresh)
		if err != nil || claims.Plan != "pro" {
			t.Fatalf("the fresh token claims %+v (%v), want plan pro", claims, err)
		}
		// Back to free, a change the other way, is seen too.
		h.do("PATCH", "/api/customers/"+userID, `{"plan":"free"}`, "Authorization", "Bearer "+h.saas.Test.SecretKey)
		rec = b.do("GET", "/refresh"+query, nil)
		back, _ = url.Parse(rec.Header().Get("Location"))
		if claims, err := h.issuer.VerifyEndUserToken(context.Background(), dream.ModeTest, back.Query().Get(dream.TokenParam)); err != nil || claims.Plan != "free" {
			t.Fatalf("/refresh after a downgrade gave %+v (%v), want plan free", claims, err)
		}
	})
	t.Run("RefreshTimesOut", func(t *testing.T) {
		defer edge.SetRefreshWait(300 * time.Millisecond)()
		rec := b.do("GET", "/refresh"+query, nil)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "has not changed yet") || !strings.Contains(rec.Body.String(), dream.TokenParam) {
			t.Fatalf("/refresh without a change answered %d, want a page saying so with the way back: %s", rec.Code, rec.Body)
		}
	})
}

// fakeClerk stands for the end-user Clerk instance: its JWKS and the
// users API the hosted session endpoint calls.
type fakeClerk struct {
	key    *rsa.PrivateKey
	server *httptest.Server
	mu     sync.Mutex
	users  map[string]map[string]any // id → public metadata
	// templates counts the template tokens made.
	templates int
}

func newFakeClerk(t *testing.T) *fakeClerk {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeClerk{key: key, users: map[string]map[string]any{}}
	userPath := regexp.MustCompile(`^/v1/users/([^/]+)(/metadata)?$`)
	f.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.URL.Path == "/v1/jwks" {
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "kid", Algorithm: "RS256", Use: "sig"}}})
			return
		}
		// A session of user_x is sess_user_x; its template token has the
		// layout of the end-user-api template: metadata at the top level.
		if m := regexp.MustCompile(`^/v1/sessions/sess_([^/]+)/tokens/end-user-api$`).FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPost {
			f.templates++
			claims := map[string]any{"iss": "https://clerk.example.test", "sub": m[1], "sid": "sess_" + m[1], "exp": time.Now().Add(time.Hour).Unix(),
				"iat": time.Now().Unix(), "nbf": time.Now().Unix(), "email": m[1] + "@example.com"}
			for k, v := range f.users[m[1]] {
				claims[k] = v
			}
			json.NewEncoder(w).Encode(map[string]any{"object": "token", "jwt": f.sign(t, key, claims)})
			return
		}
		m := userPath.FindStringSubmatch(r.URL.Path)
		metadata, ok := f.users[m[1]]
		if m == nil || !ok {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{"code": "resource_not_found", "message": "not found"}}})
			return
		}
		if r.Method == http.MethodPatch {
			var body struct {
				PublicMetadata map[string]any `json:"public_metadata"`
			}
			json.NewDecoder(r.Body).Decode(&body)
			for k, v := range body.PublicMetadata {
				metadata[k] = v
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"id": m[1], "object": "user", "public_metadata": metadata, "created_at": 1700000000000,
			"email_addresses": []map[string]any{{"id": "idn_1", "email_address": m[1] + "@example.com"}}})
	}))
	t.Cleanup(f.server.Close)
	return f
}

// token is a session token of the instance for user, signed with key.
func (f *fakeClerk) token(t *testing.T, key *rsa.PrivateKey, user string, expires time.Time) string {
	t.Helper()
	return f.sign(t, key, map[string]any{"iss": "https://clerk.example.test", "sub": user, "sid": "sess_" + user,
		"iat": expires.Add(-time.Hour).Unix(), "nbf": expires.Add(-time.Hour).Unix(), "exp": expires.Unix()})
}

// sign signs claims with key.
func (f *fakeClerk) sign(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "kid"}}, nil)
	if err != nil {
		t.Error(err)
		return ""
	}
	token, err := jwt.Signed(signer).Claims(claims).CompactSerialize()
	if err != nil {
		t.Error(err)
	}
	return token
}

// forge rewrites a claim of a signed token, keeping its signature.
func forge(token, from, to string) string {
	parts := strings.Split(token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.ReplaceAll(string(payload), from, to)))
	return strings.Join(parts, ".")
}

// TestHosted_ClerkSession holds the production binding endpoint to its
// rules against a stand-in for Clerk: only a valid session token of the
// key's instance names the user, a user of another project is refused,
// and metadata is merged.
func TestHosted_ClerkSession(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	clerk := newFakeClerk(t)
	instance := auth.ClerkInstance{SecretKey: "sk_test_end_users", APIURL: clerk.server.URL + "/v1"}
	o := h.options
	o.Dev, o.DevPayments = nil, nil
	o.Tokens = auth.NewClerkVerifier(instance, instance, time.Now, nil, slog.New(slog.DiscardHandler))
	users := auth.NewClerkUsers(instance, instance, nil)
	o.Identity = users
	o.HostedClerk = &edge.HostedClerk{Template: "end-user-api", Sessions: users,
		PublishableKeys: map[dream.Mode]string{dream.ModeTest: "pk_test_Y2xlcmsuZXhhbXBsZS50ZXN0JA", dream.ModeLive: "pk_live_Y2xlcmsuZXhhbXBsZS50ZXN0JA"}}
	o.Limiter, _ = ratelimit.New(100)
	server := h.serverWith(o)
	pk := h.saas.Test.PublishableKey
	bind := func(token string) (int, map[string]any) {
		req := httptest.NewRequest("POST", "/hosted/session", strings.NewReader(`{"publishableKey":"`+pk+`"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		server.ServeHTTP(rec, req)
		var body map[string]any
		json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body
	}
	clerk.users["user_new"] = map[string]any{"theme": "dark"}
	clerk.users["user_other"] = map[string]any{"publishableKey": h.other.Test.PublishableKey, "plan": "pro"}
	valid := time.Now().Add(time.Hour)

	status, body := bind(clerk.token(t, clerk.key, "user_new", valid))
	if status != 200 || body["plan"] != "free" || body["userId"] != "user_new" {
		t.Fatalf("binding a new user answered %d %v, want 200 on the free plan", status, body)
	}
	// The answered token is the template's, and the API takes it for the
	// project.
	req := httptest.NewRequest("GET", "/api/usage", nil)
	req.Header.Set("X-Publishable-Key", pk)
	req.Header.Set("X-Clerk-Token", body["token"].(string))
	rec := httptest.NewRecorder()
	server.ServeHTTP(rec, req)
	if rec.Code != 200 || clerk.templates != 1 {
		t.Fatalf("the answered token read /api/usage as %d %s after %d template tokens, want 200", rec.Code, rec.Body, clerk.templates)
	}
	if got := clerk.users["user_new"]; got["theme"] != "dark" || got["publishableKey"] != pk || got["plan"] != "free" {
		t.Fatalf("the new user's metadata is %v, want the project and plan merged into what they had", got)
	}
	if n := storetest.Count(t, h.db, `SELECT count(*) FROM end_users WHERE user_id = 'user_new'`); n != 1 {
		t.Fatalf("the bound user has %d end user rows, want 1", n)
	}
	if status, _ := bind(clerk.token(t, clerk.key, "user_new", valid)); status != 200 {
		t.Fatalf("binding the user again answered %d, want 200", status)
	}
	if status, body := bind(clerk.token(t, clerk.key, "user_other", valid)); status != 409 || body["error"] != "user_belongs_to_another_project" {
		t.Fatalf("a user of another project answered %d %v, want 409", status, body)
	}
	otherInstance, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, token := range map[string]string{
		"expired":        clerk.token(t, clerk.key, "user_new", time.Now().Add(-time.Minute)),
		"other instance": clerk.token(t, otherInstance, "user_new", valid),
		"forged":         forge(clerk.token(t, clerk.key, "user_other", valid), "user_other", "user_new"),
		"bare user id":   "user_new",
	} {
		if status, body := bind(token); status != 401 {
			t.Errorf("a %s token answered %d %v, want 401", name, status, body)
		}
	}
	// The pages load Clerk's script from the instance's Frontend API.
	rec = httptest.NewRecorder()
	server.ServeHTTP(rec, httptest.NewRequest("GET", "/signup?"+url.Values{"pk": {pk}, "redirect": {"http://localhost:3000/"}}.Encode(), nil))
	html := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(html, "https://clerk.example.test/npm/@clerk/clerk-js@5/dist/clerk.browser.js") ||
		!strings.Contains(rec.Header().Get("Content-Security-Policy"), "'nonce-") {
		t.Fatalf("the production sign-up page answered %d without Clerk's script or a nonce: %s", rec.Code, html)
	}
	if m := regexp.MustCompile(`nonce="([0-9a-f]+)"`).FindStringSubmatch(html); m == nil ||
		!strings.Contains(rec.Header().Get("Content-Security-Policy"), "'nonce-"+m[1]+"'") {
		t.Fatalf("the page's scripts carry no nonce of its policy")
	}
}
