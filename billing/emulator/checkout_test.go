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

func TestSubscriptionCheckout(t *testing.T) {
	f := newFixture(t)
	id := f.checkout(t, subscriptionRequest())
	if !strings.HasPrefix(id, "cs_test_") {
		t.Fatalf("the checkout session id is %s, want a cs_test_ id", id)
	}
	response := f.pay(t, id)
	if response.Code != http.StatusSeeOther {
		t.Fatalf("paying the checkout session answered %d %s, want 303", response.Code, response.Body)
	}
	if got, want := response.Header().Get("Location"), "https://app.example/welcome?session="+id; got != want {
		t.Fatalf("the paid checkout session redirects to %s, want %s", got, want)
	}
	events := f.receiver.take()
	expectTypes(t, events, "customer.subscription.created", "checkout.session.completed", "invoice.paid")
	now := f.emulator.now().Unix()

	sub := decode[stripe.Subscription](t, events[0])
	switch {
	case !strings.HasPrefix(sub.ID, "sub_") || sub.Status != stripe.SubscriptionStatusActive:
		t.Errorf("the new subscription is %s with status %s, want a sub_ id and active", sub.ID, sub.Status)
	case sub.Customer == nil || !strings.HasPrefix(sub.Customer.ID, "cus_"):
		t.Errorf("the subscription's customer is %+v, want a cus_ customer", sub.Customer)
	case sub.Metadata["user"] != "user_ada" || sub.Metadata["project"] != "prj_1":
		t.Errorf("the subscription metadata is %v, want user user_ada and project prj_1", sub.Metadata)
	case sub.CurrentPeriodStart < now-5 || sub.CurrentPeriodStart > now || sub.StartDate != sub.CurrentPeriodStart:
		t.Errorf("the subscription period starts at %d and the start date is %d, want both at now %d",
			sub.CurrentPeriodStart, sub.StartDate, now)
	case sub.CurrentPeriodEnd != monthAfter(sub.CurrentPeriodStart):
		t.Errorf("the subscription period ends at %d, want a month later at %d",
			sub.CurrentPeriodEnd, monthAfter(sub.CurrentPeriodStart))
	case sub.CancelAtPeriodEnd || sub.CanceledAt != 0 || sub.TrialEnd != 0 || sub.Livemode:
		t.Errorf("the new subscription is %+v, want no cancellation, no trial and test mode", sub)
	case events[0].Created != sub.Created:
		t.Errorf("the webhook event was created at %d, want the subscription's creation %d",
			events[0].Created, sub.Created)
	}
	item := sub.Items.Data[0]
	if len(sub.Items.Data) != 1 || !strings.HasPrefix(item.ID, "si_") || item.Quantity != 1 ||
		item.Price.ID != "price_pro" || item.Price.UnitAmount != 1900 || item.Price.Currency != "usd" ||
		item.Price.Product.ID != "prod_pro" || item.Price.Recurring.Interval != "month" ||
		item.Price.Recurring.IntervalCount != 1 || item.Price.Type != stripe.PriceTypeRecurring {
		t.Errorf("the subscription item is %+v with price %+v, want one si_ item of monthly price_pro at 1900 usd",
			item, item.Price)
	}

	session := decode[stripe.CheckoutSession](t, events[1])
	switch {
	case session.ID != id || session.Mode != stripe.CheckoutSessionModeSubscription ||
		session.Status != stripe.CheckoutSessionStatusComplete ||
		session.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid:
		t.Errorf("the checkout session %s has mode %s, status %s, payment %s; want %s, subscription, complete, paid",
			session.ID, session.Mode, session.Status, session.PaymentStatus, id)
	case session.Customer.ID != sub.Customer.ID || session.Subscription.ID != sub.ID:
		t.Errorf("the checkout session has customer %s and subscription %s, want %s and %s",
			session.Customer.ID, session.Subscription.ID, sub.Customer.ID, sub.ID)
	case session.ClientReferenceID != "user_ada" || session.Metadata["project"] != "prj_1":
		t.Errorf("the checkout session has reference %s and metadata %v, want user_ada and project prj_1",
			session.ClientReferenceID, session.Metadata)
	case session.AmountTotal != 1900 || session.Currency != "usd" || session.CustomerDetails.Email != "ada@example.com":
		t.Errorf("the checkout session has amount %d %s and email %s, want 1900 usd and ada@example.com",
			session.AmountTotal, session.Currency, session.CustomerDetails.Email)
	}

	invoice := decode[stripe.Invoice](t, events[2])
	line := invoice.Lines.Data[0]
	switch {
	case !strings.HasPrefix(invoice.ID, "in_") || invoice.Status != stripe.InvoiceStatusPaid || !invoice.Paid:
		t.Errorf("the invoice is %s with status %s, paid %v, want a paid in_ invoice",
			invoice.ID, invoice.Status, invoice.Paid)
	case invoice.AmountPaid != 1900 || invoice.AmountDue != 1900 || invoice.Currency != "usd":
		t.Errorf("the invoice has paid %d of %d %s, want 1900 of 1900 usd",
			invoice.AmountPaid, invoice.AmountDue, invoice.Currency)
	case invoice.Customer.ID != sub.Customer.ID || invoice.Subscription.ID != sub.ID ||
		sub.LatestInvoice.ID != invoice.ID || session.Invoice.ID != invoice.ID:
		t.Errorf("the invoice %s has customer %s and subscription %s, want %s and %s, and the invoice of both",
			invoice.ID, invoice.Customer.ID, invoice.Subscription.ID, sub.Customer.ID, sub.ID)
	case invoice.BillingReason != stripe.InvoiceBillingReasonSubscriptionCreate:
		t.Errorf("the invoice billing reason is %s, want %s",
			invoice.BillingReason, stripe.InvoiceBillingReasonSubscriptionCreate)
	case line.Period.Start != sub.CurrentPeriodStart || line.Period.End != sub.CurrentPeriodEnd:
		t.Errorf("the invoice line covers %+v, want the subscription period %d–%d",
			line.Period, sub.CurrentPeriodStart, sub.CurrentPeriodEnd)
	case line.Price.ID != "price_pro" || line.Amount != 1900 || line.Quantity != 1:
		t.Errorf("the invoice line is %+v, want price_pro, quantity 1, amount 1900", line)
	case invoice.SubscriptionDetails.Metadata["user"] != "user_ada":
		t.Errorf("the invoice's subscription details are %+v, want the metadata user user_ada",
			invoice.SubscriptionDetails)
	}
}

