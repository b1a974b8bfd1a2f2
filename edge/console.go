package edge

import (
	"crypto/subtle"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dream-api/dream"
)

// The management API: JSON under /v1 for developers, over dream.Console.
// A developer authenticates with Authorization: Bearer <session token or
// identity provider JWT>, or in a browser with the session cookie, whose
// writes must carry the CSRF token.

// csrfHeader carries the CSRF token of a cookie-authenticated write.
const csrfHeader = "X-CSRF-Token"

// mountConsole mounts the management API's routes.
func (s *Server) mountConsole() {
	s.handle(http.MethodPost, "/v1/accounts", dream.AccessNone, s.handleSignUp)
	s.handle(http.MethodPost, "/v1/session", dream.AccessNone, s.handleSignIn)
	s.handle(http.MethodDelete, "/v1/session", dream.AccessDeveloper, s.handleSignOut)
	s.handle(http.MethodGet, "/v1/account", dream.AccessDeveloper, s.handleAccount)
	s.handle(http.MethodPost, "/v1/account/password", dream.AccessDeveloper, s.handleChangePassword)
	s.handle(http.MethodGet, "/v1/projects", dream.AccessDeveloper, s.handleListProjects)
	s.handle(http.MethodPost, "/v1/projects", dream.AccessDeveloper, s.handleCreateProject)
	s.handle(http.MethodGet, "/v1/projects/:project", dream.AccessDeveloper, s.handleGetProject)
	s.handle(http.MethodPatch, "/v1/projects/:project", dream.AccessDeveloper, s.handleUpdateProject)
	s.handle(http.MethodDelete, "/v1/projects/:project", dream.AccessDeveloper, s.handleDeleteProject)
	s.handle(http.MethodPost, "/v1/projects/:project/promote", dream.AccessDeveloper, s.handlePromote)
	s.handle(http.MethodPost, "/v1/projects/:project/environments/:mode/rotate", dream.AccessDeveloper, s.handleRotate)
	for path, billing := range map[string]dream.BillingMode{"tiers": dream.BillingSubscription, "products": dream.BillingOneOff} {
		list := "/v1/projects/:project/environments/:mode/" + path
		s.handle(http.MethodGet, list, dream.AccessDeveloper, s.handleListTiers(billing))
		s.handle(http.MethodPost, list, dream.AccessDeveloper, s.handleCreateTier(billing))
		s.handle(http.MethodPatch, list+"/:name", dream.AccessDeveloper, s.handleUpdateTier(billing))
		s.handle(http.MethodDelete, list+"/:name", dream.AccessDeveloper, s.handleDeleteTier(billing))
	}
	s.handleRoute(dream.Route{Method: http.MethodPost, Path: "/v1/assets", Access: dream.AccessDeveloper, MaxBody: maxAssetBody}, s.handleUploadAsset)
	s.handle(http.MethodGet, "/v1/billing", dream.AccessDeveloper, s.handleBilling)
	s.handle(http.MethodPost, "/v1/billing/checkout", dream.AccessDeveloper, s.handleBillingCheckout)
	s.handle(http.MethodPost, "/v1/billing/portal", dream.AccessDeveloper, s.handleBillingPortal)
	s.handle(http.MethodGet, "/v1/connect/:mode/authorize", dream.AccessDeveloper, s.handleConnectAuthorize)
	s.handle(http.MethodGet, "/v1/connect/:mode/callback", dream.AccessNone, s.handleConnectCallback)
}

// authenticateDeveloper resolves the developer of a management request.
// A Bearer token is taken as it is; a cookie, which a browser sends on its
// own, opens writes only with the CSRF token derived from it.
func (s *Server) authenticateDeveloper(r *http.Request, req *request) error {
	token, fromCookie := developerToken(r)
	if token == "" {
		return dream.ErrDeveloperUnauthenticated
	}
	if fromCookie && !safeMethod(r.Method) {
		want := dream.CSRFToken(token)
		if got := r.Header.Get(csrfHeader); subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return errCSRF
		}
	}
	p, err := s.console.Authenticate(r.Context(), token)
	if err != nil {
		return err
	}
	req.developer, req.sessionToken = p, token
	return nil
}

var errCSRF = &dream.Error{Kind: dream.KindForbidden, Code: "csrf_token_invalid",
	Message: "A write with the session cookie needs the X-CSRF-Token header: the csrfToken of GET /v1/account or of signing in"}

