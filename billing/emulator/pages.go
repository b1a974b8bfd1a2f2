package emulator

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/dream-api/dream"
)

//go:embed pages.html
var pagesHTML string

// pages are the emulator's HTML pages; html/template escapes everything the
// developer or the customer supplied.
var pages = template.Must(template.New("pages").Parse(pagesHTML))

// maxAdvance is the furthest one clock advance may go, in seconds: ten
// years bounds both the clock arithmetic and the renewals one call brings.
const maxAdvance = 10 * 366 * 24 * 60 * 60

// routes returns the emulator's handler. Paths are the server's own, so the
// server mounts it without stripping a prefix.
func (e *Emulator) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dev/checkout/{id}", e.handleCheckout)
	mux.HandleFunc("POST /dev/checkout/{id}/pay", e.handlePay)
	mux.HandleFunc("GET /dev/portal/{id}", e.handlePortal)
	mux.HandleFunc("POST /dev/portal/{id}/subscriptions/{subscription}/{action}", e.handlePortalAction)
	mux.HandleFunc("POST /dev/clock/advance", e.handleAdvance)
	mux.HandleFunc("GET /dev/meter-events", e.handleMeterEvents)
	mux.HandleFunc("GET /dev/connect/authorize", e.handleConnect)
	mux.HandleFunc("POST /dev/connect/authorize", e.handleConnectAuthorize)
	return mux
}

// ServeHTTP serves the emulator's pages and dev routes:
//
//	GET  /dev/checkout/{id}                                    checkout page
//	POST /dev/checkout/{id}/pay                                pay it
//	GET  /dev/portal/{id}                                      customer portal
//	POST /dev/portal/{id}/subscriptions/{subscription}/cancel  cancel at period end
//	POST /dev/portal/{id}/subscriptions/{subscription}/resume  undo that
//	POST /dev/portal/{id}/subscriptions/{subscription}/cancel-now
//	POST /dev/portal/{id}/subscriptions/{subscription}/switch  form field price
//	POST /dev/clock/advance                                    {"seconds": n} or {"days": n}
//	GET  /dev/meter-events                                     meter events the operator's account received
//	GET  /dev/connect/authorize?mode=&state=                   Connect page
//	POST /dev/connect/authorize                                connect (or decision=deny)
//
// The server mounts it for paths under /dev/checkout/, /dev/portal/ and
// /dev/connect/ and at /dev/clock/advance and /dev/meter-events.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

// checkoutPage is what the checkout page shows.
type checkoutPage struct {
	Session    *checkoutSession
	Lines      []checkoutLine
	Total      string
	Recurring  bool
	Expired    bool
	SuccessURL string
	// Email is who pays; AskEmail is set when the customer may enter it,
	// because the session has no customer of its own.
	Email    string
	AskEmail bool
}

// checkoutLine is a line item as the checkout page shows it.
type checkoutLine struct {
	Name      string
	Quantity  int64
	UnitPrice string
	Total     string
}

// handleCheckout shows a checkout session: its line items and a Pay form
// while open, a link to the success URL once paid.
func (e *Emulator) handleCheckout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var s checkoutSession
	found, err := get(ctx, e.db, checkoutSessionsTable, r.PathValue("id"), &s)
	if err == nil && !found {
		err = notFound("No such checkout session: %s", r.PathValue("id"))
	}
	if err != nil {
		e.writeError(w, err, pageLink{})
		return
	}
	page := checkoutPage{
		Session:    &s,
		Total:      formatAmount(s.AmountTotal, s.Currency),
		Recurring:  s.Mode == dream.CheckoutSubscription,
		Expired:    s.Status == sessionExpired || s.Status == sessionOpen && e.now().Unix() >= s.ExpiresAt,
		SuccessURL: s.successURL(),
		Email:      s.CustomerEmail,
		AskEmail:   s.CustomerID == "",
	}
	if s.CustomerID != "" {
		c, err := customerOf(ctx, e.db, s.owner(), s.CustomerID)
		if err != nil {
			e.writeError(w, err, pageLink{})
			return
		}
		page.Email = c.Email
	}
	for _, item := range s.LineItems {
		page.Lines = append(page.Lines, checkoutLine{
			Name:      lineItemName(item),
			Quantity:  item.Quantity,
			UnitPrice: formatAmount(item.UnitAmount, item.Currency),
			Total:     formatAmount(item.UnitAmount*item.Quantity, item.Currency),
		})
	}
	e.render(w, http.StatusOK, "checkout", page)
}