func TestTrialCheckout(t *testing.T) {
	f := newFixture(t)
	request := subscriptionRequest()
	request.TrialDays = 7
	events := f.subscribe(t, request)
	expectTypes(t, events, "customer.subscription.created", "checkout.session.completed")

	sub := decode[stripe.Subscription](t, events[0])
	if sub.Status != stripe.SubscriptionStatusTrialing || sub.TrialStart != sub.Created ||
		sub.TrialEnd != sub.TrialStart+7*24*60*60 || sub.CurrentPeriodEnd != sub.TrialEnd || sub.LatestInvoice != nil {
		t.Errorf("the trial subscription has status %s, trial %d–%d, period end %d and invoice %v, "+
			"want trialing for 7 days from creation %d, the period ending with the trial, no invoice",
			sub.Status, sub.TrialStart, sub.TrialEnd, sub.CurrentPeriodEnd, sub.LatestInvoice, sub.Created)
	}
	session := decode[stripe.CheckoutSession](t, events[1])
	if session.PaymentStatus != stripe.CheckoutSessionPaymentStatusNoPaymentRequired || session.Invoice != nil {
		t.Errorf("the trial checkout session has payment status %s and invoice %v, want no_payment_required and none",
			session.PaymentStatus, session.Invoice)
	}
}

