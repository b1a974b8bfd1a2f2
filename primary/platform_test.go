package primary_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

// platformEvent is an event of the platform webhook at unix second
// created reporting platformID's subscription sub_plan in status, as
// billing reports an event of rank.
func platformEvent(seq *int, platformID string, created, rank int64, status dream.SubscriptionStatus) dream.PaymentEvent {
	*seq++
	typ := map[int64]string{1: "customer.subscription.created", 2: "customer.subscription.updated", 3: "customer.subscription.deleted"}[rank]
	return dream.PaymentEvent{ID: fmt.Sprintf("evt_p%d", *seq), Type: typ, Mode: dream.ModeLive, Created: time.Unix(created, 0).UTC(),
		Payload: []byte(`{}`), Subscription: &dream.SubscriptionChanged{PlatformID: platformID, Subscription: dream.Subscription{
			ID: "sub_plan", CustomerID: "cus_plan", Status: status, CurrentPeriodEnd: time.Unix(created+30*86400, 0).UTC(),
			Version: created*1000 + rank}}}
}

func TestPlatformEvents(t *testing.T) {
	ctx := context.Background()
	t.Run("EveryStatus", func(t *testing.T) {
		db := storetest.Open(t)
		p := primary.New(db, time.Now, nil)
		id := storetest.Platform(t, p)
		seq := 0
		for i, status := range []dream.SubscriptionStatus{dream.StatusTrialing, dream.StatusActive, dream.StatusPastDue,
			dream.StatusIncomplete, dream.StatusIncompleteExpired, dream.StatusUnpaid, dream.StatusPaused, dream.StatusCanceled, "frozen"} {
			e := platformEvent(&seq, id, int64(1000+i*10), 2, status)
			if _, err := dream.Apply(ctx, p, dream.ApplyPlatformEvent{Event: e}); err != nil {
				t.Fatal(err)
			}
			got, _ := db.Platform(ctx, id)
			want := status
			if status == "frozen" {
				want = dream.StatusNone
			}
			if got.Subscription.Status != want {
				t.Errorf("status %q stored as %q, want %q", status, got.Subscription.Status, want)
			}
			if running := got.Subscription.Status.Running(); running != got.Subscription.EndedAt.IsZero() {
				t.Errorf("status %q: ended at %v, want an end exactly when it no longer runs", status, got.Subscription.EndedAt)
			}
		}
	})
	t.Run("EveryDeliveryOrderEndsInTheLatestState", func(t *testing.T) {
		seq := 0
		events := func(id string) []dream.PaymentEvent {
			return []dream.PaymentEvent{
				platformEvent(&seq, id, 1000, 1, dream.StatusTrialing),
				platformEvent(&seq, id, 2000, 2, dream.StatusActive),
				platformEvent(&seq, id, 3000, 3, dream.StatusCanceled),
			}
		}
		for _, order := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
			db := storetest.Open(t)
			p := primary.New(db, time.Now, nil)
			id := storetest.Platform(t, p)
			list := events(id)
			for _, i := range order {
				if _, err := dream.Apply(ctx, p, dream.ApplyPlatformEvent{Event: list[i]}); err != nil {
					t.Fatal(err)
				}
			}
			// A redelivery of any of them changes nothing.
			for _, e := range list {
				if out, err := dream.Apply(ctx, p, dream.ApplyPlatformEvent{Event: e}); err != nil || out.Result != dream.EventDuplicate {
					t.Fatalf("redelivering %s: %+v, %v; want a duplicate", e.ID, out, err)
				}
			}
			got, _ := db.Platform(ctx, id)
			s := got.Subscription
			if s.Status != dream.StatusCanceled || !s.EndedAt.Equal(time.Unix(3000, 0).UTC()) || !s.TrialUsed || s.SubscriptionID != "sub_plan" {
				t.Errorf("delivered in order %v: %+v, want canceled at 3000 with the trial used", order, s)
			}
		}
	})
	t.Run("LateReportOfAnOldSubscription", func(t *testing.T) {
		db := storetest.Open(t)
		p := primary.New(db, time.Now, nil)
		id := storetest.Platform(t, p)
		seq := 0
		renewed := platformEvent(&seq, id, 5000, 1, dream.StatusActive)
		renewed.Subscription.Subscription.ID = "sub_again"
		old := platformEvent(&seq, id, 6000, 2, dream.StatusUnpaid)
		for _, e := range []dream.PaymentEvent{renewed, old} {
			if _, err := dream.Apply(ctx, p, dream.ApplyPlatformEvent{Event: e}); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := db.Platform(ctx, id); got.Subscription.Status != dream.StatusActive || got.Subscription.SubscriptionID != "sub_again" {
			t.Errorf("after a late report of the old subscription: %+v, want the new one active", got.Subscription)
		}
	})
	t.Run("CheckoutNamesTheCustomer", func(t *testing.T) {
		db := storetest.Open(t)
		p := primary.New(db, time.Now, nil)
		id := storetest.Platform(t, p)
		e := dream.PaymentEvent{ID: "evt_c", Type: "checkout.session.completed", Mode: dream.ModeLive, Created: time.Unix(900, 0),
			Payload: []byte(`{}`), Checkout: &dream.CheckoutCompleted{SessionID: "cs_1", Mode: dream.CheckoutSubscription,
				PlatformID: id, CustomerID: "cus_9", SubscriptionID: "sub_9", Version: 900_000}}
		if out, err := dream.Apply(ctx, p, dream.ApplyPlatformEvent{Event: e}); err != nil || out.Result != dream.EventProcessed {
			t.Fatalf("a platform checkout: %+v, %v", out, err)
		}
		if got, _ := db.Platform(ctx, id); got.Subscription.CustomerID != "cus_9" || got.Subscription.SubscriptionID != "sub_9" {
			t.Errorf("after the checkout: %+v, want its customer and subscription", got.Subscription)
		}
	})
}

