package edge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/auth"
	"github.com/dream-api/dream/billing"
	"github.com/dream-api/dream/forward"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

// attack is one request a route must refuse: the credentials it carries
// and the statuses that count as refusing them.
type attack struct {
	name    string
	headers []string
	// body replaces the route's usual body when set.
	body string
	want []int
	// signedOut, on a dashboard page, wants the redirect to its sign-in
	// page instead of a status of want.
	signedOut bool
	// before runs just before the request.
	before func()
}

// matrix is the world the isolation matrix attacks: the harness's platform
// A (projects saas and shop, subscribed, so that its live keys work) and
// platform B (project other), a signed-up developer owning projects of
// their own, a stranger, and the credentials each has.
type matrix struct {
	h               *harness
	owner, stranger developer
	// saasProject and storeProject are the owner's projects, tier their
	// SaaS project's tier, product their store's product and user an end
	// user of their SaaS project.
	saasProject, storeProject, tier, product, user string
	// customer is an end user of platform A's test SaaS environment.
	customer string
	// tokens of end users: of platform A's test and live environments,
	// of platform B, expired, and signed by another issuer.
	testToken, liveToken, otherToken, expiredToken, forgedToken string
	// expiredKey is platform B's test secret key before it was rotated,
	// otherKey the one after.
	expiredKey, otherKey string
	// forwarded is a write a replica signed and the primary applied;
	// unsigned is the same write signed with another secret.
	forwarded, wrongSecret *http.Request
	// webhook is an event the payment provider would sign.
	webhook, webhookSecret string
}

func newMatrix(t *testing.T) *matrix {
	h := newHarness(t, harnessOptions{})
	m := &matrix{h: h, webhookSecret: h.payments.WebhookSecret()}
	// An end-user token issued now has expired a day later, when the
	// rest of the world is made.
	m.expiredToken = h.token(h.saas.Test.PublishableKey, "expired@example.com", "")
	h.advance(25 * time.Hour)
	h.activatePlatform()

	m.owner, m.stranger = h.signUp("owner@example.com"), h.signUp("stranger@example.com")
	var pk string
	m.saasProject, pk, _ = h.createProject(m.owner, "Owned", dream.ProjectSaaS)
	m.storeProject, _, _ = h.createProject(m.owner, "Shop", dream.ProjectStore)
	m.tier, m.product = "pro", "mug"
	h.do("POST", "/v1/projects/"+m.saasProject+"/environments/test/tiers", `{"name":"pro","displayName":"Pro","price":100}`, m.owner.bearer()...)
	h.do("POST", "/v1/projects/"+m.storeProject+"/environments/test/products", `{"name":"mug","displayName":"Mug","price":100}`, m.owner.bearer()...)
	m.user = m.userID(dream.ModeTest, h.token(pk, "fan@example.com", ""))

	m.testToken = h.token(h.saas.Test.PublishableKey, "customer@example.com", "")
	m.liveToken = h.token(h.saas.Live.PublishableKey, "customer@example.com", "")
	m.otherToken = h.token(h.other.Test.PublishableKey, "customer@example.com", "")
	m.customer = m.userID(dream.ModeTest, m.testToken)
	h.do("POST", "/api/data", "", "X-Publishable-Key", h.saas.Test.PublishableKey, "X-Clerk-Token", m.testToken)
	forger, err := auth.OpenDevIssuer(t.TempDir(), h.clock)
	if err != nil {
		t.Fatal(err)
	}
	if m.forgedToken, _, err = forger.IssueToken(h.saas.Test.PublishableKey, "customer@example.com", ""); err != nil {
		t.Fatal(err)
	}

	// Platform B rotated its test key without overlap: the old one is
	// an expired credential.
	m.expiredKey = h.other.Test.SecretKey
	key, hash := dream.NewSecretKey(dream.ModeTest)
	if err := h.primary.Write(context.Background(), dream.RotateSecretKey{EnvironmentID: h.other.Test.EnvironmentID, NewHash: hash}, nil); err != nil {
		t.Fatal(err)
	}
	m.otherKey = key

	m.mountInternal(t)
	m.webhook = `{"id":"evt_matrix","object":"event","type":"customer.subscription.deleted","livemode":false,"account":"acct_a",` +
		`"api_version":"2023-10-16","data":{"object":{"id":"sub_matrix","object":"subscription","status":"canceled","metadata":{}}}}`
	h.refresh()
	return m
}

// userID is the end user a token is for.
func (m *matrix) userID(mode dream.Mode, token string) string {
	claims, err := m.h.issuer.VerifyEndUserToken(context.Background(), mode, token)
	if err != nil {
		m.h.t.Fatal(err)
	}
	return claims.UserID
}

