package edge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

// The hosted end-user pages, what the SDK's auth helpers open with
// ?pk=&redirect=: /signup and /signin send the browser back to redirect
// with the end user's token in __clerk_jwt, /account shows the end user's
// account, /refresh waits for a plan change after a checkout and returns
// with a fresh token. In dev mode they are our own forms, offline; in
// production they load Clerk's components for the end-user Clerk instance
// and bind the user to the project through POST /hosted/session.

//go:embed hosted.html
var hostedHTML string

// hostedPages are the pages; html/template escapes every value for the
// context it lands in.
var hostedPages = template.Must(template.New("hosted").Parse(hostedHTML))

// HostedClerk configures the production pages: the publishable keys of the
// end-user Clerk instances by mode, the JWT template whose tokens carry the
// project and plan, and the Backend API that makes them.
type HostedClerk struct {
	PublishableKeys map[dream.Mode]string
	Template        string
	Sessions        SessionTokens
}

// SessionTokens makes a token of a JWT template for an end user's session
// at the identity provider: auth.ClerkUsers.
type SessionTokens interface {
	SessionToken(ctx context.Context, mode dream.Mode, sessionID, template string) (string, error)
}

// refreshWait bounds how long /refresh waits for a plan to change; tests
// shorten it.
var refreshWait = 20 * time.Second

// Bounds of the hosted pages.
const (
	// refreshPoll is how often /refresh looks.
	refreshPoll = 250 * time.Millisecond
	// minEndUserPassword and maxEndUserPassword bound an end user's
	// password on the dev pages; bcrypt reads 72 bytes.
	minEndUserPassword = 8
	maxEndUserPassword = 72
	// csrfCookie holds the hosted forms' CSRF token.
	csrfCookie = "dream_form"
)

// mountHosted mounts the hosted pages.
func (s *Server) mountHosted() {
	for _, path := range []string{"/signup", "/signin", "/account", "/refresh"} {
		s.handle(http.MethodGet, path, dream.AccessNone, s.hostedPage(strings.TrimPrefix(path, "/")))
	}
	if s.dev != nil {
		for _, form := range []struct {
			path   string
			submit func(w http.ResponseWriter, r *http.Request, t *hostedTarget) error
		}{{"/signup", s.devSignUp}, {"/signin", s.devSignIn}, {"/account/signout", s.devSignOut}, {"/account/portal", s.devPortal}} {
			s.handleRoute(dream.Route{Method: http.MethodPost, Path: form.path, Access: dream.AccessNone, MaxBody: maxFormBody},
				s.handleHostedForm(form.submit))
		}
	}
	s.handle(http.MethodPost, "/hosted/session", dream.AccessNone, s.handleHostedSession)
}

// hostedTarget is where a hosted page acts and returns: the project
// environment of pk and the allowed redirect.
type hostedTarget struct {
	env      *dream.Environment
	redirect *url.URL
	// pk and rawRedirect are the values as given, for the links of the
	// pages.
	pk, rawRedirect string
}

// errHostedUnknownProject answers a pk no project has (deleted included).
var errHostedUnknownProject = dream.Errorf(dream.KindInvalid, "unknown_project", "no project has this publishable key")

// target reads and checks pk and redirect, from the query or a form.
func (s *Server) target(r *http.Request) (*hostedTarget, error) {
	pk, redirect := r.FormValue("pk"), r.FormValue("redirect")
	if pk == "" {
		return nil, dream.Errorf(dream.KindInvalid, "missing_pk", "the pk parameter (the project's publishable key) is missing")
	}
	if _, err := dream.ParseKey(dream.PublishableKey, pk); err != nil {
		return nil, errHostedUnknownProject
	}
	env, err := s.environment(r.Context(), pk)
	if err != nil {
		return nil, err
	}
	if env == nil {
		return nil, errHostedUnknownProject
	}
	if err := s.checkPlatform(r.Context(), env); err != nil {
		return nil, err
	}
	u, err := env.CheckRedirect(redirect)
	if err != nil {
		return nil, err
	}
	return &hostedTarget{env: env, redirect: u, pk: pk, rawRedirect: redirect}, nil
}