func TestPaymentCheckout(t *testing.T) {
	f := newFixture(t)
	items := []dream.LineItem{
		{PriceID: "price_tshirt", Quantity: 2, ProductID: "prod_tshirt", Description: "T-shirt", UnitAmount: 2500, Currency: "USD"},
		{PriceID: "price_ebook", Quantity: 1, UnitAmount: 900},
	}
	id := f.checkout(t, dream.CheckoutSession{
		Account:    account,
		Mode:       dream.CheckoutPayment,
		LineItems:  items,
		SuccessURL: "http://localhost:3000/thanks",
		CancelURL:  "http://localhost:3000/cart",
		Metadata:   map[string]string{"order": "ord_1"},
	})

	// Stripe requires an email; the session has none.
	if response := f.pay(t, id); response.Code != http.StatusBadRequest {
		t.Fatalf("paying a checkout session without an email answered %d %s, want 400", response.Code, response.Body)
	}
	if events := f.receiver.take(); len(events) != 0 {
		t.Fatalf("a refused payment delivered webhook events %v, want none", types(events))
	}

	// The server's webhook handler fetches the line items of a paid store
	// checkout while the delivery is in progress.
	var listed []dream.LineItem
	f.receiver.handle(func(event stripe.Event) {
		var err error
		if listed, err = f.emulator.CheckoutLineItems(context.Background(), account, id); err != nil {
			t.Errorf("listing line items during the webhook delivery: %v, want the items", err)
		}
	})
	response := f.do(t, http.MethodPost, "/dev/checkout/"+id+"/pay", url.Values{"email": {"bob@example.com"}})
	if response.Code != http.StatusSeeOther || response.Header().Get("Location") != "http://localhost:3000/thanks" {
		t.Fatalf("paying the store checkout answered %d to %q %s, want 303 to http://localhost:3000/thanks",
			response.Code, response.Header().Get("Location"), response.Body)
	}
	events := f.receiver.take()
	expectTypes(t, events, "checkout.session.completed")
	session := decode[stripe.CheckoutSession](t, events[0])
	switch {
	case session.Mode != stripe.CheckoutSessionModePayment || session.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid:
		t.Errorf("the paid session has mode %s and payment status %s, want payment and paid",
			session.Mode, session.PaymentStatus)
	case session.PaymentIntent == nil || !strings.HasPrefix(session.PaymentIntent.ID, "pi_"):
		t.Errorf("the paid session has payment intent %v, want a pi_ one", session.PaymentIntent)
	case session.CustomerDetails.Email != "bob@example.com" || session.Customer != nil || session.Subscription != nil:
		t.Errorf("the paid session has email %s, customer %v, subscription %v, want bob@example.com, none, none",
			session.CustomerDetails.Email, session.Customer, session.Subscription)
	case session.AmountTotal != 5900 || session.Currency != "usd" || session.Metadata["order"] != "ord_1":
		t.Errorf("the paid session has amount %d %s and metadata %v, want 5900 usd and order ord_1",
			session.AmountTotal, session.Currency, session.Metadata)
	}
	if report := f.receiver.lastReport(); report == nil {
		t.Error("the server's verifier read no webhook event, want the completed checkout")
	} else if sessionID, ok := report.LineItemsNeeded(); !ok || sessionID != id {
		t.Errorf("the server reads %+v, want the paid store checkout %s needing its line items", report.Checkout, id)
	}

	want := []dream.LineItem{items[0], items[1]}
	want[0].Currency, want[1].Currency = "usd", "usd"
	lines, err := f.emulator.CheckoutLineItems(context.Background(), account, id)
	if err != nil {
		t.Fatalf("listing the line items of the paid checkout session: %v, want the items", err)
	}
	for _, got := range [][]dream.LineItem{lines, listed} {
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("the checkout session's line items are %+v, want %+v", got, want)
		}
	}
	other := []dream.PaymentAccount{{Mode: dream.ModeTest, AccountID: "acct_other"}, {Mode: dream.ModeLive, AccountID: account.AccountID}}
	for _, a := range other {
		_, err := f.emulator.CheckoutLineItems(context.Background(), a, id)
		expectError(t, err, dream.KindNotFound, "Not found")
	}
	_, err = f.emulator.CheckoutLineItems(context.Background(), account, "cs_test_unknown")
	expectError(t, err, dream.KindNotFound, "Not found")
}

func TestLiveCheckout(t *testing.T) {
	f := newFixture(t)
	request := subscriptionRequest()
	request.Account.Mode = dream.ModeLive
	result, err := f.emulator.CreateCheckoutSession(context.Background(), request)
	if err != nil {
		t.Fatalf("creating a live checkout session: %v, want a session", err)
	}
	if !strings.HasPrefix(result.ID, "cs_live_") {
		t.Fatalf("the live checkout session id is %s, want a cs_live_ id", result.ID)
	}
}