// matrixSecret is the cluster secret of the matrix's internal endpoint.
const matrixSecret = "cluster secret of the matrix"

// mountInternal restarts the server with the primary's internal write
// endpoint, then has a replica's client sign a write the primary applies,
// keeping the signed request to replay; and one signed with a wrong
// secret.
func (m *matrix) mountInternal(t *testing.T) {
	h := m.h
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.options.Internal = forward.NewHandler(h.primary, onlyNode{}, matrixSecret, h.clock, logger)
	h.restart()
	write := dream.UpdateProject{WriteID: dream.NewID("wr_"), ProjectID: m.saasProject,
		Changes: dream.ProjectChanges{Name: new("Renamed by a replica")}}
	m.forwarded = captureForwarded(t, forward.NewClient(matrixSecret, "", h.clock, logger), write)
	m.wrongSecret = captureForwarded(t, forward.NewClient("another secret", "", h.clock, logger), write)
	if res := h.raw(m.forwarded.Method, m.forwarded.URL.Path, body(m.forwarded), headerList(m.forwarded)...); res.Code != 200 {
		t.Fatalf("the signed forwarded write answered %d %s, want 200", res.Code, res.Body)
	}
}

// captureForwarded is the request client sends for w.
func captureForwarded(t *testing.T, client *forward.Client, w dream.Write) *http.Request {
	t.Helper()
	var captured *http.Request
	capture := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		captured = httptest.NewRequest(r.Method, r.URL.Path, strings.NewReader(string(b)))
		captured.Header = r.Header.Clone()
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprint(rw, `{"error":"captured","message":"captured","kind":"invalid"}`)
	}))
	defer capture.Close()
	client.Send(context.Background(), strings.TrimPrefix(capture.URL, "http://"), w, nil)
	if captured == nil {
		t.Fatal("the forward client sent nothing")
	}
	return captured
}

func body(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(b)))
	return string(b)
}

func headerList(r *http.Request) []string {
	var list []string
	for name, values := range r.Header {
		list = append(list, name, values[0])
	}
	return list
}

// onlyNode is a cluster of one node, the primary.
type onlyNode struct{}

func (onlyNode) Primary() (bool, string, error)                           { return true, "", nil }
func (onlyNode) Position() (store.Position, error)                        { return 1, nil }
func (onlyNode) WaitPosition(ctx context.Context, _ store.Position) error { return nil }

// path fills a route's parameters with the owner's things.
func (m *matrix) path(r dream.Route) string {
	var out []string
	for _, segment := range strings.Split(r.Path, "/") {
		switch {
		case segment == ":project" && strings.Contains(r.Path, "/products"):
			segment = m.storeProject
		case segment == ":project":
			segment = m.saasProject
		case segment == ":mode":
			segment = "test"
		case segment == ":name" && strings.HasPrefix(r.Path, forward.WritesPath):
			segment = strings.TrimPrefix(m.forwarded.URL.Path, forward.WritesPath)
		case segment == ":name" && strings.Contains(r.Path, "/products"):
			segment = m.product
		case segment == ":name":
			segment = m.tier
		case segment == ":id":
			segment = m.customer
		case segment == ":user":
			segment = m.user
		case strings.HasPrefix(segment, ":") || strings.HasPrefix(segment, "*"):
			segment = "x"
		}
		out = append(out, segment)
	}
	return strings.Join(out, "/")
}

// page is whether a route is a dashboard page, which answers a browser
// with HTML and redirects.
func page(r dream.Route) bool {
	return r.Path == "/admin" || r.Path == "/dashboard" || strings.HasPrefix(r.Path, "/dashboard/")
}

