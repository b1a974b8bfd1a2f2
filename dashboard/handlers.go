package dashboard

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dream-api/dream"
)

// credentialsPage is the sign-in or sign-up form.
type credentialsPage struct {
	Email, Next string
	// Local is whether this server has local accounts; without them the
	// page says to sign in with the platform's identity provider.
	Local bool
}

func (d *Dashboard) signInPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, http.StatusOK, "signin", view{Title: "Sign in", Data: credentialsPage{Next: next(r), Local: d.console.Passwords != nil}})
}

func (d *Dashboard) signUpPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, http.StatusOK, "signup", view{Title: "Create your account", Data: credentialsPage{Next: next(r), Local: d.console.Passwords != nil}})
}

// The sign-in forms need no CSRF token of a session: they start one. A
// page of another site that posts them signs its visitor in to the
// attacker's account at most, and SameSite=Lax keeps the cookie it would
// set from riding along on that site's own requests.

func (d *Dashboard) signIn(w http.ResponseWriter, r *http.Request) {
	d.startSession(w, r, "signin", func(c dream.Credentials) (string, error) {
		return d.console.SignIn(r.Context(), c, dream.ClientAddress(r))
	})
}

func (d *Dashboard) signUp(w http.ResponseWriter, r *http.Request) {
	d.startSession(w, r, "signup", func(c dream.Credentials) (string, error) {
		_, token, err := d.console.SignUp(r.Context(), c, dream.ClientAddress(r))
		return token, err
	})
}

func (d *Dashboard) startSession(w http.ResponseWriter, r *http.Request, form string, start func(dream.Credentials) (string, error)) {
	c := dream.Credentials{Email: strings.TrimSpace(r.PostFormValue("email")), Password: r.PostFormValue("password")}
	token, err := start(c)
	if err != nil {
		title := map[string]string{"signin": "Sign in", "signup": "Create your account"}[form]
		failed := d.message(r, err)
		d.render(w, dream.ErrorKind(err).HTTPStatus(), form, view{Title: title, Error: failed.Message, Param: failed.Param,
			Data: credentialsPage{Email: c.Email, Next: next(r), Local: d.console.Passwords != nil}})
		return
	}
	d.setSession(w, token, int(dream.SessionLifetime.Seconds()))
	http.Redirect(w, r, next(r), http.StatusSeeOther)
}

func (d *Dashboard) signOut(w http.ResponseWriter, r *http.Request, s *session) {
	if c, err := r.Cookie(dream.SessionCookie); err == nil {
		if err := d.console.SignOut(r.Context(), c.Value); err != nil {
			d.fail(w, r, s, err)
			return
		}
		d.setSession(w, "", -1)
		http.Redirect(w, r, "/dashboard/signin", http.StatusSeeOther)
		return
	}
	// A Clerk session ends at Clerk: the page after this one has Clerk's
	// script sign out. The cookies here go now.
	for _, c := range []*http.Cookie{{Name: dream.ClerkSessionCookie, Path: "/"}, {Name: csrfCookie, Path: "/dashboard"}} {
		c.MaxAge, c.HttpOnly, c.Secure, c.SameSite = -1, true, d.secureCookies, http.SameSiteLaxMode
		http.SetCookie(w, c)
	}
	http.Redirect(w, r, "/dashboard/signedout", http.StatusSeeOther)
}

// signedOut is the page after a Clerk session's sign-out, whose script
// ends the session at Clerk.
func (d *Dashboard) signedOut(w http.ResponseWriter, r *http.Request) {
	d.render(w, http.StatusOK, "signedout", view{Title: "Signed out"})
}

// overviewPage is the developer's home: their projects and billing.
type overviewPage struct {
	Projects []dream.ProjectView
	Billing  *dream.PlatformBillingView
	Types    []dream.ProjectType
	// New is what the create form had when it failed.
	New dream.NewProject
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, s *session) {
	d.showOverview(w, r, s, http.StatusOK, dream.NewProject{}, problem{})
}

func (d *Dashboard) showOverview(w http.ResponseWriter, r *http.Request, s *session, status int, n dream.NewProject, failed problem) {
	projects, err := d.console.Projects(r.Context(), s.platform)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	billing, err := d.console.Billing(r.Context(), s.platform)
	if err != nil && dream.ErrorKind(err) != dream.KindNotFound {
		d.fail(w, r, s, err)
		return
	}
	d.page(w, status, "overview", s, "Projects", overviewPage{Projects: projects, Billing: billing, New: n,
		Types: []dream.ProjectType{dream.ProjectSaaS, dream.ProjectStore, dream.ProjectMembership}}, noticeOf(r), failed)
}

// noticeOf is the notice a redirect after an action carries.
func noticeOf(r *http.Request) string {
	switch {
	case r.FormValue("stripe") == "connected":
		return "Stripe is connected in " + string(mode(r)) + " mode."
	case r.FormValue("billing") == "success":
		return "Thank you: your subscription starts as soon as Stripe confirms it."
	}
	return r.FormValue("notice")
}