// query is the pages' own query for this target.
func (t *hostedTarget) query() string {
	return url.Values{"pk": {t.pk}, "redirect": {t.rawRedirect}}.Encode()
}

// page is what a hosted page template is given.
type page struct {
	Kind    string
	Project string
	PK      string
	// Redirect is where the page returns; Back the same with a token.
	Redirect string
	Back     string
	Query    string
	// Next is the page of ours a sign-in goes on to.
	Next  string
	CSRF  string
	Email string
	Error string
	// Account's figures.
	Plan         string
	Usage        int64
	Limit        dream.Limit
	PeriodEnd    string
	Subscription string
	Portal       bool
	// Refresh's outcome on timeout.
	TimedOut bool
	// Clerk's, in production: the page it shows, the instance's key.
	Page          string
	ClerkKey      string
	ClerkScript   string
	Template      string
	Nonce         string
	SessionAction string
}

// renderHosted writes a hosted page with the headers every one carries:
// a policy that runs no script but Clerk's (and ours by nonce) in
// production, and none in dev mode; no framing; no referrer, since the
// token travels in URLs.
func (s *Server) renderHosted(w http.ResponseWriter, status int, p page, formTarget string) {
	h := w.Header()
	policy := "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; " +
		"form-action 'self' " + formTarget
	if p.ClerkKey != "" {
		p.Nonce = randomToken()
		policy = "default-src 'self'; script-src 'nonce-" + p.Nonce + "' 'strict-dynamic' https:; connect-src 'self' https:; " +
			"img-src 'self' data: https:; style-src 'self' 'unsafe-inline' https:; frame-src https:; worker-src 'self' blob:; " +
			"base-uri 'none'; frame-ancestors 'none'; form-action 'self' " + formTarget
	}
	h.Set("Content-Security-Policy", policy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := hostedPages.ExecuteTemplate(w, "page", p); err != nil {
		s.logger.Error("rendering a hosted page", "page", p.Kind, "error", err)
	}
}

// hostedError shows why a hosted page cannot go on: never a redirect.
func (s *Server) hostedError(w http.ResponseWriter, r *http.Request, err error) error {
	e, internal := dream.Shown(err)
	if internal {
		s.logger.Error("internal error", "request_id", dream.RequestIDFromContext(r.Context()), "error", err)
	}
	s.renderHosted(w, e.Kind.HTTPStatus(), page{Kind: "error", Error: e.Message}, "")
	return nil
}

// formOrigin is the origin a page's forms may end up at: its redirect's.
func formOrigin(t *hostedTarget) string { return t.redirect.Scheme + "://" + t.redirect.Host }

// hostedPage serves GET of one of the four pages.
func (s *Server) hostedPage(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, _ *request) error {
		t, err := s.target(r)
		if err != nil {
			return s.hostedError(w, r, err)
		}
		if s.hostedClerk != nil {
			return s.clerkPage(w, t, kind)
		}
		if s.dev == nil {
			return s.hostedError(w, r, dream.Errorf(dream.KindUnavailable, "hosted_pages_not_configured",
				"The sign-in pages are not configured on this server"))
		}
		session, err := s.endUserSession(r, t)
		if err != nil {
			return s.hostedError(w, r, err)
		}
		switch kind {
		case "signup", "signin":
			if session != nil {
				// Signed in already: back with a fresh token.
				return s.returnSignedIn(w, r, t, session.Email, "")
			}
			return s.renderForm(w, r, t, kind, "", "")
		case "account":
			if session == nil {
				return s.toSignIn(w, r, t, "account")
			}
			return s.accountPage(w, r, t, session)
		default:
			if session == nil {
				return s.toSignIn(w, r, t, "refresh")
			}
			return s.refresh(w, r, t, session)
		}
	}
}

