package emulator

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/stripe/stripe-go/v76"
)

// portal opens a portal session offering the Pro and Team plans to the
// customer and returns its path.
func (f *fixture) portal(t *testing.T, customerID string) string {
	t.Helper()
	link, err := f.emulator.CreatePortalSession(context.Background(), dream.PortalSession{
		Account: account, CustomerID: customerID, ReturnURL: "https://app.example/account",
		Plans: []dream.LineItem{proPlan(0), teamPlan()},
	})
	if err != nil {
		t.Fatalf("creating a portal session for customer %s: %v, want its URL", customerID, err)
	}
	path, found := strings.CutPrefix(link, baseURL)
	if !found || !strings.HasPrefix(path, "/dev/portal/bps_") {
		t.Fatalf("the portal session URL is %s, want %s/dev/portal/bps_...", link, baseURL)
	}
	return path
}

// act posts a portal form and expects to be sent back to the portal.
func (f *fixture) act(t *testing.T, portal, subscriptionID, action string, form url.Values) []stripe.Event {
	t.Helper()
	response := f.do(t, http.MethodPost, portal+"/subscriptions/"+subscriptionID+"/"+action, form)
	if response.Code != http.StatusSeeOther || response.Header().Get("Location") != portal {
		t.Fatalf("the portal action %s answered %d to %q %s, want 303 back to %s",
			action, response.Code, response.Header().Get("Location"), response.Body, portal)
	}
	return f.receiver.take()
}

// page returns the body of the page at path.
func (f *fixture) page(t *testing.T, path string) string {
	t.Helper()
	response := f.do(t, http.MethodGet, path, nil)
	if response.Code != http.StatusOK {
		t.Fatalf("GET %s answered %d %s, want 200", path, response.Code, response.Body)
	}
	return response.Body.String()
}

// expectPrevious fails unless the event's previous attributes hold want.
func expectPrevious(t *testing.T, event stripe.Event, want map[string]any) {
	t.Helper()
	previous := event.Data.PreviousAttributes
	for key, value := range want {
		got, found := previous[key]
		if !found || got != value {
			t.Errorf("the %s webhook event has previous %s = %v (present %t), want %v",
				event.Type, key, got, found, value)
		}
	}
}