func TestPayTwice(t *testing.T) {
	f := newFixture(t)
	id := f.checkout(t, subscriptionRequest())
	if response := f.pay(t, id); response.Code != http.StatusSeeOther {
		t.Fatalf("the first payment of the checkout session answered %d, want 303", response.Code)
	}
	f.receiver.take()
	response := f.pay(t, id)
	if response.Code != http.StatusConflict || !strings.Contains(response.Body.String(), "already paid") {
		t.Fatalf("paying the checkout session again answered %d %s, want 409 already paid",
			response.Code, response.Body)
	}
	if events := f.receiver.take(); len(events) != 0 {
		t.Fatalf("paying again delivered webhook events %v, want none", types(events))
	}

	page := f.do(t, http.MethodGet, "/dev/checkout/"+id, nil)
	body := page.Body.String()
	if page.Code != http.StatusOK || !strings.Contains(body, "already paid") ||
		!strings.Contains(body, `href="https://app.example/welcome?session=`+id+`"`) || strings.Contains(body, "/pay") {
		t.Fatalf("the page of a paid checkout session is %d %s, want 200, already paid, a link back and no Pay form",
			page.Code, body)
	}
}

func TestCheckoutValidation(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		change  func(*dream.CheckoutSession)
		message string
	}{
		{"unknown mode", func(r *dream.CheckoutSession) { r.Mode = "setup" }, "mode"},
		{"no line items", func(r *dream.CheckoutSession) { r.LineItems = nil }, "line item"},
		{"no price", func(r *dream.CheckoutSession) { r.LineItems[0].PriceID = "" }, "no price"},
		{"zero quantity", func(r *dream.CheckoutSession) { r.LineItems[0].Quantity = 0 }, "quantity"},
		{"negative amount", func(r *dream.CheckoutSession) { r.LineItems[0].UnitAmount = -1 }, "unit amount"},
		{"total too large", func(r *dream.CheckoutSession) { r.LineItems[0].Quantity = 1 << 60 }, "largest amount"},
		{"one-off in subscription", func(r *dream.CheckoutSession) { r.LineItems[0].Recurring = false }, "recurring prices only"},
		{"recurring in payment", func(r *dream.CheckoutSession) { r.Mode = dream.CheckoutPayment }, "one-off prices only"},
		{"mixed currencies", func(r *dream.CheckoutSession) {
			eur := proPlan(1)
			eur.Currency = "eur"
			r.LineItems = append(r.LineItems, eur)
		}, "one currency"},
		{"relative success URL", func(r *dream.CheckoutSession) { r.SuccessURL = "/welcome" }, "success URL"},
		{"non-http cancel URL", func(r *dream.CheckoutSession) { r.CancelURL = "javascript:alert(1)" }, "cancel URL"},
		{"trial in payment", func(r *dream.CheckoutSession) {
			r.Mode = dream.CheckoutPayment
			r.LineItems[0].Recurring = false
			r.TrialDays = 7
		}, "trial"},
		{"negative trial", func(r *dream.CheckoutSession) { r.TrialDays = -1 }, "Trial days"},
		{"free payment", func(r *dream.CheckoutSession) {
			r.Mode = dream.CheckoutPayment
			r.LineItems[0].Recurring = false
			r.LineItems[0].UnitAmount = 0
		}, "above zero"},
		{"no account", func(r *dream.CheckoutSession) { r.Account.AccountID = "" }, "account"},
		{"bad account mode", func(r *dream.CheckoutSession) { r.Account.Mode = "staging" }, "mode"},
		{"unknown customer", func(r *dream.CheckoutSession) { r.CustomerID = "cus_unknown" }, "No such customer"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			request := subscriptionRequest()
			test.change(&request)
			_, err := f.emulator.CreateCheckoutSession(context.Background(), request)
			e := expectError(t, err, dream.KindInvalid, "payment_request_rejected")
			if !strings.Contains(e.Message, test.message) {
				t.Errorf("the refusal says %q, want it to mention %q", e.Message, test.message)
			}
		})
	}
}

func TestCheckoutPage(t *testing.T) {
	f := newFixture(t)
	request := subscriptionRequest()
	request.LineItems = []dream.LineItem{proPlan(2), {
		PriceID: "price_addon", Quantity: 1, Description: `<script>alert("x")</script>`,
		UnitAmount: 500, Currency: "usd", Recurring: true,
	}}
	request.TrialDays = 14
	id := f.checkout(t, request)

	response := f.do(t, http.MethodGet, "/dev/checkout/"+id, nil)
	body := response.Body.String()
	if response.Code != http.StatusOK || !strings.HasPrefix(response.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("the checkout page answered %d of type %s, want 200 text/html",
			response.Code, response.Header().Get("Content-Type"))
	}
	for _, want := range []string{
		"<td>Pro</td>", ">2<", "19.00 USD", "38.00 USD", "5.00 USD", "43.00 USD",
		"Free for 14 days, then 43.00 USD per month",
		`<form method="post" action="/dev/checkout/` + id + `/pay">`,
		`value="ada@example.com"`,
		`<button type="submit">Pay</button>`,
		`<a href="https://app.example/pricing">Cancel</a>`,
		"&lt;script&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the checkout page lacks %s, want it shown", want)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("the checkout page holds a raw <script> of a line item description, want it escaped")
	}

	if response := f.do(t, http.MethodGet, "/dev/checkout/cs_test_unknown", nil); response.Code != http.StatusNotFound ||
		!strings.Contains(response.Body.String(), "No such checkout session") {
		t.Errorf("the page of an unknown checkout session answered %d %s, want 404 No such checkout session",
			response.Code, response.Body)
	}
	if response := f.pay(t, "cs_test_unknown"); response.Code != http.StatusNotFound {
		t.Errorf("paying an unknown checkout session answered %d, want 404", response.Code)
	}
}