// toSignIn sends a signed-out browser to /signin, to come back to the
// page next of ours, "account" or "refresh", once signed in.
func (s *Server) toSignIn(w http.ResponseWriter, r *http.Request, t *hostedTarget, next string) error {
	http.Redirect(w, r, "/signin?"+t.query()+"&"+url.Values{"next": {next}}.Encode(), http.StatusSeeOther)
	return nil
}

// nextPage is the page of ours a sign-in goes on to, "" for the redirect:
// only these two, so that next opens no redirect of its own.
func nextPage(r *http.Request) string {
	switch next := r.FormValue("next"); next {
	case "account", "refresh":
		return next
	}
	return ""
}

// renderForm shows the sign-up or sign-in form, keeping what was typed and
// the error of the last try.
func (s *Server) renderForm(w http.ResponseWriter, r *http.Request, t *hostedTarget, kind, email, message string) error {
	status := http.StatusOK
	if message != "" {
		status = http.StatusBadRequest
	}
	s.renderHosted(w, status, page{Kind: kind, Project: t.env.Project.Name, PK: t.pk, Redirect: t.rawRedirect, Query: t.query(),
		Next: nextPage(r), CSRF: s.formToken(w, r), Email: email, Error: message}, formOrigin(t))
	return nil
}

// formToken returns the browser's form token, setting one if it has none:
// a form is accepted only with the token of its browser's cookie, which a
// page of another site can neither read nor set.
func (s *Server) formToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 64 {
		return c.Value
	}
	token := randomToken()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: token, Path: "/", HttpOnly: true, Secure: s.secureCookies,
		SameSite: http.SameSiteLaxMode})
	return token
}

// randomToken is 32 random bytes as hex.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var errHostedForm = dream.Errorf(dream.KindForbidden, "csrf_token_invalid", "This form expired; open the page again")

// handleHostedForm checks a dev form's target and CSRF token, then runs
// it.
func (s *Server) handleHostedForm(submit func(w http.ResponseWriter, r *http.Request, t *hostedTarget) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, _ *request) error {
		if err := r.ParseForm(); err != nil {
			return s.hostedError(w, r, dream.Errorf(dream.KindInvalid, "invalid_form", "the form could not be read"))
		}
		t, err := s.target(r)
		if err != nil {
			return s.hostedError(w, r, err)
		}
		c, err := r.Cookie(csrfCookie)
		if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
			return s.hostedError(w, r, errHostedForm)
		}
		return submit(w, r, t)
	}
}

// sessionCookie is the name of the end-user session cookie of a project:
// a browser may be signed in to several projects of one server.
func endUserCookie(pk string) string {
	sum := sha256.Sum256([]byte(pk))
	return "dream_eu_" + hex.EncodeToString(sum[:8])
}

// endUserSession returns the end user signed in to the target's project in
// this browser, nil if none.
func (s *Server) endUserSession(r *http.Request, t *hostedTarget) (*dream.EndUserClaims, error) {
	c, err := r.Cookie(endUserCookie(t.pk))
	if err != nil || c.Value == "" {
		return nil, nil
	}
	claims, err := s.tokens.VerifyEndUserToken(r.Context(), t.env.Mode, c.Value)
	if err != nil || claims.CheckProject(t.pk) != nil {
		return nil, nil
	}
	return claims, nil
}

// returnSignedIn sets the session cookie of a fresh token for the end user
// and sends the browser back to the redirect with it; plan, when set, is
// the user's plan in the database, which the token then carries.
func (s *Server) returnSignedIn(w http.ResponseWriter, r *http.Request, t *hostedTarget, email, plan string) error {
	token, _, err := s.dev.IssueToken(t.pk, email, plan)
	if err != nil {
		return s.hostedError(w, r, err)
	}
	return s.signedIn(w, r, t, token)
}