// developerToken is the developer's credential of r and whether it came
// from a cookie.
func developerToken(r *http.Request) (string, bool) {
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return token, false
	}
	for _, name := range []string{dream.SessionCookie, dream.ClerkSessionCookie} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value, true
		}
	}
	return "", false
}

func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// setSessionCookie gives the browser the session cookie: HttpOnly so no
// script reads it, SameSite=Lax so other sites' pages do not send it on
// their writes, Secure unless the server listens on loopback only.
func (s *Server) setSessionCookie(w http.ResponseWriter, token string, maxAge int) {
	http.SetCookie(w, dream.NewSessionCookie(token, maxAge, s.secureCookies))
}

// sessionAnswer is the answer of signing up or in.
type sessionAnswer struct {
	PlatformID string `json:"platformId,omitempty"`
	Token      string `json:"token"`
	// CSRFToken is what a browser that uses the cookie sends with writes.
	CSRFToken string `json:"csrfToken"`
}

func (s *Server) handleSignUp(w http.ResponseWriter, r *http.Request, _ *request) error {
	var cred dream.Credentials
	if err := decodeJSON(r, &cred); err != nil {
		return err
	}
	platformID, token, err := s.console.SignUp(r.Context(), cred, dream.ClientAddress(r))
	if err != nil {
		return err
	}
	s.setSessionCookie(w, token, int(dream.SessionLifetime.Seconds()))
	writeJSON(w, http.StatusCreated, sessionAnswer{PlatformID: platformID, Token: token, CSRFToken: dream.CSRFToken(token)})
	return nil
}

func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request, _ *request) error {
	var cred dream.Credentials
	if err := decodeJSON(r, &cred); err != nil {
		return err
	}
	token, err := s.console.SignIn(r.Context(), cred, dream.ClientAddress(r))
	if err != nil {
		return err
	}
	s.setSessionCookie(w, token, int(dream.SessionLifetime.Seconds()))
	writeJSON(w, http.StatusOK, sessionAnswer{Token: token, CSRFToken: dream.CSRFToken(token)})
	return nil
}