// handlePay pays a checkout session, delivers the events, and sends the
// customer to the success URL.
func (e *Emulator) handlePay(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	session, events, err := e.pay(ctx, r.PathValue("id"), strings.TrimSpace(r.PostFormValue("email")))
	if err != nil {
		e.writeError(w, err, pageLink{URL: "/dev/checkout/" + r.PathValue("id"), Text: "Back to the checkout"})
		return
	}
	if err := e.deliver(ctx, events); err != nil {
		e.writeError(w, err, pageLink{URL: session.successURL(), Text: "Continue to the success page"})
		return
	}
	http.Redirect(w, r, session.successURL(), http.StatusSeeOther)
}

// portalPage is what the portal page shows.
type portalPage struct {
	ID            string
	ReturnURL     string
	Subscriptions []portalSubscription
}

// portalSubscription is a subscription as the portal page shows it.
type portalSubscription struct {
	ID     string
	Plan   string
	Amount string
	// Status is Stripe's, or "canceling" while a cancellation is scheduled.
	Status    string
	Canceled  bool
	Canceling bool
	PeriodEnd string
	EndedAt   string
	// Switches are the plans the subscription can move to.
	Switches []portalPlan
}

// portalPlan is a plan a subscription can switch to.
type portalPlan struct {
	PriceID string
	Name    string
	Amount  string
}

// handlePortal shows the portal session's customer their subscriptions on
// the account, with a form for each change they can make.
func (e *Emulator) handlePortal(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := e.portalSession(r)
	if err != nil {
		e.writeError(w, err, pageLink{})
		return
	}
	subscriptions, err := e.customerSubscriptions(ctx, p)
	if err != nil {
		e.writeError(w, err, pageLink{})
		return
	}
	page := portalPage{ID: p.ID, ReturnURL: p.ReturnURL}
	for _, s := range subscriptions {
		var names []string
		for _, item := range s.Items {
			names = append(names, lineItemName(item.Price))
		}
		view := portalSubscription{
			ID:        s.ID,
			Plan:      strings.Join(names, ", "),
			Amount:    formatAmount(s.amount(), s.currency()),
			Status:    string(s.Status),
			Canceled:  s.Status == dream.StatusCanceled,
			Canceling: s.CancelAtPeriodEnd && s.Status != dream.StatusCanceled,
			PeriodEnd: formatTime(s.CurrentPeriodEnd),
			EndedAt:   formatTime(s.EndedAt),
		}
		if view.Canceling {
			view.Status = "canceling"
		}
		if !view.Canceled && len(s.Items) == 1 {
			for _, plan := range p.Plans {
				if plan.PriceID != s.Items[0].Price.PriceID {
					view.Switches = append(view.Switches, portalPlan{
						PriceID: plan.PriceID,
						Name:    lineItemName(plan),
						Amount:  formatAmount(plan.UnitAmount*s.Items[0].Price.Quantity, plan.Currency),
					})
				}
			}
		}
		page.Subscriptions = append(page.Subscriptions, view)
	}
	e.render(w, http.StatusOK, "portal", page)
}

// handlePortalAction applies a portal form to a subscription of the portal
// session's customer, delivers the event, and goes back to the portal.
func (e *Emulator) handlePortalAction(w http.ResponseWriter, r *http.Request) {
	p, err := e.portalSession(r)
	if err != nil {
		e.writeError(w, err, pageLink{})
		return
	}
	back := pageLink{URL: "/dev/portal/" + p.ID, Text: "Back to the portal"}
	var action subscriptionAction
	switch r.PathValue("action") {
	case "cancel":
		action = cancelAtPeriodEnd
	case "resume":
		action = resume
	case "cancel-now":
		action = cancelNow
	case "switch":
		action = switchPrice(p.Plans, r.PostFormValue("price"))
	default:
		e.writeError(w, notFound("No such portal action: %s", r.PathValue("action")), back)
		return
	}
	mine := func(s *subscription) bool { return s.owner == p.owner && s.Customer == p.Customer }
	events, err := e.change(r.Context(), r.PathValue("subscription"), mine, action)
	if err == nil {
		err = e.deliver(r.Context(), events)
	}
	if err != nil {
		e.writeError(w, err, back)
		return
	}
	http.Redirect(w, r, back.URL, http.StatusSeeOther)
}

