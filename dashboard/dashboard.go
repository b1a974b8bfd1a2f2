// Package dashboard is the developer dashboard at /dashboard: server-rendered
// html/template pages, a stylesheet and a small script embedded in the
// binary, usable without JavaScript. Every page is an encoding of dream.Console's calls,
// the same the management API makes; the package holds no rule of its own.
package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dream-api/dream"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// pages are the dashboard's templates; html/template escapes every value
// for the context it lands in.
var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"money":      money,
	"date":       func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	"percent":    percent,
	"modes":      func() []dream.Mode { return []dream.Mode{dream.ModeTest, dream.ModeLive} },
	"newForm":    newForm,
	"editForm":   editForm,
	"fieldError": fieldErrorOf,
}).ParseFS(templateFiles, "templates/*.html"))

// csrfCookie holds the random CSRF token of a Clerk session's forms
// (dream.ClerkSessionCookie), since Clerk's token changes every minute; a
// local session's forms carry dream.CSRFToken of its dream.SessionCookie.
const csrfCookie = "dream_csrf"

// Options configure the dashboard.
type Options struct {
	// Console is the developer's service: every page calls it.
	Console *dream.Console
	Logger  *slog.Logger
	// SecureCookies marks the session cookie Secure.
	SecureCookies bool
	// ClerkKey is the publishable key of the platform's Clerk application
	// and ClerkFrontendAPI its Frontend API host: when Console signs
	// developers in with Clerk, the sign-in pages mount Clerk's components
	// and every page loads Clerk's script, which keeps the session fresh.
	ClerkKey, ClerkFrontendAPI string
}

// Dashboard is the dashboard's handler.
type Dashboard struct {
	console       *dream.Console
	logger        *slog.Logger
	secureCookies bool
	// clerk is Clerk's script on the pages, nil without Clerk.
	clerk *clerkScript
	mux   *http.ServeMux
	// routes are the pages, as Routes lists them.
	routes []dream.Route
}

// clerkScript is what a page needs to load Clerk's script.
type clerkScript struct {
	Key, Src, Origin string
}

// New returns the dashboard, serving paths under /dashboard, and the
// operator's page at /admin.
func New(o Options) *Dashboard {
	d := &Dashboard{console: o.Console, logger: o.Logger, secureCookies: o.SecureCookies, mux: http.NewServeMux()}
	if o.Console.Identity != nil && o.ClerkKey != "" && o.ClerkFrontendAPI != "" {
		d.clerk = &clerkScript{Key: o.ClerkKey, Src: dream.ClerkScript(o.ClerkFrontendAPI), Origin: "https://" + o.ClerkFrontendAPI}
	}
	static, _ := fs.Sub(staticFiles, "static")
	d.handle("GET /dashboard/static/", dream.AccessNone, maxCredentials, http.StripPrefix("/dashboard/static/", staticHandler(http.FileServerFS(static))))
	d.handle("GET /dashboard/signin", dream.AccessNone, maxCredentials, http.HandlerFunc(d.signInPage))
	d.handle("POST /dashboard/signin", dream.AccessNone, maxCredentials, http.HandlerFunc(d.signIn))
	d.handle("GET /dashboard/signup", dream.AccessNone, maxCredentials, http.HandlerFunc(d.signUpPage))
	d.handle("POST /dashboard/signup", dream.AccessNone, maxCredentials, http.HandlerFunc(d.signUp))
	d.handle("GET /dashboard/signedout", dream.AccessNone, maxCredentials, http.HandlerFunc(d.signedOut))
	d.route("POST /dashboard/signout", d.signOut)
	d.route("GET /dashboard", d.overview)
	d.route("POST /dashboard/projects", d.createProject)
	d.route("GET /dashboard/billing", d.billing)
	d.route("POST /dashboard/billing/checkout", d.billingCheckout)
	d.route("POST /dashboard/billing/portal", d.billingPortal)
	d.route("POST /dashboard/connect/{mode}", d.connect)
	d.route("GET /dashboard/projects/{project}", d.project)
	d.route("POST /dashboard/projects/{project}/settings", d.updateProject)
	d.route("POST /dashboard/projects/{project}/delete", d.deleteProject)
	d.route("POST /dashboard/projects/{project}/promote", d.promote)
	d.route("POST /dashboard/projects/{project}/rotate", d.rotate)
	d.route("GET /dashboard/projects/{project}/catalogue", d.catalogue)
	d.route("POST /dashboard/projects/{project}/catalogue", d.createTier)
	d.route("POST /dashboard/projects/{project}/catalogue/{name}", d.updateTier)
	d.route("POST /dashboard/projects/{project}/catalogue/{name}/delete", d.deleteTier)
	d.route("GET /dashboard/projects/{project}/customers", d.customers)
	d.route("GET /dashboard/projects/{project}/customers/{user}", d.customer)
	d.route("POST /dashboard/projects/{project}/customers/{user}/plan", d.assignPlan)
	d.route("POST /dashboard/projects/{project}/customers/{user}/delete", d.deleteCustomer)
	d.route("GET /dashboard/projects/{project}/events", d.events)
	d.route("GET /dashboard/projects/{project}/metrics", d.metrics)
	// The operator's page opens for any signed-in developer; what it
	// shows, dream.Console.OperatorPage decides by the admin list.
	d.handle("GET /admin", dream.AccessAdmin, maxCredentials, d.signedIn(d.admin))
	return d
}