func TestPortal(t *testing.T) {
	f := newFixture(t)
	sub := decode[stripe.Subscription](t, f.subscribe(t, subscriptionRequest())[0])
	portal := f.portal(t, sub.Customer.ID)
	actions := portal + "/subscriptions/" + sub.ID

	page := f.page(t, portal)
	for _, want := range []string{
		"<h2>Pro</h2>", "19.00 USD per month", "<strong>active</strong>",
		`action="` + actions + `/cancel"`, `action="` + actions + `/cancel-now"`,
		`action="` + actions + `/switch"`, `value="price_team"`, "Switch to Team (49.00 USD per month)",
		`<a href="https://app.example/account">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the portal page lacks %s, want it shown", want)
		}
	}
	if strings.Contains(page, "/resume") || strings.Contains(page, `value="price_pro"`) {
		t.Error("the portal page of an active subscription offers resume or the current plan, want neither")
	}

	events := f.act(t, portal, sub.ID, "cancel", url.Values{})
	expectTypes(t, events, "customer.subscription.updated")
	canceling := decode[stripe.Subscription](t, events[0])
	if !canceling.CancelAtPeriodEnd || canceling.CanceledAt == 0 || canceling.CancelAt != canceling.CurrentPeriodEnd ||
		canceling.CancellationDetails.Reason != "cancellation_requested" || canceling.Status != stripe.SubscriptionStatusActive {
		t.Errorf("the canceled subscription is %+v, want active, canceling at period end by request", canceling)
	}
	expectPrevious(t, events[0], map[string]any{"cancel_at_period_end": false, "canceled_at": nil, "cancel_at": nil})
	page = f.page(t, portal)
	if !strings.Contains(page, "<strong>canceling</strong>") || !strings.Contains(page, actions+"/resume") ||
		strings.Contains(page, actions+`/cancel"`) {
		t.Errorf("the portal page of a canceling subscription is %s, want canceling, resume and no cancel", page)
	}

	events = f.act(t, portal, sub.ID, "resume", url.Values{})
	expectTypes(t, events, "customer.subscription.updated")
	resumed := decode[stripe.Subscription](t, events[0])
	if resumed.CancelAtPeriodEnd || resumed.CanceledAt != 0 || resumed.CancelAt != 0 || resumed.CancellationDetails.Reason != "" {
		t.Errorf("the resumed subscription is %+v, want no cancellation left", resumed)
	}
	expectPrevious(t, events[0], map[string]any{"cancel_at_period_end": true, "canceled_at": float64(canceling.CanceledAt)})
	if response := f.do(t, http.MethodPost, actions+"/resume", url.Values{}); response.Code != http.StatusBadRequest {
		t.Errorf("resuming a running subscription answered %d, want 400", response.Code)
	}

	events = f.act(t, portal, sub.ID, "switch", url.Values{"price": {"price_team"}})
	expectTypes(t, events, "customer.subscription.updated")
	switched := decode[stripe.Subscription](t, events[0])
	if item := switched.Items.Data[0]; item.ID != sub.Items.Data[0].ID || item.Price.ID != "price_team" ||
		item.Price.UnitAmount != 4900 || item.Quantity != 1 || switched.CurrentPeriodEnd != sub.CurrentPeriodEnd {
		t.Errorf("the switched item is %+v with price %+v, want the same item at price_team 4900, same period",
			item, item.Price)
	}
	previousItems, _ := events[0].Data.PreviousAttributes["items"].(map[string]any)
	previousData, _ := previousItems["data"].([]any)
	if len(previousData) != 1 || previousData[0].(map[string]any)["price"].(map[string]any)["id"] != "price_pro" {
		t.Errorf("the switch event has previous items %v, want the one item of price_pro", previousItems)
	}
	page = f.page(t, portal)
	if !strings.Contains(page, "<h2>Team</h2>") || !strings.Contains(page, `value="price_pro"`) {
		t.Errorf("the portal page after the switch is %s, want Team and an offer of price_pro", page)
	}
	for _, price := range []string{"price_team", "price_unknown"} {
		response := f.do(t, http.MethodPost, actions+"/switch", url.Values{"price": {price}})
		if response.Code != http.StatusBadRequest || !strings.Contains(response.Body.String(), `href="`+portal+`"`) {
			t.Errorf("switching to %s answered %d %s, want 400 with a link back to the portal",
				price, response.Code, response.Body)
		}
	}

	events = f.act(t, portal, sub.ID, "cancel-now", url.Values{})
	expectTypes(t, events, "customer.subscription.deleted")
	deleted := decode[stripe.Subscription](t, events[0])
	if deleted.Status != stripe.SubscriptionStatusCanceled || deleted.EndedAt == 0 || deleted.EndedAt != deleted.CanceledAt {
		t.Errorf("the deleted subscription has status %s, ended %d, canceled %d, want canceled and ended when canceled",
			deleted.Status, deleted.EndedAt, deleted.CanceledAt)
	}
	page = f.page(t, portal)
	if !strings.Contains(page, "<strong>canceled</strong>") || strings.Contains(page, "<form") {
		t.Errorf("the portal page of a canceled subscription is %s, want canceled and no forms", page)
	}
	if response := f.do(t, http.MethodPost, actions+"/cancel-now", url.Values{}); response.Code != http.StatusBadRequest {
		t.Errorf("canceling a canceled subscription answered %d, want 400", response.Code)
	}
	if events := f.receiver.take(); len(events) != 0 {
		t.Errorf("refused portal actions delivered webhook events %v, want none", types(events))
	}
}

func TestPortalScope(t *testing.T) {
	f := newFixture(t)
	ada := decode[stripe.Subscription](t, f.subscribe(t, subscriptionRequest())[0])
	request := subscriptionRequest()
	request.CustomerEmail = "bob@example.com"
	bob := decode[stripe.Subscription](t, f.subscribe(t, request)[0])

	portal := f.portal(t, ada.Customer.ID)
	if page := f.page(t, portal); strings.Contains(page, bob.ID) || !strings.Contains(page, ada.ID) {
		t.Errorf("Ada's portal page is %s, want her subscription %s and not Bob's %s", page, ada.ID, bob.ID)
	}
	for _, path := range []string{
		portal + "/subscriptions/" + bob.ID + "/cancel",
		portal + "/subscriptions/" + ada.ID + "/refund",
		"/dev/portal/bps_unknown/subscriptions/" + ada.ID + "/cancel",
	} {
		if response := f.do(t, http.MethodPost, path, url.Values{}); response.Code != http.StatusNotFound {
			t.Errorf("POST %s answered %d, want 404", path, response.Code)
		}
	}
	if response := f.do(t, http.MethodGet, "/dev/portal/bps_unknown", nil); response.Code != http.StatusNotFound {
		t.Errorf("the page of an unknown portal session answered %d, want 404", response.Code)
	}

	for _, request := range []dream.PortalSession{
		{Account: account, CustomerID: "cus_unknown", ReturnURL: "https://app.example/account"},
		{Account: dream.PaymentAccount{Mode: dream.ModeTest, AccountID: "acct_other"}, CustomerID: ada.Customer.ID, ReturnURL: "https://app.example/account"},
	} {
		_, err := f.emulator.CreatePortalSession(context.Background(), request)
		if e := expectError(t, err, dream.KindInvalid, "payment_request_rejected"); !strings.Contains(e.Message, "No such customer") {
			t.Errorf("the refused portal session says %q, want No such customer", e.Message)
		}
	}
	_, err := f.emulator.CreatePortalSession(context.Background(), dream.PortalSession{
		Account: account, CustomerID: ada.Customer.ID, ReturnURL: "account",
	})
	expectError(t, err, dream.KindInvalid, "payment_request_rejected")
	if events := f.receiver.take(); len(events) != 0 {
		t.Errorf("portal sessions delivered webhook events %v, want none", types(events))
	}
}