// operator records meter events, failing for the customers in fail.
type operator struct {
	mu      sync.Mutex
	reports []dream.UsageReport
	fail    map[string]bool
}

func (o *operator) CreateCustomer(context.Context, string, string) (string, error) { return "", nil }
func (o *operator) CreatePlatformCheckout(context.Context, dream.PlatformCheckout) (string, error) {
	return "", nil
}
func (o *operator) CreatePlatformPortal(context.Context, string, string) (string, error) {
	return "", nil
}
func (o *operator) ReportUsage(_ context.Context, u dream.UsageReport) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail[u.CustomerID] {
		return dream.Errorf(dream.KindUnavailable, "payment_provider_unavailable", "down")
	}
	o.reports = append(o.reports, u)
	return nil
}

func (o *operator) identifiers() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ids []string
	for _, r := range o.reports {
		ids = append(ids, r.Identifier)
	}
	slices.Sort(ids)
	return ids
}

// catalogue counts archived products.
type catalogue struct {
	dream.Catalogue
	mu       sync.Mutex
	archived []string
}

func (c *catalogue) ArchiveProduct(_ context.Context, _ dream.PaymentAccount, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.archived = append(c.archived, id)
	return nil
}

func sortedStrings(s ...string) []string {
	slices.Sort(s)
	return s
}

var plan = dream.PlatformPlan{PriceCents: 1900, TrialDays: 14, IncludedUsers: 2000, OverageCents: 3,
	Grace: 7 * 24 * time.Hour, Retention: 30 * 24 * time.Hour, MeterEvent: "live_end_users"}

// subscribe gives a platform a running subscription with a customer.
func subscribe(t *testing.T, db *store.DB, platformID, customer string) {
	t.Helper()
	storetest.Exec(t, db, `UPDATE platforms SET subscription_status = 'active', stripe_customer_id = ? WHERE id = ?`, customer, platformID)
}

