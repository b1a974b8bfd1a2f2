package billing

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

// TestConnectEvents holds the mapping of each Stripe event type to the
// domain change it reports: the fields read, the states derived, and the
// objects that report nothing.
func TestConnectEvents(t *testing.T) {
	const created = 1700000000
	at := time.Unix(created, 0).UTC()
	ms := at.UnixMilli()
	const sessionSub = `{"id":"cs_1","object":"checkout.session","mode":"subscription","payment_status":"%s","customer":"cus_1",
		"subscription":{"id":"sub_1","object":"subscription"},"client_reference_id":"user_1","customer_email":"typed@example.com",
		"customer_details":{"email":"ada@example.com"},"currency":"usd","amount_total":2900,
		"metadata":{"userId":"user_meta","publishableKey":"pk_test_1","tier":"pro"}}`
	const sessionStore = `{"id":"cs_2","object":"checkout.session","mode":"payment","payment_status":"%s","payment_intent":"pi_1",
		"customer_email":"buyer@example.com","amount_total":3300,"currency":"usd",
		"metadata":{"publishableKey":"pk_test_2","reservation":"res_1"}}`
	subscription := `{"id":"sub_1","object":"subscription","customer":"cus_1","status":"active","cancel_at_period_end":true,
		"canceled_at":1700000100,"current_period_end":0,"trial_end":1699000000,
		"cancellation_details":{"comment":null,"reason":"cancellation_requested"},
		"metadata":{"userId":"user_1","publishableKey":"pk_test_1","tier":"pro"},
		"items":{"data":[{"current_period_end":1702592000,"price":{"id":"price_pro","product":{"id":"prod_1"},"unit_amount":2900,"currency":"usd"}}]}}`
	storeCheckout := func(payment dream.PaymentState) *dream.CheckoutCompleted {
		return &dream.CheckoutCompleted{SessionID: "cs_2", Mode: dream.CheckoutPayment, PublishableKey: "pk_test_2", ReservationID: "res_1",
			Email: "buyer@example.com", Payment: payment, PaymentIntentID: "pi_1", AmountCents: 3300, Currency: "usd", Version: ms}
	}
	subscriptionCheckout := func(payment dream.PaymentState) *dream.CheckoutCompleted {
		return &dream.CheckoutCompleted{SessionID: "cs_1", Mode: dream.CheckoutSubscription, PublishableKey: "pk_test_1",
			UserID: "user_1", Tier: "pro", CustomerID: "cus_1", Email: "ada@example.com", SubscriptionID: "sub_1",
			Payment: payment, AmountCents: 2900, Currency: "usd", Version: ms}
	}
	reported := dream.Subscription{ID: "sub_1", CustomerID: "cus_1", Plan: "pro", PriceID: "price_pro", ProductID: "prod_1",
		AmountCents: 2900, Currency: "usd", Status: dream.StatusActive, CancelAtPeriodEnd: true,
		CurrentPeriodEnd: time.Unix(1702592000, 0).UTC(), TrialEnd: time.Unix(1699000000, 0).UTC(),
		CanceledAt: time.Unix(1700000100, 0).UTC(), CancelReason: "cancellation_requested"}
	changed := func(version int64, status dream.SubscriptionStatus) *dream.SubscriptionChanged {
		s := reported
		s.Version, s.Status = version, status
		return &dream.SubscriptionChanged{PublishableKey: "pk_test_1", UserID: "user_1", Subscription: s}
	}
	for _, tt := range []struct {
		name, typ, object string
		account           string
		want              dream.PaymentEvent
	}{
		{name: "SubscriptionCheckoutPaid", typ: "checkout.session.completed", object: fmt.Sprintf(sessionSub, "paid"),
			want: dream.PaymentEvent{Checkout: subscriptionCheckout(dream.PaymentPaid)}},
		{name: "SubscriptionCheckoutWithTrial", typ: "checkout.session.completed", object: fmt.Sprintf(sessionSub, "no_payment_required"),
			want: dream.PaymentEvent{Checkout: subscriptionCheckout(dream.PaymentNotRequired)}},
		{name: "SubscriptionsAsyncPaymentTellsNothingNew", typ: "checkout.session.async_payment_succeeded", object: fmt.Sprintf(sessionSub, "paid")},
		{name: "SubscriptionsAsyncPaymentFailed", typ: "checkout.session.async_payment_failed", object: fmt.Sprintf(sessionSub, "unpaid"),
			want: dream.PaymentEvent{Checkout: subscriptionCheckout(dream.PaymentFailed)}},
		{name: "StoreCheckoutPaid", typ: "checkout.session.completed", object: fmt.Sprintf(sessionStore, "paid"),
			want: dream.PaymentEvent{Checkout: storeCheckout(dream.PaymentPaid)}},
		{name: "StoreCheckoutPaymentPending", typ: "checkout.session.completed", object: fmt.Sprintf(sessionStore, "unpaid"),
			want: dream.PaymentEvent{Checkout: storeCheckout(dream.PaymentPending)}},
		{name: "StorePaymentArrived", typ: "checkout.session.async_payment_succeeded", object: fmt.Sprintf(sessionStore, "paid"),
			want: dream.PaymentEvent{Checkout: storeCheckout(dream.PaymentPaid)}},
		{name: "StorePaymentFailed", typ: "checkout.session.async_payment_failed", object: fmt.Sprintf(sessionStore, "unpaid"),
			want: dream.PaymentEvent{Checkout: storeCheckout(dream.PaymentFailed)}},
		{name: "StoreCheckoutExpired", typ: "checkout.session.expired", object: fmt.Sprintf(sessionStore, "unpaid"),
			want: dream.PaymentEvent{Expired: &dream.CheckoutExpired{SessionID: "cs_2", PublishableKey: "pk_test_2", ReservationID: "res_1"}}},
		{name: "SetupCheckout", typ: "checkout.session.completed", object: `{"id":"cs_3","mode":"setup","payment_status":"no_payment_required"}`},
		{name: "SubscriptionCreated", typ: "customer.subscription.created", object: subscription,
			want: dream.PaymentEvent{Subscription: changed(ms+1, dream.StatusActive)}},
		{name: "SubscriptionUpdated", typ: "customer.subscription.updated", object: subscription,
			want: dream.PaymentEvent{Subscription: changed(ms+2, dream.StatusActive)}},
		{name: "SubscriptionDeletedIsCanceled", typ: "customer.subscription.deleted", object: subscription,
			want: dream.PaymentEvent{Subscription: changed(ms+3, dream.StatusCanceled)}},
		{name: "InvoicePaid", typ: "invoice.paid", object: `{"id":"in_1","subscription":"sub_1","lines":{"data":[
			{"period":{"end":1702592000}},{"period":{"end":1705270400}},{"period":{"end":1700000000}}]}}`,
			want: dream.PaymentEvent{Invoice: &dream.InvoicePayment{SubscriptionID: "sub_1", Paid: true,
				PeriodEnd: time.Unix(1705270400, 0).UTC(), Version: ms + 2}}},
		{name: "InvoicePaymentFailed", typ: "invoice.payment_failed", object: `{"id":"in_1","subscription":{"id":"sub_1"}}`,
			want: dream.PaymentEvent{Invoice: &dream.InvoicePayment{SubscriptionID: "sub_1", Version: ms + 2}}},
		{name: "InvoiceOfNoSubscription", typ: "invoice.paid", object: `{"id":"in_2","subscription":null}`},
		{name: "Deauthorized", typ: "account.application.deauthorized", object: `{"id":"ca_1"}`, account: "acct_1",
			want: dream.PaymentEvent{Deauthorized: true}},
		{name: "DeauthorizedWithoutAccount", typ: "account.application.deauthorized", object: `{"id":"ca_1"}`},
		{name: "TypeNotHandled", typ: "charge.refunded", object: `{"id":"ch_1"}`},
		{name: "MalformedObject", typ: "customer.subscription.updated", object: `{"id":1}`},
		{name: "ObjectWithoutID", typ: "customer.subscription.updated", object: `{"status":"active"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			payload := fmt.Appendf(nil, `{"id":"evt_1","object":"event","type":%q,"created":%d,"livemode":false,"account":%q,"data":{"object":%s}}`,
				tt.typ, created, tt.account, tt.object)
			got, err := NewWebhookVerifier(testSecret).VerifyWebhook(payload, SignWebhook(payload, testSecret, time.Now()))
			if err != nil {
				t.Fatalf("verifying a signed %s webhook event: %v, want it accepted", tt.typ, err)
			}
			want := tt.want
			want.ID, want.Type, want.Mode, want.Account, want.Created, want.Payload = "evt_1", tt.typ, dream.ModeTest, tt.account, at, payload
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("%s of %s\nreports %s\nwant    %s", tt.typ, tt.object, describe(got), describe(&want))
			}
		})
	}
}

// describe is an event's change in words for a failure message.
func describe(e *dream.PaymentEvent) string {
	switch {
	case e.Checkout != nil:
		return fmt.Sprintf("checkout %+v", *e.Checkout)
	case e.Expired != nil:
		return fmt.Sprintf("expired checkout %+v", *e.Expired)
	case e.Subscription != nil:
		return fmt.Sprintf("subscription %+v", *e.Subscription)
	case e.Invoice != nil:
		return fmt.Sprintf("invoice %+v", *e.Invoice)
	case e.Deauthorized:
		return "deauthorized " + e.Account
	}
	return "no change"
}
