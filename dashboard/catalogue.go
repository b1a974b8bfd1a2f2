package dashboard

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dream-api/dream"
)

// cataloguePage is a project's tiers (saas, membership) or products
// (store) in one mode, with the forms that edit them.
type cataloguePage struct {
	Project *dream.ProjectView
	Mode    dream.Mode
	Tiers   []dream.Tier
	// Products is whether this catalogue is a store's.
	Products bool
	// Form is what the add form had when it failed; Editing the name of
	// the entry whose form failed.
	Form    tierForm
	Editing string
}

// tierForm is a tier or product as its form holds it.
type tierForm struct {
	Name, DisplayName, Description, Price, Limit, TrialDays, Features, Inventory, ImageURL string
	Popular                                                                                bool
}

// projectOf is the developer's project the request's path names, and the
// mode it asks for; when it fails, the failure page is written and ok is
// false.
func (d *Dashboard) projectOf(w http.ResponseWriter, r *http.Request, s *session) (v *dream.ProjectView, m dream.Mode, ok bool) {
	v, err := d.console.Project(r.Context(), s.platform, r.PathValue("project"))
	if err != nil {
		d.fail(w, r, s, err)
		return nil, "", false
	}
	return v, mode(r), true
}

// billingOf is what a project sells.
func billingOf(v *dream.ProjectView) dream.BillingMode { return dream.BillingModeOf(v.Type) }

func (d *Dashboard) catalogue(w http.ResponseWriter, r *http.Request, s *session) {
	d.showCatalogue(w, r, s, http.StatusOK, tierForm{}, "", noticeOf(r), problem{})
}

func (d *Dashboard) showCatalogue(w http.ResponseWriter, r *http.Request, s *session, status int, form tierForm, editing, notice string, p problem) {
	v, m, ok := d.projectOf(w, r, s)
	if !ok {
		return
	}
	id := v.ID
	tiers, err := d.console.ListTiers(r.Context(), s.platform, id, m, billingOf(v))
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	title := "Tiers"
	if billingOf(v) == dream.BillingOneOff {
		title = "Products"
	}
	d.page(w, status, "catalogue", s, title+" · "+v.Name, cataloguePage{Project: v, Mode: m, Tiers: tiers,
		Products: billingOf(v) == dream.BillingOneOff, Form: form, Editing: editing}, notice, p)
}

// input reads a tier form into the console's input, and what the form
// held, to show again if it fails. A field left empty on an edit keeps its
// value, but for those where empty means something: no limit, no stock
// bound, no features.
func input(r *http.Request, billing dream.BillingMode) (dream.TierInput, tierForm, problem) {
	f := tierForm{Name: strings.TrimSpace(r.PostFormValue("name")), DisplayName: r.PostFormValue("displayName"),
		Description: r.PostFormValue("description"), Price: strings.TrimSpace(r.PostFormValue("price")),
		Limit: strings.TrimSpace(r.PostFormValue("limit")), TrialDays: strings.TrimSpace(r.PostFormValue("trialDays")),
		Features: r.PostFormValue("features"), Inventory: strings.TrimSpace(r.PostFormValue("inventory")),
		ImageURL: strings.TrimSpace(r.PostFormValue("imageUrl")), Popular: r.PostFormValue("popular") == "on"}
	// The console decodes the API's JSON; the form becomes that JSON, so
	// both surfaces meet one validation.
	body := map[string]any{"displayName": f.DisplayName, "description": f.Description, "imageUrl": f.ImageURL}
	if f.Name != "" {
		body["name"] = f.Name
	}
	price, ok := dollars(f.Price)
	if !ok {
		return dream.TierInput{}, f, problem{"The price is an amount in dollars, such as 19 or 19.99.", "price"}
	}
	body["price"] = price
	var features []string
	for _, line := range strings.Split(f.Features, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			features = append(features, line)
		}
	}
	body["features"] = features
	if billing == dream.BillingSubscription {
		body["popular"] = f.Popular
		body["limit"] = "unlimited"
		if f.Limit != "" && !strings.EqualFold(f.Limit, "unlimited") {
			n, err := strconv.ParseInt(f.Limit, 10, 64)
			if err != nil || n < 0 {
				return dream.TierInput{}, f, problem{"The limit is a whole number of requests a month, or unlimited.", "limit"}
			}
			body["limit"] = n
		}
		days := 0
		if f.TrialDays != "" {
			n, err := strconv.Atoi(f.TrialDays)
			if err != nil {
				return dream.TierInput{}, f, problem{"The trial is a whole number of days.", "trialDays"}
			}
			days = n
		}
		body["trialDays"] = days
	} else {
		body["inventory"] = nil
		if f.Inventory != "" {
			n, err := strconv.ParseInt(f.Inventory, 10, 64)
			if err != nil {
				return dream.TierInput{}, f, problem{"The stock is a whole number, or empty for unlimited.", "inventory"}
			}
			body["inventory"] = n
		}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return dream.TierInput{}, f, problem{Message: err.Error()}
	}
	var in dream.TierInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return dream.TierInput{}, f, problem{Message: "The form could not be read."}
	}
	return in, f, problem{}
}