func TestCheckoutExpires(t *testing.T) {
	f := newFixture(t)
	id := f.checkout(t, subscriptionRequest())
	if code, answer := f.advance(t, `{"days": 2}`); code != http.StatusOK {
		t.Fatalf("advancing the clock 2 days answered %d %+v, want 200", code, answer)
	}
	if page := f.do(t, http.MethodGet, "/dev/checkout/"+id, nil); !strings.Contains(page.Body.String(), "expired") ||
		strings.Contains(page.Body.String(), "/pay") {
		t.Errorf("the page of an expired checkout session is %s, want it to say expired and offer no Pay form",
			page.Body)
	}
	if response := f.pay(t, id); response.Code != http.StatusConflict {
		t.Errorf("paying an expired checkout session answered %d, want 409", response.Code)
	}
	events := f.receiver.take()
	expectTypes(t, events, "checkout.session.expired")
	if session := decode[stripe.CheckoutSession](t, events[0]); session.ID != id || session.Status != "expired" {
		t.Errorf("the expired event reports session %s with status %s, want %s expired", session.ID, session.Status, id)
	}
	if code, _ := f.advance(t, `{"days": 1}`); code != http.StatusOK || len(f.receiver.take()) != 0 {
		t.Errorf("advancing again answered %d or delivered more events, want 200 and the session expired once", code)
	}
}

func TestCustomerReuse(t *testing.T) {
	f := newFixture(t)
	first := decode[stripe.Subscription](t, f.subscribe(t, subscriptionRequest())[0])

	request := subscriptionRequest()
	request.CustomerID = first.Customer.ID
	request.CustomerEmail = ""
	request.LineItems = []dream.LineItem{teamPlan()}
	request.LineItems[0].Quantity = 1
	id := f.checkout(t, request)
	page := f.do(t, http.MethodGet, "/dev/checkout/"+id, nil).Body.String()
	if !strings.Contains(page, "Paying as ada@example.com") || strings.Contains(page, `name="email"`) {
		t.Errorf("the checkout page of a known customer is %s, want Paying as ada@example.com and no email field", page)
	}
	if response := f.pay(t, id); response.Code != http.StatusSeeOther {
		t.Fatalf("paying as a known customer answered %d %s, want 303", response.Code, response.Body)
	}
	events := f.receiver.take()
	second := decode[stripe.Subscription](t, events[0])
	session := decode[stripe.CheckoutSession](t, events[1])
	if second.Customer.ID != first.Customer.ID || session.Customer.ID != first.Customer.ID ||
		session.CustomerDetails.Email != "ada@example.com" || second.ID == first.ID {
		t.Errorf("the second subscription is %s of customer %s, its session of customer %s with email %s; "+
			"want a new subscription of customer %s with ada@example.com",
			second.ID, second.Customer.ID, session.Customer.ID, session.CustomerDetails.Email, first.Customer.ID)
	}

	// A customer exists on its own account only.
	request.Account.AccountID = "acct_other"
	_, err := f.emulator.CreateCheckoutSession(context.Background(), request)
	expectError(t, err, dream.KindInvalid, "payment_request_rejected")
}

