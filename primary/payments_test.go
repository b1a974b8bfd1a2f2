package primary_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

const account = "acct_test_1"

// payments is a primary over a SaaS and a store project of one platform,
// connected to account in test mode.
type payments struct {
	t     *testing.T
	p     *primary.Primary
	db    *store.DB
	saas  storetest.Project
	shop  storetest.Project
	other storetest.Project
	seq   int
	now   func() time.Time
}

func newPayments(t *testing.T) *payments {
	t.Helper()
	db := storetest.Open(t)
	now := func() time.Time { return time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC) }
	p := primary.New(db, now)
	platform := storetest.Platform(t, p)
	three, unlimited := int64(3), (*int64)(nil)
	f := &payments{t: t, p: p, db: db, now: now,
		saas: storetest.CreateProject(t, db, p, platform, dream.ProjectSaaS, storetest.SaaSTiers()),
		shop: storetest.CreateProject(t, db, p, platform, dream.ProjectStore, []dream.Tier{
			{Slug: "mug", DisplayName: "Mug", BillingMode: dream.BillingOneOff, PriceCents: 1200, Inventory: &three, StripePriceID: "price_mug"},
			{Slug: "ebook", DisplayName: "E-book", BillingMode: dream.BillingOneOff, PriceCents: 900, Inventory: unlimited, StripePriceID: "price_ebook"},
		}),
	}
	for _, mode := range []dream.Mode{dream.ModeTest, dream.ModeLive} {
		if err := p.ConnectPaymentAccount(ctx, dream.ConnectPaymentAccount{PlatformID: platform, Mode: mode, AccountID: account}); err != nil {
			t.Fatal(err)
		}
	}
	otherPlatform := storetest.Platform(t, p)
	f.other = storetest.CreateProject(t, db, p, otherPlatform, dream.ProjectSaaS, storetest.SaaSTiers())
	if err := p.ConnectPaymentAccount(ctx, dream.ConnectPaymentAccount{PlatformID: otherPlatform, Mode: dream.ModeTest, AccountID: "acct_other"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// event builds an event of typ about object at unix second created.
func (f *payments) event(typ string, created int64, object any) dream.PaymentEvent {
	f.seq++
	raw, err := json.Marshal(object)
	if err != nil {
		f.t.Fatal(err)
	}
	return dream.PaymentEvent{ID: fmt.Sprintf("evt_%d", f.seq), Type: typ, Account: account,
		Created: time.Unix(created, 0).UTC(), Object: raw, Payload: []byte(`{}`)}
}

func (f *payments) apply(e dream.PaymentEvent, items ...dream.LineItem) dream.PaymentEventOutcome {
	f.t.Helper()
	out, err := f.p.ApplyPaymentEvent(ctx, dream.ApplyPaymentEvent{Event: e, LineItems: items})
	if err != nil {
		f.t.Fatalf("%s: %v", e.Type, err)
	}
	return out
}

func (f *payments) usage(env int64, user string) dream.Usage {
	f.t.Helper()
	tiers, err := f.db.Tiers(ctx, env)
	if err != nil {
		f.t.Fatal(err)
	}
	state, err := f.db.UserState(ctx, env, user)
	if err != nil {
		f.t.Fatal(err)
	}
	return dream.UsageAt(tiers, user, state, "", f.now())
}

func subscription(id, status, price string, cancelAtPeriodEnd bool, pk string) map[string]any {
	return map[string]any{
		"id": id, "object": "subscription", "customer": "cus_1", "status": status,
		"cancel_at_period_end": cancelAtPeriodEnd, "current_period_end": 1743465600,
		"metadata": map[string]string{"userId": "user_1", "publishableKey": pk, "tier": "pro"},
		"items": map[string]any{"data": []any{map[string]any{"price": map[string]any{
			"id": price, "product": "prod_x", "unit_amount": 2900, "currency": "usd"}}}},
	}
}

func TestApplyPaymentEvent_SubscriptionLifecycle(t *testing.T) {
	f := newPayments(t)
	pk, env := f.saas.Test.PublishableKey, f.saas.Test.EnvironmentID
	checkout := f.event("checkout.session.completed", 1000, map[string]any{
		"id": "cs_1", "mode": "subscription", "payment_status": "paid", "customer": "cus_1", "subscription": "sub_1",
		"client_reference_id": "user_1", "customer_details": map[string]string{"email": "ada@example.com"},
		"metadata": map[string]string{"userId": "user_1", "publishableKey": pk, "tier": "pro"},
	})
	out := f.apply(checkout)
	if out.Result != dream.EventProcessed || len(out.PlanChanges) != 1 || out.PlanChanges[0] != (dream.PlanChange{Mode: dream.ModeTest, UserID: "user_1", Plan: "pro"}) {
		t.Fatalf("checkout: %+v", out)
	}
	if u := f.usage(env, "user_1"); u.Plan != "pro" || u.Limit != 10000 {
		t.Fatalf("after checkout: %+v", u)
	}
	endUser, _ := f.db.EndUser(ctx, env, "user_1")
	if endUser == nil || endUser.StripeCustomerID != "cus_1" || endUser.Email != "ada@example.com" {
		t.Fatalf("end user: %+v", endUser)
	}
	if out := f.apply(checkout); out.Result != dream.EventDuplicate {
		t.Fatalf("redelivery: %+v", out)
	}

	// A switch in the portal changes the price: the plan follows it.
	out = f.apply(f.event("customer.subscription.updated", 1010, subscription("sub_1", "active", "price_enterprise", false, pk)))
	if u := f.usage(env, "user_1"); u.Plan != "enterprise" || !u.Limit.Unlimited() || len(out.PlanChanges) != 1 {
		t.Fatalf("after switch: %+v %+v", u, out)
	}
	// Scheduled cancellation keeps the plan and shows as canceling.
	f.apply(f.event("customer.subscription.updated", 1020, subscription("sub_1", "active", "price_enterprise", true, pk)))
	tx, _ := f.db.Begin(ctx)
	stored, _ := tx.UserSubscription(ctx, env, "user_1")
	tx.Rollback()
	if stored.DisplayStatus() != "canceling" || stored.Plan != "enterprise" {
		t.Fatalf("canceling: %+v", stored)
	}
	// Deletion returns the user to free.
	out = f.apply(f.event("customer.subscription.deleted", 1030, subscription("sub_1", "canceled", "price_enterprise", false, pk)))
	if u := f.usage(env, "user_1"); u.Plan != "free" || u.Limit != 100 || len(out.PlanChanges) != 1 || out.PlanChanges[0].Plan != "free" {
		t.Fatalf("after deletion: %+v %+v", u, out)
	}
	// A late event about the ended subscription changes nothing.
	f.apply(f.event("customer.subscription.updated", 1040, subscription("sub_1", "active", "price_pro", false, pk)))
	if u := f.usage(env, "user_1"); u.Plan != "free" {
		t.Fatalf("a deleted subscription came back: %+v", u)
	}
	// A new subscription takes over.
	f.apply(f.event("customer.subscription.created", 1050, subscription("sub_2", "active", "price_pro", false, pk)))
	if u := f.usage(env, "user_1"); u.Plan != "pro" {
		t.Fatalf("new subscription: %+v", u)
	}
	// And a late deletion of the old one does not touch it.
	f.apply(f.event("customer.subscription.deleted", 1060, subscription("sub_1", "canceled", "price_pro", false, pk)))
	if u := f.usage(env, "user_1"); u.Plan != "pro" {
		t.Fatalf("old deletion ended the new subscription: %+v", u)
	}
}

// TestApplyPaymentEvent_AnyOrder delivers a checkout and a subscription's
// created, updated and deleted events in every order: the stored state is
// always the latest.
func TestApplyPaymentEvent_AnyOrder(t *testing.T) {
	// The checkout and the creation happen in the same second, as they do.
	events := func(f *payments) []dream.PaymentEvent {
		pk := f.saas.Test.PublishableKey
		return []dream.PaymentEvent{
			f.event("checkout.session.completed", 2000, map[string]any{"id": "cs_1", "mode": "subscription", "payment_status": "paid",
				"customer": "cus_1", "subscription": "sub_1", "client_reference_id": "user_1",
				"metadata": map[string]string{"userId": "user_1", "publishableKey": pk, "tier": "pro"}}),
			f.event("customer.subscription.created", 2000, subscription("sub_1", "active", "price_pro", false, pk)),
			f.event("customer.subscription.updated", 2005, subscription("sub_1", "active", "price_enterprise", true, pk)),
			f.event("customer.subscription.deleted", 2009, subscription("sub_1", "canceled", "price_enterprise", false, pk)),
		}
	}
	final := func(order []int) (dream.Usage, dream.Subscription) {
		f := newPayments(t)
		env, all := f.saas.Test.EnvironmentID, events(f)
		for _, i := range order {
			f.apply(all[i])
		}
		tx, _ := f.db.Begin(ctx)
		defer tx.Rollback()
		s, _ := tx.UserSubscription(ctx, env, "user_1")
		return f.usage(env, "user_1"), s.Subscription
	}
	orders := permute([]int{0, 1, 2, 3})
	if len(orders) != 24 {
		t.Fatalf("%d orders", len(orders))
	}
	for _, order := range orders {
		if u, s := final(order); u.Plan != "free" || s.Status != dream.StatusCanceled {
			t.Errorf("order %v: plan %s, status %s", order, u.Plan, s.Status)
		}
	}
	// Without the deletion, every order of the rest ends canceling on
	// enterprise.
	for _, order := range permute([]int{0, 1, 2}) {
		if u, s := final(order); u.Plan != "enterprise" || s.DisplayStatus() != "canceling" {
			t.Errorf("order %v: plan %s, status %s", order, u.Plan, s.DisplayStatus())
		}
	}
}

func permute(xs []int) [][]int {
	if len(xs) <= 1 {
		return [][]int{append([]int(nil), xs...)}
	}
	var all [][]int
	for i := range xs {
		rest := append(append([]int(nil), xs[:i]...), xs[i+1:]...)
		for _, p := range permute(rest) {
			all = append(all, append([]int{xs[i]}, p...))
		}
	}
	return all
}

func TestApplyPaymentEvent_StoreOrder(t *testing.T) {
	f := newPayments(t)
	pk, env := f.shop.Test.PublishableKey, f.shop.Test.EnvironmentID
	session := func(status string) map[string]any {
		return map[string]any{"id": "cs_store", "mode": "payment", "payment_status": status, "payment_intent": "pi_1",
			"customer_details": map[string]string{"email": "buyer@example.com"}, "amount_total": 3300, "currency": "usd",
			"metadata": map[string]string{"publishableKey": pk}}
	}
	items := []dream.LineItem{{PriceID: "price_mug", Quantity: 2, UnitAmount: 1200}, {PriceID: "price_ebook", Quantity: 1, UnitAmount: 900}}
	inventory := func() int64 {
		tiers, _ := f.db.Tiers(ctx, env)
		return *tiers[0].Inventory
	}
	// An asynchronous payment still pending takes nothing.
	f.apply(f.event("checkout.session.completed", 3000, session("unpaid")), items...)
	if inventory() != 3 {
		t.Fatalf("pending payment took inventory: %d", inventory())
	}
	f.apply(f.event("checkout.session.async_payment_succeeded", 3010, session("paid")), items...)
	if inventory() != 1 {
		t.Fatalf("inventory %d after paying for 2 of 3", inventory())
	}
	// The same session reported paid again takes nothing more.
	f.apply(f.event("checkout.session.completed", 3020, session("paid")), items...)
	if inventory() != 1 {
		t.Fatalf("a session took inventory twice: %d", inventory())
	}
	orders, err := f.db.Orders(ctx, env)
	if err != nil || len(orders) != 1 {
		t.Fatalf("orders: %+v, %v", orders, err)
	}
	if o := orders[0]; o.Email != "buyer@example.com" || o.AmountCents != 3300 || o.StripeSessionID != "cs_store" ||
		o.StripePaymentIntentID != "pi_1" || len(o.Items) != 2 || o.Items[0].Quantity != 2 {
		t.Fatalf("order: %+v", o)
	}
	// Stock never goes below zero.
	big := session("paid")
	big["id"] = "cs_big"
	f.apply(f.event("checkout.session.completed", 3030, big), dream.LineItem{PriceID: "price_mug", Quantity: 5})
	if inventory() != 0 {
		t.Fatalf("inventory %d", inventory())
	}
	failed := session("unpaid")
	failed["id"] = "cs_failed"
	if out := f.apply(f.event("checkout.session.async_payment_failed", 3040, failed)); out.Result != dream.EventProcessed {
		t.Fatalf("failed payment: %+v", out)
	}
	if orders, _ := f.db.Orders(ctx, env); len(orders) != 2 {
		t.Fatalf("%d orders after a failed payment", len(orders))
	}
}

func TestApplyPaymentEvent_Ignored(t *testing.T) {
	f := newPayments(t)
	pk := f.saas.Test.PublishableKey
	for _, tt := range []struct {
		name  string
		event dream.PaymentEvent
	}{
		{"UnknownType", f.event("charge.refunded", 1, map[string]any{"id": "ch_1"})},
		{"MalformedObject", dream.PaymentEvent{ID: "evt_bad", Type: "customer.subscription.updated", Object: []byte(`{"id":`), Account: account}},
		{"WrongShape", f.event("checkout.session.completed", 1, []any{1, 2})},
		{"UnknownProject", f.event("customer.subscription.created", 1, subscription("sub_9", "active", "price_pro", false, dream.NewPublishableKey(dream.ModeTest)))},
		{"NoMetadata", f.event("customer.subscription.created", 1, map[string]any{"id": "sub_9", "status": "active"})},
		{"NoUser", f.event("customer.subscription.created", 1, map[string]any{"id": "sub_9", "status": "active", "metadata": map[string]string{"publishableKey": pk}})},
		{"OtherAccount", func() dream.PaymentEvent {
			e := f.event("customer.subscription.created", 1, subscription("sub_9", "active", "price_pro", false, pk))
			e.Account = "acct_other"
			return e
		}()},
		{"LiveEventForTestProject", func() dream.PaymentEvent {
			e := f.event("customer.subscription.created", 1, subscription("sub_9", "active", "price_pro", false, pk))
			e.Livemode = true
			return e
		}()},
		{"OtherDevelopersProject", func() dream.PaymentEvent {
			// Metadata naming another developer's project, from our account.
			return f.event("customer.subscription.created", 1, subscription("sub_9", "active", "price_pro", false, f.other.Test.PublishableKey))
		}()},
		{"InvoiceForUnknownSubscription", f.event("invoice.paid", 1, map[string]any{"subscription": "sub_404"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := f.apply(tt.event)
			if out.Result != dream.EventIgnored || len(out.PlanChanges) != 0 {
				t.Fatalf("got %+v", out)
			}
			if again := f.apply(tt.event); again.Result != dream.EventDuplicate {
				t.Fatalf("an ignored event was not recorded: %+v", again)
			}
		})
	}
	if u := f.usage(f.other.Test.EnvironmentID, "user_1"); u.Plan != "free" {
		t.Fatalf("another developer's user got a plan: %+v", u)
	}
}

func TestApplyPaymentEvent_Invoices(t *testing.T) {
	f := newPayments(t)
	pk, env := f.saas.Test.PublishableKey, f.saas.Test.EnvironmentID
	f.apply(f.event("customer.subscription.created", 100, subscription("sub_1", "active", "price_pro", false, pk)))
	f.apply(f.event("invoice.payment_failed", 200, map[string]any{"subscription": "sub_1"}))
	status := func() dream.Subscription {
		tx, _ := f.db.Begin(ctx)
		defer tx.Rollback()
		s, _ := tx.UserSubscription(ctx, env, "user_1")
		return s.Subscription
	}
	if s := status(); s.Status != dream.StatusPastDue {
		t.Fatalf("after failed payment: %s", s.Status)
	}
	// Past due still entitles while the provider retries.
	if u := f.usage(env, "user_1"); u.Plan != "pro" {
		t.Fatalf("past due lost the plan: %+v", u)
	}
	f.apply(f.event("invoice.paid", 300, map[string]any{"subscription": "sub_1",
		"lines": map[string]any{"data": []any{map[string]any{"period": map[string]any{"end": 1746057600}}}}}))
	if s := status(); s.Status != dream.StatusActive || s.CurrentPeriodEnd.Unix() != 1746057600 {
		t.Fatalf("after paid invoice: %+v", s)
	}
	// An older failure delivered late does not undo the payment.
	f.apply(f.event("invoice.payment_failed", 250, map[string]any{"subscription": "sub_1"}))
	if s := status(); s.Status != dream.StatusActive {
		t.Fatalf("a late failure won: %s", s.Status)
	}
}

func TestApplyPaymentEvent_Deauthorized(t *testing.T) {
	f := newPayments(t)
	e := f.event("account.application.deauthorized", 1, map[string]any{"id": "ca_1"})
	if out := f.apply(e); out.Result != dream.EventProcessed {
		t.Fatalf("got %+v", out)
	}
	if id, _ := f.db.PaymentAccount(ctx, f.saas.PlatformID, dream.ModeTest); id != "" {
		t.Fatalf("test account still connected: %s", id)
	}
	if id, _ := f.db.PaymentAccount(ctx, f.saas.PlatformID, dream.ModeLive); id != account {
		t.Fatalf("live account disconnected by a test event: %q", id)
	}
}