// readTier reads a tier form, storing the image chosen in a product's
// form first: its URL becomes the product's image.
func (d *Dashboard) readTier(r *http.Request, s *session, billing dream.BillingMode) (dream.TierInput, tierForm, problem) {
	if billing == dream.BillingOneOff {
		if err := d.upload(r, s); err != nil {
			_, form, _ := input(r, billing)
			p := d.message(r, err)
			p.Param = "image"
			return dream.TierInput{}, form, p
		}
	}
	return input(r, billing)
}

// upload stores the image of the form's "image" file field, when one was
// chosen, and sets the form's imageUrl to it.
func (d *Dashboard) upload(r *http.Request, s *session) error {
	file, header, err := r.FormFile("image")
	if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
		return nil
	}
	if err != nil {
		return err
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, dream.MaxAssetSize+1))
	if err != nil {
		return err
	}
	asset, err := d.console.UploadAsset(r.Context(), s.platform, header.Filename, data)
	if err != nil {
		return err
	}
	r.PostForm.Set("imageUrl", asset.URL())
	return nil
}

// dollars reads an amount in dollars as whole cents: digits, then a point
// and at most two digits of cents. strconv alone would take a sign in
// either part, and read "1.-5" as 95 cents.
func dollars(s string) (int64, bool) {
	if s == "" {
		return 0, true
	}
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "$"), ".")
	if len(frac) > 2 || !digits(whole) || !digits(frac) {
		return 0, false
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err1 := strconv.ParseInt(whole, 10, 64)
	c, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || w < 0 || w > 999_999 {
		return 0, false
	}
	return w*100 + c, true
}

// digits reports whether s is made only of the digits 0-9.
func digits(s string) bool {
	return strings.Trim(s, "0123456789") == ""
}

func (d *Dashboard) createTier(w http.ResponseWriter, r *http.Request, s *session) {
	v, m, ok := d.projectOf(w, r, s)
	if !ok {
		return
	}
	id := v.ID
	in, form, problem := d.readTier(r, s, billingOf(v))
	if problem.Message == "" {
		if _, err := d.console.CreateTier(r.Context(), s.platform, id, m, billingOf(v), in); err != nil {
			problem = d.message(r, err)
		}
	}
	if problem.Message != "" {
		d.showCatalogue(w, r, s, http.StatusBadRequest, form, "", "", problem)
		return
	}
	http.Redirect(w, r, catalogueURL(id, m, form.Name+" added."), http.StatusSeeOther)
}