func (d *Dashboard) createProject(w http.ResponseWriter, r *http.Request, s *session) {
	n := dream.NewProject{Name: r.PostFormValue("name"), Type: dream.ProjectType(r.PostFormValue("type"))}
	if origins := strings.Fields(r.PostFormValue("origins")); len(origins) > 0 {
		n.AllowedOrigins = origins
	}
	v, err := d.console.CreateProject(r.Context(), s.platform, n)
	if err != nil {
		d.showOverview(w, r, s, dream.ErrorKind(err).HTTPStatus(), n, d.message(r, err))
		return
	}
	// The secret key is shown this once, so the answer is the page itself,
	// not a redirect.
	d.showProject(w, r, s, v.ID, dream.ModeTest, v.Environment(dream.ModeTest).SecretKey, "Project created. Copy the secret key now: it is not shown again.", problem{})
}

// billingPage is the developer's subscription to the platform plan.
type billingPage struct {
	Billing *dream.PlatformBillingView
	// TrialDaysLeft counts down a running trial, -1 when none runs.
	TrialDaysLeft int
	Plan          *dream.PlatformPlan
}

func (d *Dashboard) billing(w http.ResponseWriter, r *http.Request, s *session) {
	b, err := d.console.Billing(r.Context(), s.platform)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	page := billingPage{Billing: b, Plan: d.console.Plan, TrialDaysLeft: b.Subscription.TrialDaysLeft(d.console.Plan.Now())}
	d.page(w, http.StatusOK, "billing", s, "Billing", page, noticeOf(r), problem{})
}