func TestCancelSubscription(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sub := decode[stripe.Subscription](t, f.subscribe(t, subscriptionRequest())[0])

	other := dream.PaymentAccount{Mode: dream.ModeTest, AccountID: "acct_other"}
	expectError(t, f.emulator.CancelSubscription(ctx, other, sub.ID, true), dream.KindNotFound, "Not found")
	expectError(t, f.emulator.CancelSubscription(ctx, account, "sub_unknown", true), dream.KindNotFound, "Not found")

	if err := f.emulator.CancelSubscription(ctx, account, sub.ID, true); err != nil {
		t.Fatalf("canceling the subscription at period end: %v, want no error", err)
	}
	events := f.receiver.take()
	expectTypes(t, events, "customer.subscription.updated")
	if canceling := decode[stripe.Subscription](t, events[0]); !canceling.CancelAtPeriodEnd {
		t.Error("the subscription canceled at period end has cancel_at_period_end false, want true")
	}
	expectPrevious(t, events[0], map[string]any{"cancel_at_period_end": false})

	// Scheduling it again changes nothing.
	if err := f.emulator.CancelSubscription(ctx, account, sub.ID, true); err != nil {
		t.Fatalf("canceling the subscription at period end again: %v, want no error", err)
	}
	expectTypes(t, f.receiver.take())

	if err := f.emulator.CancelSubscription(ctx, account, sub.ID, false); err != nil {
		t.Fatalf("canceling the subscription now: %v, want no error", err)
	}
	events = f.receiver.take()
	expectTypes(t, events, "customer.subscription.deleted")
	if deleted := decode[stripe.Subscription](t, events[0]); deleted.Status != stripe.SubscriptionStatusCanceled ||
		deleted.EndedAt == 0 || deleted.CancelAtPeriodEnd {
		t.Errorf("the deleted subscription is %+v, want canceled, ended, not canceling at period end", deleted)
	}
	expectError(t, f.emulator.CancelSubscription(ctx, account, sub.ID, false), dream.KindInvalid, "payment_request_rejected")

	// The cancellation stands when the webhook refuses its event.
	sub = decode[stripe.Subscription](t, f.subscribe(t, subscriptionRequest())[0])
	f.receiver.answer(http.StatusInternalServerError)
	if err := f.emulator.CancelSubscription(ctx, account, sub.ID, false); err != nil {
		t.Fatalf("canceling a subscription with a failing webhook: %v, want no error", err)
	}
	expectTypes(t, f.receiver.take(), "customer.subscription.deleted")
}