// ServeHTTP implements http.Handler.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.mux.ServeHTTP(w, r) }

// Routes lists the dashboard's pages with the credential each takes, in
// httprouter's syntax, for the server to mount one by one.
func (d *Dashboard) Routes() []dream.Route { return append([]dream.Route(nil), d.routes...) }

// handle registers a page, pattern in http.ServeMux's syntax, and lists it
// with its credential and the largest body it reads, which the server that
// mounts it enforces.
func (d *Dashboard) handle(pattern string, a dream.Access, maxBody int64, h http.Handler) {
	d.mux.Handle(pattern, h)
	method, path, _ := strings.Cut(pattern, " ")
	if strings.HasSuffix(path, "/") {
		path += "*file"
	}
	path = strings.NewReplacer("{", ":", "}", "").Replace(path)
	d.routes = append(d.routes, dream.Route{Method: method, Path: path, Access: a, MaxBody: maxBody})
}

// staticHandler serves the stylesheet with a day of caching.
func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		h.ServeHTTP(w, r)
	})
}

// session is a signed-in developer's request.
type session struct {
	platform *dream.Platform
	// csrf is the token every form of theirs carries.
	csrf string
}

// route registers a page that needs a signed-in developer, whose forms
// may carry an image.
func (d *Dashboard) route(pattern string, h func(w http.ResponseWriter, r *http.Request, s *session)) {
	d.handle(pattern, dream.AccessDeveloper, maxForm, d.signedIn(h))
}

// signedIn is h behind the developer's session; a write needs the form's
// CSRF token too.
func (d *Dashboard) signedIn(h func(w http.ResponseWriter, r *http.Request, s *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, clerk := d.sessionToken(r)
		if token == "" {
			d.toSignIn(w, r)
			return
		}
		p, err := d.console.Authenticate(r.Context(), token)
		if dream.ErrorKind(err) == dream.KindUnauthenticated {
			d.toSignIn(w, r)
			return
		}
		if err != nil {
			d.fail(w, r, nil, err)
			return
		}
		s := &session{platform: p, csrf: dream.CSRFToken(token)}
		if clerk {
			s.csrf = d.clerkCSRF(w, r)
		}
		if r.Method == http.MethodPost {
			if err := parseForm(r); err != nil {
				d.fail(w, r, s, err)
				return
			}
			if s.csrf == "" || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
				d.fail(w, r, s, &dream.Error{Kind: dream.KindForbidden, Code: "csrf_token_invalid",
					Message: "This form expired: open the page again and resubmit."})
				return
			}
		}
		h(w, r, s)
	})
}

// Bounds of a page's request body: maxForm that of a signed-in
// developer's form, an image at most with its fields; maxCredentials that
// of the sign-in forms and of the pages that take no form.
const (
	maxForm        = dream.MaxAssetSize + 1<<20
	maxCredentials = 64 << 10
)

// parseForm reads a form, multipart (with a file) or not, keeping at most
// a megabyte of it in memory.
func parseForm(r *http.Request) error {
	err := r.ParseMultipartForm(1 << 20)
	if errors.Is(err, http.ErrNotMultipart) {
		err = r.ParseForm()
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return dream.ErrAssetTooLarge
	}
	if err != nil {
		return &dream.Error{Kind: dream.KindInvalid, Code: "invalid_form", Message: "The form could not be read: open the page again and resubmit."}
	}
	return nil
}

// sessionToken is the developer's session token of r and whether it is
// Clerk's: the local session cookie, else, with Clerk, Clerk's.
func (d *Dashboard) sessionToken(r *http.Request) (string, bool) {
	if c, err := r.Cookie(dream.SessionCookie); err == nil && c.Value != "" {
		return c.Value, false
	}
	if d.clerk != nil {
		if c, err := r.Cookie(dream.ClerkSessionCookie); err == nil && c.Value != "" {
			return c.Value, true
		}
	}
	return "", false
}

// clerkCSRF is the CSRF token of a Clerk session's forms: a random token
// in a cookie of its own that no other site can read or set, made on the
// first page that needs it. A write without the cookie matches no form.
func (d *Dashboard) clerkCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		return c.Value
	}
	if r.Method != http.MethodGet {
		return ""
	}
	b := make([]byte, 16)
	rand.Read(b)
	token := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: token, Path: "/dashboard", HttpOnly: true, Secure: d.secureCookies,
		SameSite: http.SameSiteStrictMode})
	return token
}