// signedIn keeps token as the browser's session of the project and sends
// it on: to the page of ours a sign-in was for, else back to the redirect
// with the token.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, t *hostedTarget, token string) error {
	claims, err := s.tokens.VerifyEndUserToken(r.Context(), t.env.Mode, token)
	if err != nil {
		return s.hostedError(w, r, err)
	}
	s.setEndUserCookie(w, t.pk, token, max(1, int(claims.ExpiresAt.Sub(s.now()).Seconds())))
	if next := nextPage(r); next != "" {
		http.Redirect(w, r, "/"+next+"?"+t.query(), http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, dream.WithToken(t.redirect, token), http.StatusSeeOther)
	return nil
}

func (s *Server) setEndUserCookie(w http.ResponseWriter, pk, token string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: endUserCookie(pk), Value: token, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: s.secureCookies, SameSite: http.SameSiteLaxMode})
}

// credentials reads and checks a form's email and password.
func credentials(r *http.Request) (email, password string, message string) {
	email, password = strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > dream.MaxEmail {
		return email, "", "Enter a valid email address."
	}
	if len(password) < minEndUserPassword || len(password) > maxEndUserPassword {
		return email, "", "A password has 8 to 72 characters."
	}
	return email, password, ""
}

// devSignUp creates the end user through the customers service, as the
// customers API does, so they are a customer of the project at once.
func (s *Server) devSignUp(w http.ResponseWriter, r *http.Request, t *hostedTarget) error {
	email, password, message := credentials(r)
	if message != "" {
		return s.renderForm(w, r, t, "signup", email, message)
	}
	if !s.attempts.Allow("hosted-ip:" + dream.ClientAddress(r)) {
		return s.renderForm(w, r, t, "signup", email, "Too many attempts; wait a minute and try again.")
	}
	_, err := s.customers.CreateCustomer(r.Context(), t.env, dream.NewCustomer{Email: email, Password: password})
	if dream.ErrorKind(err) == dream.KindConflict {
		return s.renderForm(w, r, t, "signup", email, "This email has an account already: sign in instead.")
	}
	if err != nil {
		return s.hostedError(w, r, err)
	}
	return s.returnSignedIn(w, r, t, email, "")
}

// devSignIn checks the end user's password; attempts are limited per email
// and per client address.
func (s *Server) devSignIn(w http.ResponseWriter, r *http.Request, t *hostedTarget) error {
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	if len(email) > dream.MaxEmail || len(password) > maxEndUserPassword {
		return s.renderForm(w, r, t, "signin", "", "The email or the password is wrong.")
	}
	if !s.attempts.Allow("hosted-email:"+t.pk+":"+strings.ToLower(email)) || !s.attempts.Allow("hosted-ip:"+dream.ClientAddress(r)) {
		return s.renderForm(w, r, t, "signin", email, "Too many attempts; wait a minute and try again.")
	}
	token, _, err := s.dev.SignIn(t.pk, email, password)
	if dream.ErrorKind(err) == dream.KindUnauthenticated {
		return s.renderForm(w, r, t, "signin", email, "The email or the password is wrong.")
	}
	if err != nil {
		return s.hostedError(w, r, err)
	}
	return s.signedIn(w, r, t, token)
}

// devSignOut ends the browser's session of the project and returns to the
// redirect.
func (s *Server) devSignOut(w http.ResponseWriter, r *http.Request, t *hostedTarget) error {
	s.setEndUserCookie(w, t.pk, "", -1)
	http.Redirect(w, r, t.redirect.String(), http.StatusSeeOther)
	return nil
}