func TestJobs(t *testing.T) {
	ctx := context.Background()
	t.Run("MeterReportOncePerDayAndCatchUp", func(t *testing.T) {
		db := storetest.Open(t)
		now := time.Date(2026, 5, 10, 0, 30, 0, 0, time.UTC)
		p := primary.New(db, func() time.Time { return now }, nil)
		a, b, idle := storetest.Platform(t, p), storetest.Platform(t, p), storetest.Platform(t, p)
		subscribe(t, db, a, "cus_a")
		subscribe(t, db, b, "cus_b")
		proj := storetest.CreateProject(t, db, p, a, dream.ProjectSaaS, storetest.SaaSTiers())
		shop := storetest.CreateProject(t, db, p, a, dream.ProjectStore, nil)
		for i, pk := range []string{proj.Live.PublishableKey, proj.Live.PublishableKey, proj.Test.PublishableKey, shop.Live.PublishableKey} {
			env, _ := db.EnvironmentByPublishableKey(ctx, pk)
			if err := p.Write(ctx, dream.CreateCustomer{EnvironmentID: env.ID, UserID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@example.com", i),
				CreatedAt: now}, nil); err != nil {
				t.Fatal(err)
			}
		}
		op := &operator{fail: map[string]bool{"cus_b": true}}
		jobs := &primary.Jobs{DB: db, Writer: p, Plan: &plan, Operator: op, Catalogue: &catalogue{}, Node: "n1",
			Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
		if err := jobs.RunDue(ctx); err == nil {
			t.Fatal("a run with a failing report answered no error, want the day left to run again")
		}
		if got := op.identifiers(); !slices.Equal(got, []string{a + "-2026-05-09"}) || op.reports[0].Value != 2 ||
			op.reports[0].Timestamp.Format(time.DateTime) != "2026-05-09 23:59:59" {
			t.Fatalf("the first run reported %+v, want platform a's 2 live saas end users (not test, not the store's) for 2026-05-09", op.reports)
		}
		// b's report comes through at the next run; a's is not sent again.
		delete(op.fail, "cus_b")
		if err := jobs.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		if got := op.identifiers(); !slices.Equal(got, sortedStrings(a+"-2026-05-09", b+"-2026-05-09")) {
			t.Fatalf("after the retry the reports are %v, want a's once and b's", got)
		}
		// Down for two midnights: both days are run, in order.
		now = now.AddDate(0, 0, 2)
		if err := jobs.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		want := sortedStrings(a+"-2026-05-09", a+"-2026-05-10", a+"-2026-05-11", b+"-2026-05-09", b+"-2026-05-10", b+"-2026-05-11")
		if got := op.identifiers(); !slices.Equal(got, want) {
			t.Fatalf("after two missed midnights the reports are %v, want %v", got, want)
		}
		for _, r := range op.reports {
			if strings.HasPrefix(r.Identifier, idle) {
				t.Errorf("a platform without a subscription was reported: %+v", r)
			}
		}
	})
	t.Run("TwoPrimariesRunADayOnce", func(t *testing.T) {
		path := storetest.Open(t).Path()
		now := time.Date(2026, 5, 10, 0, 30, 0, 0, time.UTC)
		op := &operator{}
		var runners []*primary.Jobs
		for i := range 2 {
			db, err := store.Open(path, false)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			p := primary.New(db, func() time.Time { return now }, nil)
			defer p.Close()
			if i == 0 {
				for j := range 20 {
					id := storetest.Platform(t, p)
					subscribe(t, db, id, fmt.Sprintf("cus_%d", j))
				}
			}
			runners = append(runners, &primary.Jobs{DB: db, Writer: p, Plan: &plan, Operator: op, Catalogue: &catalogue{},
				Node: fmt.Sprintf("node-%d", i), Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
		}
		var wg sync.WaitGroup
		for _, j := range runners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := j.RunDue(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got := op.identifiers(); len(got) != 20 || len(slices.Compact(got)) != 20 {
			t.Fatalf("two schedulers sent %d reports (%d distinct), want each of the 20 platforms once", len(got), len(slices.Compact(got)))
		}
	})
	t.Run("FiguresOfEveryEnvironment", func(t *testing.T) {
		db := storetest.Open(t)
		now := time.Date(2026, 5, 10, 0, 30, 0, 0, time.UTC)
		p := primary.New(db, func() time.Time { return now }, nil)
		id := storetest.Platform(t, p)
		project := storetest.CreateProject(t, db, p, id, dream.ProjectSaaS, storetest.SaaSTiers())
		env, _ := db.EnvironmentByPublishableKey(ctx, project.Test.PublishableKey)
		storetest.Exec(t, db, `INSERT INTO end_users (environment_id, user_id, created_at, updated_at) VALUES (?, 'u1', 0, 0)`, env.ID)
		storetest.Exec(t, db, `INSERT INTO subscriptions (environment_id, user_id, stripe_subscription_id, plan, status, amount_cents,
			stripe_version, created_at, updated_at) VALUES (?, 'u1', 'sub_1', 'pro', 'active', 2900, 0, 0, 0)`, env.ID)
		storetest.Exec(t, db, `INSERT INTO orders (id, environment_id, amount_cents, currency, items, stripe_session_id, created_at)
			VALUES ('ord_1', ?, 1500, 'usd', '[]', 'cs_1', ?)`, env.ID, time.Date(2026, 5, 9, 15, 0, 0, 0, time.UTC).UnixMilli())
		jobs := &primary.Jobs{DB: db, Writer: p, Plan: &plan, Operator: &operator{}, Catalogue: &catalogue{}, Node: "n1",
			Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
		if err := jobs.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		days, err := db.DailyFigures(ctx, env.ID, "2026-05-01")
		if err != nil || len(days) != 1 || days[0].Day != "2026-05-09" || days[0].MRRCents != 2900 || days[0].ActiveSubscriptions != 1 ||
			days[0].RevenueCents != 1500 || days[0].Orders != 1 {
			t.Fatalf("the figures recorded are %+v (%v), want 2026-05-09 with an MRR of 2900 and the day's order", days, err)
		}
		if n := storetest.Count(t, db, `SELECT count(*) FROM daily_figures WHERE day = '2026-05-09'`); n != 2 {
			t.Fatalf("%d environments' figures recorded, want both of the project's", n)
		}
	})
	t.Run("RetentionPurgesExactlyTheLapsed", func(t *testing.T) {
		db := storetest.Open(t)
		now := time.Date(2026, 5, 10, 0, 30, 0, 0, time.UTC)
		p := primary.New(db, func() time.Time { return now }, nil)
		lapsed, graced, paying := storetest.Platform(t, p), storetest.Platform(t, p), storetest.Platform(t, p)
		for _, id := range []string{lapsed, graced, paying} {
			storetest.CreateProject(t, db, p, id, dream.ProjectSaaS, storetest.SaaSTiers())
			if err := p.Write(ctx, dream.ConnectPaymentAccount{PlatformID: id, Mode: dream.ModeLive, AccountID: "acct_" + id}, nil); err != nil {
				t.Fatal(err)
			}
		}
		storetest.SetPlatformSubscription(t, db, lapsed, dream.StatusCanceled, now.AddDate(0, 0, -31))
		storetest.SetPlatformSubscription(t, db, graced, dream.StatusCanceled, now.AddDate(0, 0, -20))
		subscribe(t, db, paying, "cus_p")
		others := func() string { return storetest.PlatformRows(t, db, graced) + storetest.PlatformRows(t, db, paying) }
		before := others()
		cat := &catalogue{}
		jobs := &primary.Jobs{DB: db, Writer: p, Plan: &plan, Operator: &operator{}, Catalogue: cat, Node: "n1",
			Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
		if err := jobs.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		if after := others(); after != before || before == "" {
			t.Errorf("the purge changed the other platforms' rows:\nbefore %s\nafter  %s", before, after)
		}
		if rows := storetest.PlatformRows(t, db, lapsed); rows != "" {
			t.Errorf("rows of the lapsed platform survived the purge:\n%s", rows)
		}
		if got, _ := db.Platform(ctx, lapsed); got == nil || got.Subscription.PurgedAt.IsZero() || got.Subscription.Status != dream.StatusCanceled {
			t.Errorf("the lapsed platform after the purge: %+v, want its row kept with its status and the purge recorded", got)
		}
		if len(cat.archived) != 3 {
			t.Errorf("the purge archived %v, want the 3 live products of the lapsed platform", cat.archived)
		}
	})
}