// catalogueURL is a project's catalogue page of a mode with a notice.
func catalogueURL(id string, m dream.Mode, notice string) string {
	return "/dashboard/projects/" + url.PathEscape(id) + "/catalogue?" + url.Values{"mode": {string(m)}, "notice": {notice}}.Encode()
}

func (d *Dashboard) updateTier(w http.ResponseWriter, r *http.Request, s *session) {
	v, m, ok := d.projectOf(w, r, s)
	if !ok {
		return
	}
	id := v.ID
	name := r.PathValue("name")
	in, form, problem := d.readTier(r, s, billingOf(v))
	if problem.Message == "" {
		in.Name = dream.Optional[string]{}
		if _, err := d.console.UpdateTier(r.Context(), s.platform, id, m, billingOf(v), name, in); err != nil {
			problem = d.message(r, err)
		}
	}
	if problem.Message != "" {
		d.showCatalogue(w, r, s, http.StatusBadRequest, form, name, "", problem)
		return
	}
	http.Redirect(w, r, catalogueURL(id, m, name+" saved."), http.StatusSeeOther)
}

func (d *Dashboard) deleteTier(w http.ResponseWriter, r *http.Request, s *session) {
	v, m, ok := d.projectOf(w, r, s)
	if !ok {
		return
	}
	id := v.ID
	name := r.PathValue("name")
	if err := d.console.DeleteTier(r.Context(), s.platform, id, m, billingOf(v), name); err != nil {
		d.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, catalogueURL(id, m, name+" deleted."), http.StatusSeeOther)
}

// customersPage is a page of a project's customers.
type customersPage struct {
	Project *dream.ProjectView
	Mode    dream.Mode
	Page    *dream.CustomersPage
	// Rows are the customers as the table shows them.
	Rows []customerRow
	// Previous and Next are the links to the pages around, "" for none.
	Previous, Next string
}

// customerRow is a customer with their plan and usage now.
type customerRow struct {
	dream.Customer
	Plan   string
	Count  int64
	Limit  dream.Limit
	Status string
}

// rowOf resolves a customer's plan and usage as the API does.
func (d *Dashboard) rowOf(c dream.Customer, tiers []dream.Tier) customerRow {
	u := dream.UsageAt(tiers, c.UserID, c.State, "", d.console.Now())
	row := customerRow{Customer: c, Plan: u.Plan, Limit: u.Limit, Count: u.Count}
	if sub := c.State.Subscription; sub != nil {
		row.Status = sub.DisplayStatus()
	}
	return row
}

func (d *Dashboard) customers(w http.ResponseWriter, r *http.Request, s *session) {
	v, m, ok := d.projectOf(w, r, s)
	if !ok {
		return
	}
	id := v.ID
	q := dream.CustomerQuery{Search: r.FormValue("q")}
	q.Offset, _ = strconv.Atoi(r.FormValue("offset"))
	var err error
	if q.After, err = dream.ParseCustomerCursor("after", r.FormValue("after")); err == nil {
		q.Before, err = dream.ParseCustomerCursor("before", r.FormValue("before"))
	}
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	page, err := d.console.CustomerList(r.Context(), s.platform, id, m, q)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	p := customersPage{Project: v, Mode: m, Page: page}
	for _, c := range page.Customers {
		p.Rows = append(p.Rows, d.rowOf(c, page.Tiers))
	}
	// A search pages by offset, the whole list by the cursors of the
	// page's ends.
	link := func(k, v string) string {
		values := url.Values{"mode": {string(m)}, k: {v}}
		if page.Search != "" {
			values.Set("q", page.Search)
		}
		return "?" + values.Encode()
	}
	switch {
	case page.Search != "":
		if page.Previous {
			p.Previous = link("offset", strconv.Itoa(max(0, page.Offset-dream.CustomersPageSize)))
		}
		if page.Next {
			p.Next = link("offset", strconv.Itoa(page.Offset+len(page.Customers)))
		}
	case len(page.Customers) > 0:
		if page.Previous {
			p.Previous = link("before", dream.CursorOf(page.Customers[0]).String())
		}
		if page.Next {
			p.Next = link("after", dream.CursorOf(page.Customers[len(page.Customers)-1]).String())
		}
	}
	d.page(w, http.StatusOK, "customers", s, "Customers · "+v.Name, p, noticeOf(r), problem{})
}