// toSignIn sends a signed-out browser to the sign-in page, to come back.
func (d *Dashboard) toSignIn(w http.ResponseWriter, r *http.Request) {
	back := r.URL.Path
	if r.Method != http.MethodGet {
		back = "/dashboard"
	}
	http.Redirect(w, r, "/dashboard/signin?"+url.Values{"next": {back}}.Encode(), http.StatusSeeOther)
}

// view is what every page template is given.
type view struct {
	Title string
	// Account is nil on the sign-in pages; Admin is whether they may see
	// the operator's page.
	Account *dream.Platform
	Admin   bool
	CSRF    string
	// Notice is a message of what the last action did; Error what it
	// could not, and Param the field the error concerns, "" for none.
	Notice string
	Error  string
	Param  string
	// Data is the page's own.
	Data any
	// Clerk is Clerk's script, which every page loads with Clerk.
	Clerk *clerkScript
}

// render writes a page.
func (d *Dashboard) render(w http.ResponseWriter, status int, name string, v view) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	policy := "default-src 'none'; style-src 'self'; img-src 'self' data: blob: https:; form-action 'self' https:; " +
		"frame-ancestors 'none'; base-uri 'none'; script-src 'self'; connect-src 'self'"
	if d.clerk != nil {
		// What Clerk's components need: its script and API on its Frontend
		// API host, inline styles, workers, and the bot check's frame.
		v.Clerk = d.clerk
		policy = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https:; form-action 'self' https:; " +
			"frame-ancestors 'none'; base-uri 'none'; script-src 'self' " + d.clerk.Origin + " https://challenges.cloudflare.com; " +
			"connect-src 'self' " + d.clerk.Origin + "; worker-src 'self' blob:; frame-src https://challenges.cloudflare.com"
	}
	h.Set("Content-Security-Policy", policy)
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, v); err != nil {
		d.logger.Error("rendering a dashboard page", "page", name, "error", err)
	}
}

// page renders a signed-in developer's page.
func (d *Dashboard) page(w http.ResponseWriter, status int, name string, s *session, title string, data any, notice string, p problem) {
	d.render(w, status, name, view{Title: title, Account: s.platform, Admin: d.console.IsAdmin(s.platform), CSRF: s.csrf, Data: data,
		Notice: notice, Error: p.Message, Param: p.Param})
}

// problem is why a form failed, and the field it concerns ("" for none),
// named as the API names it.
type problem struct{ Message, Param string }

// fieldError is the error of v beside the field whose id is id, when it
// concerns param: nil otherwise.
type fieldError struct{ ID, Message string }

func fieldErrorOf(v view, param, id string) *fieldError {
	if v.Error == "" || v.Param != param {
		return nil
	}
	return &fieldError{ID: id + "-error", Message: v.Error}
}

// fail shows what went wrong: the error's message for a dream.Error with
// its status, a generic page for anything else.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	e, internal := dream.Shown(err)
	if internal {
		d.logger.Error("dashboard", "path", r.URL.Path, "request_id", dream.RequestIDFromContext(r.Context()), "error", err)
	}
	v := view{Title: "Something went wrong", Error: e.Message}
	if s != nil {
		v.Account, v.CSRF = s.platform, s.csrf
	}
	d.render(w, e.Kind.HTTPStatus(), "error", v)
}

// message is an error as a form shows it; internal errors are logged.
func (d *Dashboard) message(r *http.Request, err error) problem {
	e, internal := dream.Shown(err)
	if internal {
		d.logger.Error("dashboard", "path", r.URL.Path, "request_id", dream.RequestIDFromContext(r.Context()), "error", err)
	}
	return problem{Message: e.Message, Param: e.Param()}
}

// mode is the environment a project page shows: ?mode=live, else test.
func mode(r *http.Request) dream.Mode {
	if dream.Mode(r.FormValue("mode")) == dream.ModeLive {
		return dream.ModeLive
	}
	return dream.ModeTest
}

// money formats cents as dollars.
func money(cents int64) string {
	return "$" + strconv.FormatInt(cents/100, 10) + "." + strings.TrimPrefix(strconv.FormatInt(100+cents%100, 10), "1")
}

// percent is how much of a limit a count used, capped at 100, for a usage
// bar; 0 for an unlimited plan.
func percent(count int64, limit dream.Limit) int64 {
	if limit.Unlimited() || limit == 0 {
		if limit == 0 && count > 0 {
			return 100
		}
		return 0
	}
	return min(100, count*100/int64(limit))
}

// setSession keeps a session token in the browser.
func (d *Dashboard) setSession(w http.ResponseWriter, token string, maxAge int) {
	http.SetCookie(w, dream.NewSessionCookie(token, maxAge, d.secureCookies))
}

// next is where a sign-in returns: a dashboard path, nothing else.
func next(r *http.Request) string {
	if n := r.FormValue("next"); strings.HasPrefix(n, "/dashboard") && !strings.HasPrefix(n, "//") && !strings.ContainsAny(n, "\\\r\n") {
		return n
	}
	return "/dashboard"
}