func TestClockRenews(t *testing.T) {
	f := newFixture(t)
	sub := decode[stripe.Subscription](t, f.subscribe(t, subscriptionRequest())[0])

	code, answer := f.advance(t, `{"days": 32}`)
	if code != http.StatusOK || strings.Join(answer.Events, " ") != "customer.subscription.updated invoice.paid" {
		t.Fatalf("advancing the clock 32 days answered %d %+v, want 200 with a renewal and a paid invoice",
			code, answer)
	}
	now, err := time.Parse(time.RFC3339, answer.Now)
	if ahead := time.Until(now); err != nil || ahead < 32*24*time.Hour-time.Minute || ahead > 32*24*time.Hour+time.Minute {
		t.Fatalf("after advancing 32 days the clock reads %s (%v), want 32 days from now", answer.Now, err)
	}
	events := f.receiver.take()
	expectTypes(t, events, answer.Events...)
	renewed := decode[stripe.Subscription](t, events[0])
	if renewed.CurrentPeriodStart != sub.CurrentPeriodEnd || renewed.CurrentPeriodEnd != monthAfter(sub.CurrentPeriodEnd) ||
		renewed.Status != stripe.SubscriptionStatusActive || events[0].Created != sub.CurrentPeriodEnd {
		t.Errorf("the renewed subscription is %s for %d–%d, event at %d; want active for %d–%d, event at %d",
			renewed.Status, renewed.CurrentPeriodStart, renewed.CurrentPeriodEnd, events[0].Created,
			sub.CurrentPeriodEnd, monthAfter(sub.CurrentPeriodEnd), sub.CurrentPeriodEnd)
	}
	expectPrevious(t, events[0], map[string]any{
		"current_period_start": float64(sub.CurrentPeriodStart),
		"current_period_end":   float64(sub.CurrentPeriodEnd),
		"latest_invoice":       sub.LatestInvoice.ID,
	})
	invoice := decode[stripe.Invoice](t, events[1])
	line := invoice.Lines.Data[0]
	if invoice.BillingReason != stripe.InvoiceBillingReasonSubscriptionCycle || invoice.AmountPaid != 1900 ||
		invoice.ID != renewed.LatestInvoice.ID || invoice.PeriodStart != sub.CurrentPeriodStart ||
		invoice.PeriodEnd != sub.CurrentPeriodEnd || line.Period.Start != renewed.CurrentPeriodStart ||
		line.Period.End != renewed.CurrentPeriodEnd {
		t.Errorf("the renewal invoice is %+v with line period %+v, want a paid subscription_cycle invoice of 1900 "+
			"for the old period, its line for the new one", invoice, line.Period)
	}

	// Nothing else is due yet.
	if code, answer := f.advance(t, `{"seconds": 60}`); code != http.StatusOK || len(answer.Events) != 0 || answer.Events == nil {
		t.Errorf("advancing 60 more seconds answered %d %+v, want 200 and an empty event list", code, answer)
	}
}

func TestClockEndsTrial(t *testing.T) {
	f := newFixture(t)
	request := subscriptionRequest()
	request.TrialDays = 7
	sub := decode[stripe.Subscription](t, f.subscribe(t, request)[0])

	if code, answer := f.advance(t, `{"days": 6}`); code != http.StatusOK || len(answer.Events) != 0 {
		t.Fatalf("advancing 6 days within the trial answered %d %+v, want 200 and no events", code, answer)
	}
	code, answer := f.advance(t, `{"days": 2}`)
	if code != http.StatusOK {
		t.Fatalf("advancing past the trial answered %d %+v, want 200", code, answer)
	}
	events := f.receiver.take()
	expectTypes(t, events, "customer.subscription.updated", "invoice.paid")
	active := decode[stripe.Subscription](t, events[0])
	if active.Status != stripe.SubscriptionStatusActive || active.CurrentPeriodStart != sub.TrialEnd ||
		active.CurrentPeriodEnd != monthAfter(sub.TrialEnd) || active.TrialEnd != sub.TrialEnd {
		t.Errorf("after the trial the subscription is %s for %d–%d, want active for %d–%d",
			active.Status, active.CurrentPeriodStart, active.CurrentPeriodEnd, sub.TrialEnd, monthAfter(sub.TrialEnd))
	}
	expectPrevious(t, events[0], map[string]any{"status": "trialing", "current_period_end": float64(sub.TrialEnd)})
	if invoice := decode[stripe.Invoice](t, events[1]); invoice.AmountPaid != 1900 || invoice.PeriodEnd != sub.TrialEnd {
		t.Errorf("the first invoice after the trial is %+v, want 1900 paid for the trial ending at %d",
			invoice, sub.TrialEnd)
	}
}

func TestClockCancelsAtPeriodEnd(t *testing.T) {
	f := newFixture(t)
	sub := decode[stripe.Subscription](t, f.subscribe(t, subscriptionRequest())[0])
	if err := f.emulator.CancelSubscription(context.Background(), account, sub.ID, true); err != nil {
		t.Fatalf("canceling the subscription at period end: %v, want no error", err)
	}
	f.receiver.take()

	code, answer := f.advance(t, `{"days": 32}`)
	if code != http.StatusOK {
		t.Fatalf("advancing the clock 32 days answered %d %+v, want 200", code, answer)
	}
	events := f.receiver.take()
	expectTypes(t, events, "customer.subscription.deleted")
	ended := decode[stripe.Subscription](t, events[0])
	if ended.Status != stripe.SubscriptionStatusCanceled || ended.EndedAt != sub.CurrentPeriodEnd ||
		events[0].Created != sub.CurrentPeriodEnd {
		t.Errorf("the ended subscription has status %s, ended %d, event at %d, want canceled, ended and sent at %d",
			ended.Status, ended.EndedAt, events[0].Created, sub.CurrentPeriodEnd)
	}
	if code, answer := f.advance(t, `{"days": 40}`); code != http.StatusOK || len(answer.Events) != 0 {
		t.Errorf("advancing 40 days after the end answered %d %+v, want 200 and no events", code, answer)
	}
}