// attacks are the requests a route of its class must refuse; a route of
// no class the matrix knows is an error.
func (m *matrix) attacks(r dream.Route) ([]attack, error) {
	h := m.h
	saas := h.saas
	pk, livePK := saas.Test.PublishableKey, saas.Live.PublishableKey
	bearer := func(key string) string { return "Bearer " + key }
	unauthenticated, forbidden, notFound := []int{401}, []int{403}, []int{404}
	keys := func(publishableAllowed bool) []attack {
		a := []attack{
			{name: "no credentials", want: unauthenticated},
			{name: "a forged secret key", headers: []string{"Authorization", bearer("sk_test_" + strings.Repeat("0", 64))}, want: unauthenticated},
			{name: "an expired secret key", headers: []string{"Authorization", bearer(m.expiredKey)}, want: unauthenticated},
			{name: "another developer's secret key with this project's publishable key",
				headers: []string{"Authorization", bearer(m.otherKey), "X-Publishable-Key", pk}, want: forbidden},
			{name: "a live secret key with a test publishable key",
				headers: []string{"Authorization", bearer(saas.Live.SecretKey), "X-Publishable-Key", pk}, want: forbidden},
			{name: "a test secret key with a live publishable key",
				headers: []string{"Authorization", bearer(saas.Test.SecretKey), "X-Publishable-Key", livePK}, want: forbidden},
		}
		if publishableAllowed {
			return append(a, attack{name: "an unknown publishable key", headers: []string{"X-Publishable-Key", "pk_test_" + strings.Repeat("0", 32)}, want: unauthenticated})
		}
		return append(a, attack{name: "a publishable key", headers: []string{"X-Publishable-Key", pk}, want: forbidden})
	}
	switch r.Access {
	case dream.AccessNone:
		return nil, nil
	case dream.AccessPublishable:
		return keys(true), nil
	case dream.AccessSecret:
		a := keys(false)
		if strings.Contains(r.Path, ":id") {
			a = append(a,
				attack{name: "another developer's secret key", headers: []string{"Authorization", bearer(m.otherKey)}, want: notFound},
				attack{name: "a live secret key on a test customer", headers: []string{"Authorization", bearer(saas.Live.SecretKey)}, want: notFound})
		}
		return a, nil
	case dream.AccessEndUser:
		a := keys(true)
		with := func(pk, token string) []string { return []string{"X-Publishable-Key", pk, "X-Clerk-Token", token} }
		return append(a,
			attack{name: "no end-user token", headers: []string{"X-Publishable-Key", pk}, want: unauthenticated},
			attack{name: "a token of another project", headers: with(pk, m.otherToken), want: forbidden},
			attack{name: "an expired token", headers: with(pk, m.expiredToken), want: unauthenticated},
			attack{name: "a token signed by another issuer", headers: with(pk, m.forgedToken), want: unauthenticated},
			attack{name: "a live token with a test key", headers: with(pk, m.liveToken), want: forbidden},
			attack{name: "a test token with a live key", headers: with(livePK, m.testToken), want: forbidden},
		), nil
	case dream.AccessDeveloper, dream.AccessAdmin:
		return m.developerAttacks(r), nil
	case dream.AccessCluster:
		return []attack{
			{name: "no signature", body: body(m.forwarded), want: unauthenticated},
			{name: "a signature with another secret", body: body(m.wrongSecret), headers: headerList(m.wrongSecret), want: unauthenticated},
			{name: "a signed write with its body changed", body: strings.Replace(body(m.forwarded), "Renamed", "Renamer", 1),
				headers: headerList(m.forwarded), want: unauthenticated},
			// Within the signature's window a replay is the same write
			// again, which its write id makes change nothing.
			{name: "a replay within the window", body: body(m.forwarded), headers: headerList(m.forwarded), want: []int{200}},
			{name: "a replay after the window", body: body(m.forwarded), headers: headerList(m.forwarded), want: unauthenticated,
				before: func() { h.advance(time.Minute) }},
		}, nil
	case dream.AccessWebhook:
		badRequest := []int{400}
		return []attack{
			{name: "no signature", body: m.webhook, want: badRequest},
			{name: "a signature with another secret", body: m.webhook,
				headers: []string{"Stripe-Signature", billing.SignWebhook([]byte(m.webhook), "whsec_wrong", time.Now())}, want: badRequest},
			{name: "a replayed signature", body: m.webhook,
				headers: []string{"Stripe-Signature", billing.SignWebhook([]byte(m.webhook), m.webhookSecret, time.Now().Add(-time.Hour))}, want: badRequest},
		}, nil
	}
	return nil, fmt.Errorf("route %s %s declares no credential class the matrix knows (%s)", r.Method, r.Path, r.Access)
}

// developerAttacks are those of the management API's routes and the
// dashboard's pages: the API answers 401, a page sends the browser to
// sign in.
func (m *matrix) developerAttacks(r dream.Route) []attack {
	h := m.h
	signedOut := func(name string, headers ...string) attack {
		return attack{name: name, headers: headers, want: []int{401}, signedOut: page(r)}
	}
	a := []attack{
		signedOut("no credentials"),
		signedOut("a customer's secret key", "Authorization", "Bearer "+h.saas.Test.SecretKey),
		signedOut("an end user's token", "Authorization", "Bearer "+m.testToken, "X-Publishable-Key", h.saas.Test.PublishableKey),
		signedOut("a forged session", "Authorization", "Bearer dss_"+strings.Repeat("0", 64), "Cookie", dream.SessionCookie+"=dss_"+strings.Repeat("0", 64)),
	}
	ownerCookie := []string{"Cookie", dream.SessionCookie + "=" + m.owner.token}
	if r.Method != http.MethodGet {
		a = append(a, attack{name: "the owner's cookie without the CSRF token", headers: ownerCookie, want: []int{403}})
	}
	stranger := m.stranger.bearer()
	if page(r) {
		stranger = []string{"Cookie", dream.SessionCookie + "=" + m.stranger.token}
	}
	switch {
	case r.Access == dream.AccessAdmin:
		a = append(a, attack{name: "a developer who is not an admin", headers: ownerCookie, want: []int{404}})
	case strings.Contains(r.Path, ":project"):
		// On a page the stranger's form carries their own CSRF token.
		var form string
		if page(r) && r.Method == http.MethodPost {
			form = url.Values{"csrf": {m.stranger.csrf}}.Encode()
		}
		a = append(a, attack{name: "another developer's session", headers: stranger, body: form, want: []int{404}})
	}
	return a
}