// customerPage is one customer.
type customerPage struct {
	Project  *dream.ProjectView
	Mode     dream.Mode
	Customer *dream.CustomerView
	Row      customerRow
	Tiers    []dream.Tier
}

func (d *Dashboard) customer(w http.ResponseWriter, r *http.Request, s *session) {
	d.showCustomer(w, r, s, noticeOf(r), problem{})
}

func (d *Dashboard) showCustomer(w http.ResponseWriter, r *http.Request, s *session, notice string, failed problem) {
	v, m, ok := d.projectOf(w, r, s)
	if !ok {
		return
	}
	id := v.ID
	user := r.PathValue("user")
	env, err := d.console.Environment(r.Context(), s.platform, id, m)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	c, err := d.console.Customers.Customer(r.Context(), env, user)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	tiers, err := d.console.ListTiers(r.Context(), s.platform, id, m, billingOf(v))
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	page, err := d.console.CustomerList(r.Context(), s.platform, id, m, dream.CustomerQuery{Search: user})
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	p := customerPage{Project: v, Mode: m, Customer: c, Tiers: tiers}
	// The search by id finds them, among any whose email starts the same.
	for _, c := range page.Customers {
		if c.UserID == user {
			p.Row = d.rowOf(c, page.Tiers)
		}
	}
	status := http.StatusOK
	if failed.Message != "" {
		status = http.StatusBadRequest
	}
	d.page(w, status, "customer", s, c.Email, p, notice, failed)
}

func (d *Dashboard) assignPlan(w http.ResponseWriter, r *http.Request, s *session) {
	id, m, user := r.PathValue("project"), mode(r), r.PathValue("user")
	env, err := d.console.Environment(r.Context(), s.platform, id, m)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	if _, err := d.console.Customers.AssignPlan(r.Context(), env, user, r.PostFormValue("plan")); err != nil {
		d.showCustomer(w, r, s, "", d.message(r, err))
		return
	}
	http.Redirect(w, r, "/dashboard/projects/"+url.PathEscape(id)+"/customers/"+url.PathEscape(user)+"?"+
		url.Values{"mode": {string(m)}, "notice": {"Plan changed."}}.Encode(), http.StatusSeeOther)
}

func (d *Dashboard) deleteCustomer(w http.ResponseWriter, r *http.Request, s *session) {
	id, m, user := r.PathValue("project"), mode(r), r.PathValue("user")
	env, err := d.console.Environment(r.Context(), s.platform, id, m)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	if _, err := d.console.Customers.DeleteCustomer(r.Context(), env, user); err != nil {
		d.showCustomer(w, r, s, "", d.message(r, err))
		return
	}
	http.Redirect(w, r, "/dashboard/projects/"+url.PathEscape(id)+"/customers?"+
		url.Values{"mode": {string(m)}, "notice": {"Customer deleted."}}.Encode(), http.StatusSeeOther)
}

// eventsPage is a project's recent payment events.
type eventsPage struct {
	Project *dream.ProjectView
	Mode    dream.Mode
	Events  []dream.WebhookEvent
}

// recentEvents is how many events the page shows.
const recentEvents = 50

func (d *Dashboard) events(w http.ResponseWriter, r *http.Request, s *session) {
	v, m, ok := d.projectOf(w, r, s)
	if !ok {
		return
	}
	id := v.ID
	events, err := d.console.WebhookEvents(r.Context(), s.platform, id, m, recentEvents)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	d.page(w, http.StatusOK, "events", s, "Events · "+v.Name, eventsPage{Project: v, Mode: m, Events: events}, "", problem{})
}