func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := s.console.SignOut(r.Context(), req.sessionToken); err != nil {
		return err
	}
	s.setSessionCookie(w, "", -1)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		Current string `json:"currentPassword"`
		New     string `json:"newPassword"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if err := s.console.ChangePassword(r.Context(), req.developer.ID, body.Current, body.New); err != nil {
		return err
	}
	s.setSessionCookie(w, "", -1)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// accountJSON is a developer's account on the wire.
type accountJSON struct {
	PlatformID   string `json:"platformId"`
	Email        string `json:"email"`
	CreatedAt    string `json:"createdAt"`
	Subscription struct {
		Status  dream.SubscriptionStatus `json:"status"`
		EndedAt *string                  `json:"endedAt"`
	} `json:"subscription"`
	ConnectedAccounts map[dream.Mode]string `json:"connectedAccounts"`
	CSRFToken         string                `json:"csrfToken"`
}

func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request, req *request) error {
	v, err := s.console.Account(r.Context(), req.developer)
	if err != nil {
		return err
	}
	a := accountJSON{PlatformID: v.ID, Email: v.Email, CreatedAt: *isoTime(v.CreatedAt),
		ConnectedAccounts: v.ConnectedAccounts, CSRFToken: dream.CSRFToken(req.sessionToken)}
	a.Subscription.Status, a.Subscription.EndedAt = v.Subscription.Status, isoTime(v.Subscription.EndedAt)
	writeJSON(w, http.StatusOK, a)
	return nil
}

// projectJSON is a project on the wire.
type projectJSON struct {
	ID                 string                  `json:"id"`
	Name               string                  `json:"name"`
	Type               dream.ProjectType       `json:"type"`
	AllowedOrigins     []string                `json:"allowedOrigins"`
	RateLimitPerMinute *int                    `json:"rateLimitPerMinute"`
	StrictLimits       bool                    `json:"strictLimits"`
	EnableTax          bool                    `json:"enableTax"`
	CreatedAt          string                  `json:"createdAt"`
	Environments       map[dream.Mode]keysJSON `json:"environments"`
}

// keysJSON is an environment's keys; the secret key only in the answer
// that created it.
type keysJSON struct {
	PublishableKey string `json:"publishableKey"`
	SecretKey      string `json:"secretKey,omitempty"`
}

func projectOf(v *dream.ProjectView) projectJSON {
	p := projectJSON{ID: v.ID, Name: v.Name, Type: v.Type, AllowedOrigins: v.AllowedOrigins,
		RateLimitPerMinute: v.RateLimitPerMinute, StrictLimits: v.StrictLimits, EnableTax: v.EnableTax,
		CreatedAt: *isoTime(v.CreatedAt), Environments: map[dream.Mode]keysJSON{}}
	if p.AllowedOrigins == nil {
		p.AllowedOrigins = []string{}
	}
	for _, env := range v.Environments {
		p.Environments[env.Mode] = keysJSON{PublishableKey: env.PublishableKey, SecretKey: env.SecretKey}
	}
	return p
}

func (s *Server) handleListProjects(w http.ResponseWriter, r *http.Request, req *request) error {
	views, err := s.console.Projects(r.Context(), req.developer)
	if err != nil {
		return err
	}
	list := make([]projectJSON, 0, len(views))
	for i := range views {
		list = append(list, projectOf(&views[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": list})
	return nil
}

func (s *Server) handleCreateProject(w http.ResponseWriter, r *http.Request, req *request) error {
	var n dream.NewProject
	if err := decodeJSON(r, &n); err != nil {
		return err
	}
	v, err := s.console.CreateProject(r.Context(), req.developer, n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, projectOf(v))
	return nil
}

func (s *Server) handleGetProject(w http.ResponseWriter, r *http.Request, req *request) error {
	v, err := s.console.Project(r.Context(), req.developer, req.params.ByName("project"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, projectOf(v))
	return nil
}

func (s *Server) handleUpdateProject(w http.ResponseWriter, r *http.Request, req *request) error {
	var ch dream.ProjectChanges
	if err := decodeJSON(r, &ch); err != nil {
		return err
	}
	v, err := s.console.UpdateProject(r.Context(), req.developer, req.params.ByName("project"), ch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, projectOf(v))
	return nil
}

func (s *Server) handleDeleteProject(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		Confirm string `json:"confirm"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if err := s.console.DeleteProject(r.Context(), req.developer, req.params.ByName("project"), body.Confirm); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handlePromote(w http.ResponseWriter, r *http.Request, req *request) error {
	v, err := s.console.Promote(r.Context(), req.developer, req.params.ByName("project"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, projectOf(v))
	return nil
}

func (s *Server) handleRotate(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		OverlapSeconds int64 `json:"overlapSeconds"`
	}
	if err := decodeOptionalJSON(r, &body); err != nil {
		return err
	}
	// Clamped just past the bound, so that no count of seconds overflows
	// into one the console would take.
	seconds := min(max(body.OverlapSeconds, -1), int64(dream.MaxRotationOverlap/time.Second)+1)
	mode := dream.Mode(req.params.ByName("mode"))
	sk, expires, err := s.console.RotateSecretKey(r.Context(), req.developer, req.params.ByName("project"), mode,
		time.Duration(seconds)*time.Second)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"mode": mode, "secretKey": sk, "previousKeysExpireAt": isoTime(expires)})
	return nil
}

// managedTierJSON is a tier or product as the management API shows it:
// the dashboard's row and what a developer edits besides.
type managedTierJSON struct {
	dashboardTier
	Description string `json:"description"`
	Currency    string `json:"currency"`
	TrialDays   int    `json:"trialDays"`
	ImageURL    string `json:"imageUrl"`
}

func managedTierOf(t *dream.Tier) managedTierJSON {
	return managedTierJSON{dashboardTier: dashboardTierOf(t), Description: t.Description, Currency: t.Currency,
		TrialDays: t.TrialDays, ImageURL: t.ImageURL}
}

// tierRoute is where a tiers or products route acts.
func tierRoute(req *request) (project string, mode dream.Mode) {
	return req.params.ByName("project"), dream.Mode(req.params.ByName("mode"))
}

func (s *Server) handleListTiers(billing dream.BillingMode) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, req *request) error {
		project, mode := tierRoute(req)
		tiers, err := s.console.ListTiers(r.Context(), req.developer, project, mode, billing)
		if err != nil {
			return err
		}
		list := make([]managedTierJSON, 0, len(tiers))
		for i := range tiers {
			list = append(list, managedTierOf(&tiers[i]))
		}
		writeJSON(w, http.StatusOK, map[string]any{catalogueKey(billing): list})
		return nil
	}
}

// catalogueKey is the member a list of billing mode's entries is under.
func catalogueKey(billing dream.BillingMode) string {
	if billing == dream.BillingOneOff {
		return "products"
	}
	return "tiers"
}

func (s *Server) handleCreateTier(billing dream.BillingMode) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, req *request) error {
		var in dream.TierInput
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		project, mode := tierRoute(req)
		t, err := s.console.CreateTier(r.Context(), req.developer, project, mode, billing, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, managedTierOf(t))
		return nil
	}
}

