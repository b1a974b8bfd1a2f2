package primary_test

import (
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
	p := primary.New(db, now, nil)
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
		if err := p.Write(ctx, dream.ConnectPaymentAccount{PlatformID: platform, Mode: mode, AccountID: account}, nil); err != nil {
			t.Fatal(err)
		}
	}
	otherPlatform := storetest.Platform(t, p)
	f.other = storetest.CreateProject(t, db, p, otherPlatform, dream.ProjectSaaS, storetest.SaaSTiers())
	if err := p.Write(ctx, dream.ConnectPaymentAccount{PlatformID: otherPlatform, Mode: dream.ModeTest, AccountID: "acct_other"}, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

// event is an event of typ on account in test mode at unix second created,
// reporting no change yet.
func (f *payments) event(typ string, created int64) dream.PaymentEvent {
	f.seq++
	return dream.PaymentEvent{ID: fmt.Sprintf("evt_%d", f.seq), Type: typ, Mode: dream.ModeTest, Account: account,
		Created: time.Unix(created, 0).UTC(), Payload: []byte(`{}`)}
}

// The ranks billing gives the events of a subscription's life.
const (
	rankCheckout = iota
	rankCreated
	rankUpdated
	rankDeleted
)

// subscription is an event at unix second created reporting user_1's
// subscription of pk on price, as billing reports the event of rank.
func (f *payments) subscription(created, rank int64, id string, status dream.SubscriptionStatus, price string, canceling bool, pk string) dream.PaymentEvent {
	e := f.event("customer.subscription.updated", created)
	e.Subscription = &dream.SubscriptionChanged{PublishableKey: pk, UserID: "user_1", Subscription: dream.Subscription{
		ID: id, CustomerID: "cus_1", Plan: "pro", PriceID: price, ProductID: "prod_x", AmountCents: 2900, Currency: "usd",
		Status: status, CancelAtPeriodEnd: canceling, CurrentPeriodEnd: time.Unix(1743465600, 0).UTC(), Version: created*1000 + rank,
	}}
	return e
}

// checkout is an event at unix second created reporting c.
func (f *payments) checkout(created int64, c dream.CheckoutCompleted) dream.PaymentEvent {
	e := f.event("checkout.session.completed", created)
	c.Version = created * 1000
	e.Checkout = &c
	return e
}

// invoice is an event at unix second created reporting an invoice of
// subscription id paid or failed.
func (f *payments) invoice(created int64, id string, paid bool, periodEnd time.Time) dream.PaymentEvent {
	e := f.event("invoice.paid", created)
	e.Invoice = &dream.InvoicePayment{SubscriptionID: id, Paid: paid, PeriodEnd: periodEnd, Version: created*1000 + rankUpdated}
	return e
}

func (f *payments) apply(e dream.PaymentEvent, items ...dream.LineItem) dream.PaymentEventOutcome {
	f.t.Helper()
	out, err := dream.Apply(ctx, f.p, dream.ApplyPaymentEvent{Event: e, LineItems: items})
	if err != nil {
		f.t.Fatalf("applying the payment event %s (%s): error %v, want it applied", e.ID, e.Type, err)
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

func TestApplyPaymentEvent_SubscriptionLifecycle(t *testing.T) {
	f := newPayments(t)
	pk, env := f.saas.Test.PublishableKey, f.saas.Test.EnvironmentID
	checkout := f.checkout(1000, dream.CheckoutCompleted{SessionID: "cs_1", Mode: dream.CheckoutSubscription, Payment: dream.PaymentPaid,
		CustomerID: "cus_1", SubscriptionID: "sub_1", UserID: "user_1", Email: "ada@example.com", PublishableKey: pk, Tier: "pro"})
	out := f.apply(checkout)
	if out.Result != dream.EventProcessed || len(out.PlanChanges) != 1 || out.PlanChanges[0] != (dream.PlanChange{Mode: dream.ModeTest, UserID: "user_1", Plan: "pro"}) {
		t.Fatalf("the completed checkout: outcome %+v, want processed with one change of user_1 to pro", out)
	}
	if u := f.usage(env, "user_1"); u.Plan != "pro" || u.Limit != 10000 {
		t.Fatalf("after the checkout the user is on %s (limit %d), want pro, 10000", u.Plan, u.Limit)
	}
	endUser, _ := f.db.EndUser(ctx, env, "user_1")
	if endUser == nil || endUser.StripeCustomerID != "cus_1" || endUser.Email != "ada@example.com" {
		t.Fatalf("after the checkout the end user is %+v, want customer cus_1 with email ada@example.com", endUser)
	}
	if out := f.apply(checkout); out.Result != dream.EventDuplicate {
		t.Fatalf("redelivering the checkout: outcome %+v, want duplicate", out)
	}

	// A switch in the portal changes the price: the plan follows it.
	out = f.apply(f.subscription(1010, rankUpdated, "sub_1", dream.StatusActive, "price_enterprise", false, pk))
	if u := f.usage(env, "user_1"); u.Plan != "enterprise" || !u.Limit.Unlimited() || len(out.PlanChanges) != 1 {
		t.Fatalf("after the portal switch the user is on %s (limit %d) with plan changes %+v, want enterprise, unlimited, one change",
			u.Plan, u.Limit, out.PlanChanges)
	}
	// Scheduled cancellation keeps the plan and shows as canceling.
	f.apply(f.subscription(1020, rankUpdated, "sub_1", dream.StatusActive, "price_enterprise", true, pk))
	state, _ := f.db.UserState(ctx, env, "user_1")
	stored := state.Subscription
	if stored.DisplayStatus() != "canceling" || stored.Plan != "enterprise" {
		t.Fatalf("after scheduling the cancellation the subscription is %+v, want enterprise, canceling", stored)
	}
	// Deletion returns the user to free.
	out = f.apply(f.subscription(1030, rankDeleted, "sub_1", dream.StatusCanceled, "price_enterprise", false, pk))
	if u := f.usage(env, "user_1"); u.Plan != "free" || u.Limit != 100 || len(out.PlanChanges) != 1 || out.PlanChanges[0].Plan != "free" {
		t.Fatalf("after the deletion the user is on %s (limit %d) with plan changes %+v, want free, 100, one change to free",
			u.Plan, u.Limit, out.PlanChanges)
	}
	// A late event about the ended subscription changes nothing.
	f.apply(f.subscription(1040, rankUpdated, "sub_1", dream.StatusActive, "price_pro", false, pk))
	if u := f.usage(env, "user_1"); u.Plan != "free" {
		t.Fatalf("a late event about the deleted subscription put the user on %s, want free", u.Plan)
	}
	// A new subscription takes over.
	f.apply(f.subscription(1050, rankCreated, "sub_2", dream.StatusActive, "price_pro", false, pk))
	if u := f.usage(env, "user_1"); u.Plan != "pro" {
		t.Fatalf("after a new subscription the user is on %s, want pro", u.Plan)
	}
	// And a late deletion of the old one does not touch it.
	f.apply(f.subscription(1060, rankDeleted, "sub_1", dream.StatusCanceled, "price_pro", false, pk))
	if u := f.usage(env, "user_1"); u.Plan != "pro" {
		t.Fatalf("a late deletion of the old subscription left the user on %s, want pro of the new one", u.Plan)
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
			f.checkout(2000, dream.CheckoutCompleted{SessionID: "cs_1", Mode: dream.CheckoutSubscription, Payment: dream.PaymentPaid,
				CustomerID: "cus_1", SubscriptionID: "sub_1", UserID: "user_1", PublishableKey: pk, Tier: "pro"}),
			f.subscription(2000, rankCreated, "sub_1", dream.StatusActive, "price_pro", false, pk),
			f.subscription(2005, rankUpdated, "sub_1", dream.StatusActive, "price_enterprise", true, pk),
			f.subscription(2009, rankDeleted, "sub_1", dream.StatusCanceled, "price_enterprise", false, pk),
		}
	}
	final := func(order []int) (dream.Usage, dream.Subscription) {
		f := newPayments(t)
		env, all := f.saas.Test.EnvironmentID, events(f)
		for _, i := range order {
			f.apply(all[i])
		}
		state, _ := f.db.UserState(ctx, env, "user_1")
		return f.usage(env, "user_1"), *state.Subscription
	}
	orders := permute([]int{0, 1, 2, 3})
	if len(orders) != 24 {
		t.Fatalf("permute gave %d orderings of four events, want 24", len(orders))
	}
	for _, order := range orders {
		if u, s := final(order); u.Plan != "free" || s.Status != dream.StatusCanceled {
			t.Errorf("events in order %v end on plan %s, subscription %s; want free, canceled", order, u.Plan, s.Status)
		}
	}
	// Without the deletion, every order of the rest ends canceling on
	// enterprise.
	for _, order := range permute([]int{0, 1, 2}) {
		if u, s := final(order); u.Plan != "enterprise" || s.DisplayStatus() != "canceling" {
			t.Errorf("events in order %v without the deletion end on plan %s, subscription %s; want enterprise, canceling",
				order, u.Plan, s.DisplayStatus())
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
	session := func(id string, created int64, payment dream.PaymentState) dream.PaymentEvent {
		return f.checkout(created, dream.CheckoutCompleted{SessionID: id, Mode: dream.CheckoutPayment, Payment: payment,
			PaymentIntentID: "pi_1", Email: "buyer@example.com", AmountCents: 3300, Currency: "usd", PublishableKey: pk})
	}
	items := []dream.LineItem{{PriceID: "price_mug", Quantity: 2, UnitAmount: 1200}, {PriceID: "price_ebook", Quantity: 1, UnitAmount: 900}}
	inventory := func() int64 {
		tiers, _ := f.db.Tiers(ctx, env)
		return *tiers[0].Inventory
	}
	// An asynchronous payment still pending takes nothing.
	f.apply(session("cs_store", 3000, dream.PaymentPending), items...)
	if inventory() != 3 {
		t.Fatalf("a pending payment left %d mugs in stock, want all 3", inventory())
	}
	f.apply(session("cs_store", 3010, dream.PaymentPaid), items...)
	if inventory() != 1 {
		t.Fatalf("after paying for 2 of 3 mugs %d are in stock, want 1", inventory())
	}
	// The same session reported paid again takes nothing more.
	f.apply(session("cs_store", 3020, dream.PaymentPaid), items...)
	if inventory() != 1 {
		t.Fatalf("the same session paid again left %d mugs in stock, want still 1", inventory())
	}
	orders, err := f.db.Orders(ctx, env)
	if err != nil || len(orders) != 1 {
		t.Fatalf("orders after one paid session: %+v, error %v; want one order", orders, err)
	}
	if o := orders[0]; o.Email != "buyer@example.com" || o.AmountCents != 3300 || o.StripeSessionID != "cs_store" ||
		o.StripePaymentIntentID != "pi_1" || len(o.Items) != 2 || o.Items[0].Quantity != 2 {
		t.Fatalf("the order is %+v, want buyer@example.com, 3300 cents, cs_store, pi_1, 2 items with 2 mugs", o)
	}
	// A payment for more than there is takes nothing, and is owed back.
	out := f.apply(session("cs_big", 3030, dream.PaymentPaid), dream.LineItem{PriceID: "price_mug", Quantity: 5})
	if inventory() != 1 || len(out.Refunds) != 1 || out.Refunds[0].PaymentIntentID != "pi_1" {
		t.Fatalf("after a payment for 5 mugs with 1 in stock, %d are in stock and refunds %+v are owed, want 1 and the payment pi_1",
			inventory(), out.Refunds)
	}
	if out := f.apply(session("cs_failed", 3040, dream.PaymentFailed), items...); out.Result != dream.EventProcessed {
		t.Fatalf("a failed payment: outcome %+v, want processed", out)
	}
	if orders, _ := f.db.Orders(ctx, env); len(orders) != 2 {
		t.Fatalf("%d orders after a failed payment, want 2", len(orders))
	}
}

func TestApplyPaymentEvent_Ignored(t *testing.T) {
	f := newPayments(t)
	pk := f.saas.Test.PublishableKey
	for _, tt := range []struct {
		name  string
		event dream.PaymentEvent
	}{
		{"NoChange", f.event("charge.refunded", 1)},
		{"UnknownProject", f.subscription(1, rankCreated, "sub_9", dream.StatusActive, "price_pro", false, dream.NewPublishableKey(dream.ModeTest))},
		{"NoProject", f.subscription(1, rankCreated, "sub_9", dream.StatusActive, "price_pro", false, "")},
		{"NoUser", func() dream.PaymentEvent {
			e := f.subscription(1, rankCreated, "sub_9", dream.StatusActive, "price_pro", false, pk)
			e.Subscription.UserID = ""
			return e
		}()},
		{"OtherAccount", func() dream.PaymentEvent {
			e := f.subscription(1, rankCreated, "sub_9", dream.StatusActive, "price_pro", false, pk)
			e.Account = "acct_other"
			return e
		}()},
		{"LiveEventForTestProject", func() dream.PaymentEvent {
			e := f.subscription(1, rankCreated, "sub_9", dream.StatusActive, "price_pro", false, pk)
			e.Mode = dream.ModeLive
			return e
		}()},
		// Metadata naming another developer's project, from our account.
		{"OtherDevelopersProject", f.subscription(1, rankCreated, "sub_9", dream.StatusActive, "price_pro", false, f.other.Test.PublishableKey)},
		{"CheckoutOfOtherDevelopersProject", f.checkout(1, dream.CheckoutCompleted{SessionID: "cs_9", Mode: dream.CheckoutSubscription,
			Payment: dream.PaymentPaid, UserID: "user_1", SubscriptionID: "sub_9", PublishableKey: f.other.Test.PublishableKey, Tier: "pro"})},
		{"InvoiceForUnknownSubscription", f.invoice(1, "sub_404", true, time.Time{})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := f.apply(tt.event)
			if out.Result != dream.EventIgnored || len(out.PlanChanges) != 0 {
				t.Fatalf("the payment event: outcome %+v, want ignored with no plan changes", out)
			}
			if again := f.apply(tt.event); again.Result != dream.EventDuplicate {
				t.Fatalf("redelivering an ignored payment event: outcome %+v, want duplicate", again)
			}
		})
	}
	if u := f.usage(f.other.Test.EnvironmentID, "user_1"); u.Plan != "free" {
		t.Fatalf("another developer's end user is on %s, want free", u.Plan)
	}
}

func TestApplyPaymentEvent_Invoices(t *testing.T) {
	f := newPayments(t)
	pk, env := f.saas.Test.PublishableKey, f.saas.Test.EnvironmentID
	f.apply(f.subscription(100, rankCreated, "sub_1", dream.StatusActive, "price_pro", false, pk))
	f.apply(f.invoice(200, "sub_1", false, time.Time{}))
	status := func() dream.Subscription {
		state, _ := f.db.UserState(ctx, env, "user_1")
		return *state.Subscription
	}
	if s := status(); s.Status != dream.StatusPastDue {
		t.Fatalf("after a failed invoice the subscription is %s, want past_due", s.Status)
	}
	// Past due still entitles while the provider retries.
	if u := f.usage(env, "user_1"); u.Plan != "pro" {
		t.Fatalf("with the subscription past due the user is on %s, want pro", u.Plan)
	}
	f.apply(f.invoice(300, "sub_1", true, time.Unix(1746057600, 0)))
	if s := status(); s.Status != dream.StatusActive || s.CurrentPeriodEnd.Unix() != 1746057600 {
		t.Fatalf("after a paid invoice the subscription is %+v, want active until 1746057600", s)
	}
	// An older failure delivered late does not undo the payment.
	f.apply(f.invoice(250, "sub_1", false, time.Time{}))
	if s := status(); s.Status != dream.StatusActive {
		t.Fatalf("an older failed invoice delivered late made the subscription %s, want active", s.Status)
	}
}

func TestApplyPaymentEvent_Deauthorized(t *testing.T) {
	f := newPayments(t)
	e := f.event("account.application.deauthorized", 1)
	e.Deauthorized = true
	if out := f.apply(e); out.Result != dream.EventProcessed {
		t.Fatalf("the deauthorization event: outcome %+v, want processed", out)
	}
	if id, _ := f.db.PaymentAccount(ctx, f.saas.PlatformID, dream.ModeTest); id != "" {
		t.Fatalf("after deauthorization the test payment account is %s, want none", id)
	}
	if id, _ := f.db.PaymentAccount(ctx, f.saas.PlatformID, dream.ModeLive); id != account {
		t.Fatalf("after a test deauthorization the live payment account is %q, want %s", id, account)
	}
}