// portalSession returns the portal session the request's path names.
func (e *Emulator) portalSession(r *http.Request) (*portalSession, error) {
	var p portalSession
	found, err := get(r.Context(), e.db, portalSessionsTable, r.PathValue("id"), &p)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("No such portal session: %s", r.PathValue("id"))
	}
	return &p, nil
}

// handleAdvance moves the emulator clock and answers in JSON with the new
// time and the events the passing of time caused.
func (e *Emulator) handleAdvance(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Seconds int64 `json:"seconds"`
		Days    int64 `json:"days"`
	}
	decoder := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request",
			"message": `The body must be {"seconds": n} or {"days": n}, with n a whole number`})
		return
	}
	if body.Seconds < 0 || body.Days < 0 || (body.Seconds == 0) == (body.Days == 0) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request",
			"message": "Give a positive number of seconds or of days, not both"})
		return
	}
	if body.Seconds > maxAdvance || body.Days > maxAdvance/(24*60*60) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request",
			"message": "The clock moves at most ten years at a time"})
		return
	}
	now, delivered, err := e.advance(r.Context(), body.Seconds+body.Days*24*60*60)
	if err == nil && e.advanced != nil {
		// What the passing of time does at the server: its daily jobs.
		err = e.advanced(r.Context(), now)
	}
	var delivery *deliveryError
	switch {
	case errors.As(err, &delivery):
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": "webhook_failed", "message": err.Error(),
			"now": now.Format(time.RFC3339), "events": delivered})
	case err != nil:
		e.logger.Error("payments emulator: advancing the clock", "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "internal_error",
			"message": "The payments emulator failed; its log says why"})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"now": now.Format(time.RFC3339), "events": delivered})
	}
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// messagePage is a page that says one thing, such as an error.
type messagePage struct {
	Title   string
	Message string
	Link    pageLink
}

// pageLink is a link onward from a message page; the zero value is none.
type pageLink struct {
	URL  string
	Text string
}

// kindStatus is the HTTP status of each kind of error the emulator's own
// requests fail with.
var kindStatus = map[dream.Kind]int{
	dream.KindInvalid:  http.StatusBadRequest,
	dream.KindNotFound: http.StatusNotFound,
	dream.KindConflict: http.StatusConflict,
}

// writeError answers err as a page. A webhook that refused an event is a
// 502, so that the developer sees their webhook broke; the change it
// reports has happened all the same.
func (e *Emulator) writeError(w http.ResponseWriter, err error, link pageLink) {
	page := messagePage{Title: "Internal error", Message: "The payments emulator failed; its log says why.", Link: link}
	status := http.StatusInternalServerError
	var delivery *deliveryError
	var known *dream.Error
	switch {
	case errors.As(err, &delivery):
		status = http.StatusBadGateway
		page.Title = "Webhook failed"
		page.Message = "Your webhook did not accept every event; what happened stands all the same.\n" + err.Error()
	case errors.As(err, &known) && kindStatus[known.Kind] != 0:
		status = kindStatus[known.Kind]
		page.Title = http.StatusText(status)
		page.Message = known.Message
	default:
		e.logger.Error("payments emulator", "error", err)
	}
	e.render(w, status, "message", page)
}

// render answers the page template name filled with data.
func (e *Emulator) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		e.logger.Error("payments emulator: rendering a page", "page", name, "error", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// formatTime formats an emulator time for the pages; zero is none.
func formatTime(t int64) string {
	if t == 0 {
		return ""
	}
	return time.Unix(t, 0).UTC().Format("2 Jan 2006 15:04 UTC")
}