func (s *Server) handleUpdateTier(billing dream.BillingMode) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, req *request) error {
		var in dream.TierInput
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		project, mode := tierRoute(req)
		t, err := s.console.UpdateTier(r.Context(), req.developer, project, mode, billing, req.params.ByName("name"), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, managedTierOf(t))
		return nil
	}
}

func (s *Server) handleDeleteTier(billing dream.BillingMode) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, req *request) error {
		project, mode := tierRoute(req)
		if err := s.console.DeleteTier(r.Context(), req.developer, project, mode, billing, req.params.ByName("name")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) handleConnectAuthorize(w http.ResponseWriter, r *http.Request, req *request) error {
	to, err := s.console.StartConnect(r.Context(), req.developer, dream.Mode(req.params.ByName("mode")))
	if err != nil {
		return err
	}
	http.Redirect(w, r, to, http.StatusFound)
	return nil
}

// connectReturnPath is where the developer's browser goes once an account
// is connected: the dashboard, told what happened.
const connectReturnPath = "/dashboard"

// handleConnectCallback completes a Connect authorization. The browser of
// a person lands here, so a refusal is a page that says why.
func (s *Server) handleConnectCallback(w http.ResponseWriter, r *http.Request, req *request) error {
	mode := dream.Mode(req.params.ByName("mode"))
	q := r.URL.Query()
	err := s.console.FinishConnect(r.Context(), mode, q.Get("state"), q.Get("code"))
	if err != nil {
		s.writePageError(w, r, err)
		return nil
	}
	http.Redirect(w, r, connectReturnPath+"?"+url.Values{"stripe": {"connected"}, "mode": {string(mode)}}.Encode(), http.StatusFound)
	return nil
}

// errorPage is the page a browser sees when a step it was sent to fails.
var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Dream API</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; color: #1a1a1a">
<h1>{{.Title}}</h1><p>{{.Message}}</p><p><a href="/dashboard">Back to the dashboard</a></p></body></html>
`))

// writePageError answers a browser's request with a page saying what
// failed, with the status the error's kind has.
func (s *Server) writePageError(w http.ResponseWriter, r *http.Request, err error) {
	e, internal := dream.Shown(err)
	if internal {
		s.logger.Error("internal error", "request_id", dream.RequestIDFromContext(r.Context()), "error", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(e.Kind.HTTPStatus())
	errorPage.Execute(w, struct{ Title, Message string }{"Stripe was not connected", e.Message})
}

// billingJSON is a developer's subscription to the plan on the wire.
type billingJSON struct {
	Status                dream.SubscriptionStatus `json:"status"`
	TrialEndsAt           *string                  `json:"trialEndsAt"`
	CurrentPeriodEnd      *string                  `json:"currentPeriodEnd"`
	EndedAt               *string                  `json:"endedAt"`
	LiveEndUsers          int64                    `json:"liveEndUsers"`
	IncludedUsers         int64                    `json:"includedUsers"`
	EstimatedOverageCents int64                    `json:"estimatedOverageCents"`
	PriceCents            int64                    `json:"priceCents"`
	TrialDays             int                      `json:"trialDays"`
}

func (s *Server) handleBilling(w http.ResponseWriter, r *http.Request, req *request) error {
	v, err := s.console.Billing(r.Context(), req.developer)
	if err != nil {
		return err
	}
	sub := v.Subscription
	writeJSON(w, http.StatusOK, billingJSON{Status: sub.Status, TrialEndsAt: isoTime(sub.TrialEndsAt),
		CurrentPeriodEnd: isoTime(sub.CurrentPeriodEnd), EndedAt: isoTime(sub.EndedAt), LiveEndUsers: v.BillableEndUsers,
		IncludedUsers: v.IncludedUsers, EstimatedOverageCents: v.EstimatedOverageCents, PriceCents: v.PriceCents, TrialDays: v.TrialDays})
	return nil
}

func (s *Server) handleBillingCheckout(w http.ResponseWriter, r *http.Request, req *request) error {
	url, err := s.console.BillingCheckout(r.Context(), req.developer)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": url})
	return nil
}

func (s *Server) handleBillingPortal(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		ReturnURL string `json:"returnUrl"`
	}
	if err := decodeOptionalJSON(r, &body); err != nil {
		return err
	}
	url, err := s.console.BillingPortal(r.Context(), req.developer, body.ReturnURL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": url})
	return nil
}