func TestWebhookFailure(t *testing.T) {
	f := newFixture(t)
	f.receiver.answer(http.StatusInternalServerError)
	id := f.checkout(t, subscriptionRequest())
	response := f.pay(t, id)
	body := response.Body.String()
	if response.Code != http.StatusBadGateway || !strings.Contains(body, "customer.subscription.created") ||
		!strings.Contains(body, "500 Internal Server Error") || !strings.Contains(body, "https://app.example/welcome?session="+id) {
		t.Fatalf("paying with a failing webhook answered %d %s, want 502 naming the event, the 500 and the success URL",
			response.Code, body)
	}
	// Each event was still offered, and the payment stands.
	expectTypes(t, f.receiver.take(), "customer.subscription.created", "checkout.session.completed", "invoice.paid")
	if response := f.pay(t, id); response.Code != http.StatusConflict {
		t.Fatalf("paying again after a failing webhook answered %d, want 409", response.Code)
	}

	// An unreachable webhook is reported too.
	f.receiver.server.Close()
	response = f.pay(t, f.checkout(t, subscriptionRequest()))
	if response.Code != http.StatusBadGateway || !strings.Contains(response.Body.String(), "was not delivered") {
		t.Fatalf("paying with an unreachable webhook answered %d %s, want 502 was not delivered",
			response.Code, response.Body)
	}
}

func TestCheckoutLifetime(t *testing.T) {
	f := newFixture(t)
	request := dream.CheckoutSession{
		Account:    account,
		Mode:       dream.CheckoutPayment,
		LineItems:  []dream.LineItem{{PriceID: "price_ebook", Quantity: 1, UnitAmount: 900}},
		SuccessURL: "http://localhost:3000/thanks",
		CancelURL:  "http://localhost:3000/cart",
		Lifetime:   dream.CheckoutLifetime,
	}
	for _, lifetime := range []time.Duration{29 * time.Minute, 25 * time.Hour} {
		short := request
		short.Lifetime = lifetime
		if _, err := f.emulator.CreateCheckoutSession(context.Background(), short); dream.ErrorKind(err) != dream.KindInvalid {
			t.Errorf("a checkout session lasting %s was answered %v, want it refused as Stripe does", lifetime, err)
		}
	}
	id := f.checkout(t, request)
	if code, _ := f.advance(t, `{"seconds": 1800}`); code != http.StatusOK || len(f.receiver.take()) != 0 {
		t.Fatalf("30 minutes into a 31-minute checkout the clock answered %d or the session expired, want 200 and it open", code)
	}
	if code, _ := f.advance(t, `{"seconds": 120}`); code != http.StatusOK {
		t.Fatalf("advancing past the checkout's lifetime answered %d, want 200", code)
	}
	events := f.receiver.take()
	expectTypes(t, events, "checkout.session.expired")
	if session := decode[stripe.CheckoutSession](t, events[0]); session.ID != id || session.PaymentStatus != "unpaid" {
		t.Errorf("the expired event reports session %s with payment status %s, want %s unpaid", session.ID, session.PaymentStatus, id)
	}
}

func TestRefundPayment(t *testing.T) {
	f := newFixture(t)
	id := f.checkout(t, dream.CheckoutSession{
		Account:    account,
		Mode:       dream.CheckoutPayment,
		LineItems:  []dream.LineItem{{PriceID: "price_ebook", Quantity: 1, UnitAmount: 900}},
		SuccessURL: "http://localhost:3000/thanks",
		CancelURL:  "http://localhost:3000/cart",
	})
	if response := f.do(t, http.MethodPost, "/dev/checkout/"+id+"/pay", url.Values{"email": {"buyer@example.com"}}); response.Code != http.StatusSeeOther {
		t.Fatalf("paying the checkout answered %d %s, want 303", response.Code, response.Body)
	}
	session := decode[stripe.CheckoutSession](t, f.receiver.take()[0])
	intent := session.PaymentIntent.ID
	refund, err := f.emulator.RefundPayment(context.Background(), account, intent, "refund_ord_1")
	if err != nil || !strings.HasPrefix(refund, "re_") {
		t.Fatalf("refunding payment %s gave %q, %v; want a re_ refund", intent, refund, err)
	}
	if again, err := f.emulator.RefundPayment(context.Background(), account, intent, "refund_ord_1"); again != refund || err != nil {
		t.Fatalf("refunding payment %s again gave %q, %v; want the same refund %s", intent, again, err, refund)
	}
	other := dream.PaymentAccount{Mode: dream.ModeTest, AccountID: "acct_other"}
	if _, err := f.emulator.RefundPayment(context.Background(), other, intent, "refund_ord_1"); dream.ErrorKind(err) != dream.KindNotFound {
		t.Fatalf("refunding another account's payment gave %v, want not found", err)
	}
}