func (d *Dashboard) billingCheckout(w http.ResponseWriter, r *http.Request, s *session) {
	to, err := d.console.BillingCheckout(r.Context(), s.platform)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (d *Dashboard) billingPortal(w http.ResponseWriter, r *http.Request, s *session) {
	to, err := d.console.BillingPortal(r.Context(), s.platform, d.console.DashboardURL+"/billing")
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (d *Dashboard) connect(w http.ResponseWriter, r *http.Request, s *session) {
	to, err := d.console.StartConnect(r.Context(), s.platform, dream.Mode(r.PathValue("mode")))
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// projectPage is one project: its keys, Stripe, settings and snippets.
type projectPage struct {
	Project *dream.ProjectView
	Mode    dream.Mode
	Env     *dream.EnvironmentView
	// SecretKey is shown once, after creation or rotation.
	SecretKey string
	// Connected is the Stripe account of the mode, "" when none.
	Connected string
	// Settings is what the settings form holds: the project's, or what
	// was typed when saving failed.
	Settings settingsForm
	// BaseURL is this server's, for the snippets.
	BaseURL string
}

// settingsForm is a project's settings as their form holds them.
type settingsForm struct {
	Name, Origins, RateLimit string
	StrictLimits, EnableTax  bool
}

// settingsOf is the settings form of a project.
func settingsOf(v *dream.ProjectView) settingsForm {
	f := settingsForm{Name: v.Name, Origins: strings.Join(v.AllowedOrigins, "\n"), StrictLimits: v.StrictLimits, EnableTax: v.EnableTax}
	if v.RateLimitPerMinute != nil {
		f.RateLimit = strconv.Itoa(*v.RateLimitPerMinute)
	}
	return f
}

// settingsTyped is the settings form as it was sent.
func settingsTyped(r *http.Request) settingsForm {
	return settingsForm{Name: r.PostFormValue("name"), Origins: r.PostFormValue("origins"), RateLimit: r.PostFormValue("rateLimit"),
		StrictLimits: r.PostFormValue("strictLimits") == "on", EnableTax: r.PostFormValue("enableTax") == "on"}
}

func (d *Dashboard) project(w http.ResponseWriter, r *http.Request, s *session) {
	d.showProject(w, r, s, r.PathValue("project"), mode(r), "", noticeOf(r), problem{})
}

func (d *Dashboard) showProject(w http.ResponseWriter, r *http.Request, s *session, id string, m dream.Mode, secret, notice string, failed problem) {
	v, err := d.console.Project(r.Context(), s.platform, id)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	account, err := d.console.Account(r.Context(), s.platform)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	page := projectPage{Project: v, Mode: m, Env: v.Environment(m), SecretKey: secret, Connected: account.ConnectedAccounts[m],
		Settings: settingsOf(v), BaseURL: baseURL(r)}
	status := http.StatusOK
	if failed.Message != "" {
		status = http.StatusBadRequest
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/settings") {
			page.Settings = settingsTyped(r)
		}
	}
	d.page(w, status, "project", s, v.Name, page, notice, failed)
}

// baseURL is this server's address as the browser reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// projectURL is a project's page of a mode with a notice.
func projectURL(id string, m dream.Mode, notice string) string {
	return "/dashboard/projects/" + url.PathEscape(id) + "?" + url.Values{"mode": {string(m)}, "notice": {notice}}.Encode()
}

func (d *Dashboard) updateProject(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("project")
	name := r.PostFormValue("name")
	origins := strings.Fields(r.PostFormValue("origins"))
	strict, tax := r.PostFormValue("strictLimits") == "on", r.PostFormValue("enableTax") == "on"
	ch := dream.ProjectChanges{Name: &name, AllowedOrigins: &origins, StrictLimits: &strict, EnableTax: &tax}
	if raw := strings.TrimSpace(r.PostFormValue("rateLimit")); raw == "" {
		ch.RateLimitPerMinute = dream.Optional[*int]{Set: true}
	} else if n, err := strconv.Atoi(raw); err == nil {
		ch.RateLimitPerMinute = dream.Optional[*int]{Set: true, Value: &n}
	} else {
		d.showProject(w, r, s, id, mode(r), "", "", problem{"The rate limit is a whole number of requests a minute, or empty for the server's default.", "rateLimitPerMinute"})
		return
	}
	if _, err := d.console.UpdateProject(r.Context(), s.platform, id, ch); err != nil {
		d.showProject(w, r, s, id, mode(r), "", "", d.message(r, err))
		return
	}
	http.Redirect(w, r, projectURL(id, mode(r), "Settings saved."), http.StatusSeeOther)
}

func (d *Dashboard) deleteProject(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("project")
	if err := d.console.DeleteProject(r.Context(), s.platform, id, r.PostFormValue("confirm")); err != nil {
		if dream.ErrorKind(err) == dream.KindInvalid {
			d.showProject(w, r, s, id, mode(r), "", "", d.message(r, err))
			return
		}
		d.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/dashboard?"+url.Values{"notice": {"Project deleted."}}.Encode(), http.StatusSeeOther)
}

func (d *Dashboard) promote(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("project")
	v, err := d.console.Promote(r.Context(), s.platform, id)
	if err != nil {
		d.showProject(w, r, s, id, dream.ModeTest, "", "", d.message(r, err))
		return
	}
	d.showProject(w, r, s, id, dream.ModeLive, v.Environment(dream.ModeLive).SecretKey,
		"Live! Copy the live secret key now: it is not shown again.", problem{})
}

func (d *Dashboard) rotate(w http.ResponseWriter, r *http.Request, s *session) {
	id, m := r.PathValue("project"), mode(r)
	hours, err := strconv.Atoi(r.PostFormValue("overlapHours"))
	if err != nil {
		hours = 0
	}
	sk, expires, err := d.console.RotateSecretKey(r.Context(), s.platform, id, m, time.Duration(hours)*time.Hour)
	if err != nil {
		d.showProject(w, r, s, id, m, "", "", d.message(r, err))
		return
	}
	notice := "New secret key issued; the previous one stopped working."
	if hours > 0 {
		notice = "New secret key issued; the previous one works until " + expires.UTC().Format("2 Jan 15:04 UTC") + "."
	}
	d.showProject(w, r, s, id, m, sk, notice, problem{})
}

// adminPage is the operator's page.
type adminPage struct {
	View   *dream.OperatorView
	Search string
	// Rows are the developers with their figures.
	Rows []adminRow
	// Statuses lists the statuses in the order the summary shows them.
	Statuses       []dream.SubscriptionStatus
	Previous, Next int
	// OverageCents is the estimated overage of the developers listed.
	OverageCents int64
}

// adminRow is one developer on the operator's page.
type adminRow struct {
	dream.DeveloperSummary
	// TrialDaysLeft counts down a running trial, -1 when none runs.
	TrialDaysLeft int
	OverageCents  int64
}

func (d *Dashboard) admin(w http.ResponseWriter, r *http.Request, s *session) {
	offset, _ := strconv.Atoi(r.FormValue("offset"))
	v, err := d.console.OperatorPage(r.Context(), s.platform, r.FormValue("q"), offset)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	page := adminPage{View: v, Search: r.FormValue("q"), Previous: -1, Next: -1, Statuses: []dream.SubscriptionStatus{
		dream.StatusTrialing, dream.StatusActive, dream.StatusPastDue, dream.StatusCanceled, dream.StatusUnpaid,
		dream.StatusIncomplete, dream.StatusIncompleteExpired, dream.StatusPaused, dream.StatusNone}}
	now := v.Plan.Now()
	for _, dev := range v.Developers {
		row := adminRow{DeveloperSummary: dev, TrialDaysLeft: dev.Platform.Subscription.TrialDaysLeft(now),
			OverageCents: v.Plan.Overage(dev.LiveEndUsers)}
		page.OverageCents += row.OverageCents
		page.Rows = append(page.Rows, row)
	}
	if v.Offset > 0 {
		page.Previous = max(0, v.Offset-dream.DevelopersPageSize)
	}
	if int64(v.Offset+len(v.Developers)) < v.Total {
		page.Next = v.Offset + len(v.Developers)
	}
	d.page(w, http.StatusOK, "admin", s, "Operator", page, "", problem{})
}