// send makes an attack's request on route r.
func (m *matrix) send(r dream.Route, a attack) *httptest.ResponseRecorder {
	reqBody := a.body
	headers := a.headers
	if reqBody == "" && r.Method != http.MethodGet {
		reqBody = "{}"
		if page(r) {
			reqBody = "name=x"
		}
	}
	if page(r) && r.Method == http.MethodPost {
		headers = append([]string{"Content-Type", "application/x-www-form-urlencoded"}, headers...)
	} else if r.Method != http.MethodGet {
		headers = append([]string{"Content-Type", "application/json"}, headers...)
	}
	if a.before != nil {
		a.before()
	}
	return m.h.raw(r.Method, m.path(r), reqBody, headers...)
}

// TestIsolationMatrix walks the server's own route table, with every
// optional surface mounted, and tries each route with every credential its
// class must refuse: none, another developer's keys and session, a test
// key against live data and the reverse, a publishable key where a secret
// key is required, end-user tokens of another project, expired and
// forged, a developer who is not an admin, and a replica's forwarded write
// with a wrong or replayed signature. Each is refused and the database is
// the same after all of them.
func TestIsolationMatrix(t *testing.T) {
	m := newMatrix(t)
	h := m.h
	t.Run("UndeclaredRouteFails", func(t *testing.T) {
		if _, err := m.attacks(dream.Route{Method: http.MethodGet, Path: "/throwaway"}); err == nil {
			t.Fatal("a route without a credential class passed the matrix, want it refused")
		}
	})
	dumper := storetest.NewDumper(t, h.db)
	before := dumper.Dump(t)
	classes := map[dream.Access]int{}
	for _, r := range h.current().Routes() {
		attacks, err := m.attacks(r)
		if err != nil {
			t.Error(err)
			continue
		}
		classes[r.Access]++
		for _, a := range attacks {
			t.Run(r.Method+" "+r.Path+"/"+a.name, func(t *testing.T) {
				res := m.send(r, a)
				switch {
				case a.signedOut:
					if res.Code != http.StatusSeeOther || !strings.HasPrefix(res.Header().Get("Location"), "/dashboard/signin") {
						t.Errorf("%s on %s answered %d to %q, want 303 to the sign-in page", a.name, m.path(r), res.Code, res.Header().Get("Location"))
					}
				case !slices.Contains(a.want, res.Code):
					t.Errorf("%s on %s answered %d %s, want %v", a.name, m.path(r), res.Code, res.Body, a.want)
				case res.Code >= 400 && !page(r) && !isErrorBody(res.Body.Bytes()):
					t.Errorf("%s on %s answered %d with %s, want a JSON error", a.name, m.path(r), res.Code, res.Body)
				}
			})
		}
	}
	for _, class := range []dream.Access{dream.AccessNone, dream.AccessPublishable, dream.AccessSecret, dream.AccessEndUser,
		dream.AccessDeveloper, dream.AccessAdmin, dream.AccessCluster, dream.AccessWebhook} {
		if classes[class] == 0 {
			t.Errorf("no route of class %s was mounted, want every class tried", class)
		}
	}
	if after := dumper.Dump(t); after != before {
		t.Errorf("the refused requests changed the database:\nbefore %s\nafter  %s", before, after)
	}
	if res := h.do("GET", "/v1/projects", "", m.stranger.bearer()...); len(res.body["projects"].([]any)) != 0 {
		t.Errorf("another developer lists %s, want none of the owner's projects", res.raw)
	}
	if res := h.do("GET", "/v1/account", "", m.owner.bearer()...); res.status != 200 {
		t.Errorf("after the refused requests the owner's session answered %d, want it still open", res.status)
	}
}

// isErrorBody is whether b is a JSON error: an error code and a message.
func isErrorBody(b []byte) bool {
	var e struct{ Error, Message string }
	return json.Unmarshal(b, &e) == nil && e.Error != "" && e.Message != ""
}