// devPortal opens the billing portal of the signed-in end user, returning
// to their account page.
func (s *Server) devPortal(w http.ResponseWriter, r *http.Request, t *hostedTarget) error {
	session, err := s.endUserSession(r, t)
	if err != nil || session == nil {
		return s.toSignIn(w, r, t, "account")
	}
	back := requestBase(r)
	back.Path, back.RawQuery = "/account", t.query()
	to, err := s.openPortal(r.Context(), t.env, session.UserID, back.String())
	if err != nil {
		return s.hostedError(w, r, err)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// accountPage shows the signed-in end user's account.
func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, t *hostedTarget, session *dream.EndUserClaims) error {
	ctx := r.Context()
	tiers, err := s.tiers(ctx, t.env.ID)
	if err != nil {
		return s.hostedError(w, r, err)
	}
	u, err := s.tally.Usage(ctx, tiers, store.UserRef{EnvironmentID: t.env.ID, UserID: session.UserID}, session.Plan)
	if err != nil {
		return s.hostedError(w, r, err)
	}
	endUser, err := s.db.EndUser(ctx, t.env.ID, session.UserID)
	if err != nil {
		return s.hostedError(w, r, err)
	}
	state, err := s.db.UserState(ctx, t.env.ID, session.UserID)
	if err != nil {
		return s.hostedError(w, r, err)
	}
	p := page{Kind: "account", Project: t.env.Project.Name, PK: t.pk, Redirect: t.rawRedirect, Query: t.query(),
		CSRF: s.formToken(w, r), Email: session.Email, Plan: u.Plan, Usage: u.Count, Limit: u.Limit, PeriodEnd: u.Period.EndString(),
		Portal: endUser != nil && endUser.StripeCustomerID != ""}
	if sub := state.Subscription; sub != nil {
		p.Subscription = sub.DisplayStatus()
	}
	s.renderHosted(w, http.StatusOK, p, formOrigin(t))
	return nil
}

// refresh waits until the end user's plan in the database differs from
// the plan their token carried, then returns with a fresh token; after
// refreshWait it returns with the current one and says so.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request, t *hostedTarget, session *dream.EndUserClaims) error {
	ctx, cancel := context.WithTimeout(r.Context(), refreshWait)
	defer cancel()
	for {
		plan, err := s.databasePlan(ctx, t.env, session.UserID)
		if err != nil && ctx.Err() == nil {
			return s.hostedError(w, r, err)
		}
		if err == nil && plan != session.Plan {
			return s.returnSignedIn(w, r, t, session.Email, plan)
		}
		select {
		case <-ctx.Done():
			if r.Context().Err() != nil {
				return nil
			}
			token, _, err := s.dev.IssueToken(t.pk, session.Email, "")
			if err != nil {
				return s.hostedError(w, r, err)
			}
			s.renderHosted(w, http.StatusOK, page{Kind: "refresh", Project: t.env.Project.Name, TimedOut: true,
				Back: dream.WithToken(t.redirect, token), Redirect: t.rawRedirect}, formOrigin(t))
			return nil
		case <-time.After(refreshPoll):
		}
	}
}

// databasePlan is the plan the database gives an end user, their token
// aside: a running subscription's, else an assigned one, else free.
func (s *Server) databasePlan(ctx context.Context, env *dream.Environment, userID string) (string, error) {
	if err := s.Refresh(ctx); err != nil {
		return "", err
	}
	tiers, err := s.tiers(ctx, env.ID)
	if err != nil {
		return "", err
	}
	u, err := s.tally.Usage(ctx, tiers, store.UserRef{EnvironmentID: env.ID, UserID: userID}, "")
	return u.Plan, err
}

// clerkPage serves a production page: Clerk's component for the end-user
// instance of the key's mode, and our script that binds the user to the
// project and returns with a token of the JWT template.
func (s *Server) clerkPage(w http.ResponseWriter, t *hostedTarget, kind string) error {
	key := s.hostedClerk.PublishableKeys[t.env.Mode]
	if key == "" {
		key = s.hostedClerk.PublishableKeys[dream.ModeLive]
	}
	host := clerkFrontendAPI(key)
	if host == "" {
		s.renderHosted(w, http.StatusServiceUnavailable, page{Kind: "error",
			Error: "The sign-in pages are not configured on this server."}, "")
		return nil
	}
	s.renderHosted(w, http.StatusOK, page{Kind: "clerk", Project: t.env.Project.Name, PK: t.pk, Redirect: t.rawRedirect,
		ClerkKey: key, ClerkScript: dream.ClerkScript(host),
		Template: s.hostedClerk.Template, SessionAction: "/hosted/session", Page: kind}, formOrigin(t))
	return nil
}