// tierFields is what the fields of one tier form are given: ids unique on
// the page, the values, and the page's view when its error is this form's.
type tierFields struct {
	ID       string
	Form     tierForm
	Products bool
	View     view
}

// newForm is the add form's fields: what failed, or empty.
func newForm(v view) tierFields {
	p := v.Data.(cataloguePage)
	f := tierFields{ID: "new", Products: p.Products}
	if p.Editing == "" {
		f.Form, f.View = p.Form, v
	}
	return f
}

// editForm is the edit form of t: what failed for it, or its values.
func editForm(v view, t dream.Tier) tierFields {
	p := v.Data.(cataloguePage)
	f := tierFields{ID: "edit-" + t.Slug, Products: p.Products}
	if p.Editing == t.Slug {
		f.Form, f.View = p.Form, v
		return f
	}
	f.Form = tierForm{Name: t.Slug, DisplayName: t.DisplayName, Description: t.Description,
		Price: strings.TrimPrefix(money(t.PriceCents), "$"), Features: strings.Join(t.Features, "\n"), ImageURL: t.ImageURL, Popular: t.Popular,
		TrialDays: strconv.Itoa(t.TrialDays), Limit: "unlimited"}
	if !t.Limit.Unlimited() {
		f.Form.Limit = strconv.FormatInt(int64(t.Limit), 10)
	}
	if t.Inventory != nil {
		f.Form.Inventory = strconv.FormatInt(*t.Inventory, 10)
	}
	return f
}

// metricsPage is a project's figures and charts.
type metricsPage struct {
	Project *dream.ProjectView
	Mode    dream.Mode
	View    *dream.MetricsView
	// Usage and Money are the charts: usage this period, and MRR (revenue
	// per day for a store), of the last days.
	Usage, Money chart
}

// chart is a bar chart drawn as SVG on the server.
type chart struct {
	Title string
	Bars  []bar
	// Max is the tallest value, the top of the scale.
	Max string
}

// bar is one day's bar: its place in a 300 by 100 box and its label.
type bar struct {
	X, Y, W, H float64
	Label      string
}

// newChart draws values, labelled by day with format, in a 300×100 box.
func newChart(title string, days []dream.DailyFigure, value func(dream.DailyFigure) int64, format func(int64) string) chart {
	c := chart{Title: title}
	var top int64
	for _, d := range days {
		top = max(top, value(d))
	}
	c.Max = format(top)
	if len(days) == 0 {
		return c
	}
	width := 300.0 / float64(len(days))
	for i, d := range days {
		h := 0.0
		if top > 0 {
			h = 96 * float64(value(d)) / float64(top)
		}
		c.Bars = append(c.Bars, bar{X: float64(i)*width + 1, Y: 100 - h, W: max(1, width-2), H: h, Label: d.Day + ": " + format(value(d))})
	}
	return c
}

func (d *Dashboard) metrics(w http.ResponseWriter, r *http.Request, s *session) {
	v, m, ok := d.projectOf(w, r, s)
	if !ok {
		return
	}
	id := v.ID
	view, err := d.console.Metrics(r.Context(), s.platform, id, m)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	count := func(n int64) string { return strconv.FormatInt(n, 10) }
	page := metricsPage{Project: v, Mode: m, View: view,
		Usage: newChart("Usage this period, by day", view.Days, func(f dream.DailyFigure) int64 { return f.UsageThisPeriod }, count)}
	if view.Store {
		page.Money = newChart("Revenue by day", view.Days, func(f dream.DailyFigure) int64 { return f.RevenueCents }, money)
	} else {
		page.Money = newChart("MRR by day", view.Days, func(f dream.DailyFigure) int64 { return f.MRRCents }, money)
	}
	d.page(w, http.StatusOK, "metrics", s, "Metrics · "+v.Name, page, "", problem{})
}