func TestClockRenewsSeveralPeriods(t *testing.T) {
	f := newFixture(t)
	first := decode[stripe.Subscription](t, f.subscribe(t, subscriptionRequest())[0])
	f.advance(t, `{"days": 10}`)
	second := decode[stripe.Subscription](t, f.subscribe(t, subscriptionRequest())[0])

	// A hundred days hold three monthly periods of each, never four.
	code, answer := f.advance(t, `{"days": 100}`)
	if code != http.StatusOK || len(answer.Events) != 12 {
		t.Fatalf("advancing 100 days over two subscriptions answered %d %+v, want 200 and 12 events", code, answer)
	}
	events := f.receiver.take()
	expectTypes(t, events, answer.Events...)
	periodEnds := map[string]int64{first.ID: first.CurrentPeriodEnd, second.ID: second.CurrentPeriodEnd}
	var last int64
	var order []string
	for i := 0; i < len(events); i += 2 {
		expectTypes(t, events[i:i+2], "customer.subscription.updated", "invoice.paid")
		renewed := decode[stripe.Subscription](t, events[i])
		if renewed.CurrentPeriodStart != periodEnds[renewed.ID] || events[i].Created < last {
			t.Errorf("renewal %d of %s is for %d–%d at %d, want it to start at %d, no earlier than %d", i/2, renewed.ID,
				renewed.CurrentPeriodStart, renewed.CurrentPeriodEnd, events[i].Created, periodEnds[renewed.ID], last)
		}
		if invoice := decode[stripe.Invoice](t, events[i+1]); invoice.Subscription.ID != renewed.ID {
			t.Errorf("the invoice after renewing %s is of subscription %s, want %s",
				renewed.ID, invoice.Subscription.ID, renewed.ID)
		}
		periodEnds[renewed.ID] = renewed.CurrentPeriodEnd
		last = events[i].Created
		order = append(order, renewed.ID)
	}
	want := []string{first.ID, second.ID, first.ID, second.ID, first.ID, second.ID}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("the subscriptions renewed in order %v, want %v", order, want)
	}
}

func TestClockValidation(t *testing.T) {
	f := newFixture(t)
	for _, body := range []string{
		``, `not json`, `{}`, `{"days": 0}`, `{"days": -1}`, `{"seconds": -5}`, `{"seconds": 5, "days": 1}`,
		`{"days": 1.5}`, `{"weeks": 1}`, `{"days": 100000}`, `{"seconds": 9223372036854775807}`,
	} {
		code, answer := f.advance(t, body)
		if code != http.StatusBadRequest || answer.Error != "invalid_request" || answer.Message == "" {
			t.Errorf("advancing the clock by %s answered %d %+v, want 400 invalid_request with a message",
				body, code, answer)
		}
	}
	if ahead := time.Until(f.emulator.now()); ahead > time.Minute {
		t.Errorf("refused advances moved the clock by %v, want it unmoved", ahead)
	}
	if response := f.do(t, http.MethodGet, "/dev/clock/advance", nil); response.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /dev/clock/advance answered %d, want 405", response.Code)
	}
}

func TestClockWebhookFailure(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, subscriptionRequest())
	f.receiver.answer(http.StatusServiceUnavailable)
	code, answer := f.advance(t, `{"days": 32}`)
	if code != http.StatusBadGateway || answer.Error != "webhook_failed" ||
		!strings.Contains(answer.Message, "customer.subscription.updated") || !strings.Contains(answer.Message, "503") {
		t.Fatalf("advancing with a failing webhook answered %d %+v, want 502 webhook_failed naming the event and 503",
			code, answer)
	}
	// The renewal happened all the same.
	f.receiver.answer(http.StatusOK)
	if code, answer := f.advance(t, `{"seconds": 1}`); code != http.StatusOK || len(answer.Events) != 0 {
		t.Errorf("advancing after the failed delivery answered %d %+v, want 200 and no events", code, answer)
	}
}