// clerkFrontendAPI is the host of a Clerk instance's Frontend API, which
// its publishable key encodes ("pk_live_" + base64 of "host$"), "" for a
// key that encodes none.
func clerkFrontendAPI(key string) string {
	rest, ok := strings.CutPrefix(key, "pk_live_")
	if !ok {
		rest, ok = strings.CutPrefix(key, "pk_test_")
	}
	if !ok {
		return ""
	}
	decoded, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(rest, "="))
	host, found := strings.CutSuffix(string(decoded), "$")
	if err != nil || !found || host == "" || strings.ContainsAny(host, "/\\@?# \"'<>") {
		return ""
	}
	return host
}

// errOtherProject refuses an end user of another project.
var errOtherProject = &dream.Error{Kind: dream.KindConflict, Code: "user_belongs_to_another_project",
	Message: "This account belongs to another app; sign up with another email address"}

// handleHostedSession answers POST /hosted/session: the production pages'
// call with the end user's Clerk session token. The token, verified
// against the end-user instance of the key's mode, says who the user is;
// nothing else does. A user of no project is bound to this one (publishable
// key and plan free merged into their public metadata, an end user row);
// a user of another project is refused. The answer is the token to return
// to the front end in __clerk_jwt, made for the verified session from the
// JWT template (a dev token in dev mode), and the user's plan in the
// database, which /refresh waits on.
func (s *Server) handleHostedSession(w http.ResponseWriter, r *http.Request, _ *request) error {
	var body struct {
		PublishableKey string `json:"publishableKey"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if _, err := dream.ParseKey(dream.PublishableKey, body.PublishableKey); err != nil {
		return err
	}
	ctx := r.Context()
	env, err := s.environment(ctx, body.PublishableKey)
	if err != nil {
		return err
	}
	if env == nil {
		return dream.ErrInvalidPublishableKey
	}
	if err := s.checkPlatform(ctx, env); err != nil {
		return err
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return dream.ErrMissingEndUserToken
	}
	claims, err := s.tokens.VerifyEndUserToken(ctx, env.Mode, token)
	if err != nil {
		return err
	}
	user, err := s.identity.User(ctx, env.Mode, claims.UserID)
	if err != nil {
		return err
	}
	switch user.MetadataString("publishableKey") {
	case env.PublishableKey:
	case "":
		if err := s.identity.UpdatePublicMetadata(ctx, env.Mode, user.ID,
			map[string]any{"publishableKey": env.PublishableKey, "plan": "free"}); err != nil {
			return err
		}
	default:
		return errOtherProject
	}
	endUser, err := s.db.EndUser(ctx, env.ID, user.ID)
	if err != nil {
		return err
	}
	if endUser == nil {
		err := s.writer.Write(ctx, dream.CreateCustomer{EnvironmentID: env.ID, UserID: user.ID, Email: user.Email,
			FirstName: user.FirstName, LastName: user.LastName, CreatedAt: user.CreatedAt}, nil)
		if err != nil && dream.ErrorKind(err) != dream.KindConflict {
			return err
		}
	}
	plan, err := s.databasePlan(ctx, env, user.ID)
	if err != nil {
		return err
	}
	var frontEnd string
	if s.hostedClerk != nil {
		frontEnd, err = s.hostedClerk.Sessions.SessionToken(ctx, env.Mode, claims.SessionID, s.hostedClerk.Template)
	} else {
		frontEnd, _, err = s.dev.IssueToken(env.PublishableKey, user.Email, "")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"userId": user.ID, "plan": plan, "token": frontEnd})
	return nil
}
