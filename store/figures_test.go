package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store/storetest"
)

// TestMetricsAgreeWithGo holds the SQL figures of the dashboard to the Go
// rules of dream.ComputeMetrics on random end users, subscriptions, usage
// periods and orders.
func TestMetricsAgreeWithGo(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	w := primary.New(db, func() time.Time { return now }, nil)
	project := storetest.CreateProject(t, db, w, storetest.Platform(t, w), dream.ProjectSaaS, storetest.SaaSTiers())
	env, err := db.EnvironmentByPublishableKey(ctx, project.Test.PublishableKey)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []dream.SubscriptionStatus{dream.StatusTrialing, dream.StatusActive, dream.StatusPastDue, dream.StatusCanceled,
		dream.StatusIncomplete, dream.StatusUnpaid, dream.StatusPaused}
	for i := range 200 {
		user := fmt.Sprintf("user_%d", i)
		storetest.Exec(t, db, `INSERT INTO end_users (environment_id, user_id, email, created_at, updated_at) VALUES (?, ?, ?, 0, 0)`,
			env.ID, user, user+"@example.com")
		if rng.IntN(3) > 0 {
			end := now.AddDate(0, 0, rng.IntN(40)-20).Format(dream.DateLayout)
			start := now.AddDate(0, 0, -40).Format(dream.DateLayout)
			storetest.Exec(t, db, `INSERT INTO usage_counters (environment_id, user_id, period_start, period_end, count, plan, updated_at)
				VALUES (?, ?, ?, ?, ?, 'free', 0)`, env.ID, user, start, end, rng.IntN(500))
		}
		if rng.IntN(2) == 0 {
			storetest.Exec(t, db, `INSERT INTO subscriptions (environment_id, user_id, stripe_subscription_id, plan, status,
					cancel_at_period_end, amount_cents, stripe_version, created_at, updated_at) VALUES (?, ?, ?, 'pro', ?, ?, ?, 0, 0, 0)`,
				env.ID, user, "sub_"+user, statuses[rng.IntN(len(statuses))], rng.IntN(2), rng.IntN(5000))
		}
	}
	for i := range 50 {
		storetest.Exec(t, db, `INSERT INTO orders (id, environment_id, amount_cents, currency, items, stripe_session_id, created_at, oversold)
			VALUES (?, ?, ?, 'usd', '[]', ?, 0, ?)`, fmt.Sprintf("ord_%d", i), env.ID, rng.IntN(10000), fmt.Sprintf("cs_%d", i), rng.IntN(4) == 0)
	}
	compare := func(when string) dream.Metrics {
		t.Helper()
		customers, err := db.Customers(ctx, env.ID)
		if err != nil {
			t.Fatal(err)
		}
		orders, err := db.Orders(ctx, env.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := dream.ComputeMetrics(nil, customers, orders, now)
		got, err := db.EnvironmentMetrics(ctx, env.ID, now)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s, the SQL figures are %+v, the Go rules give %+v", when, got, want)
		}
		return want
	}
	if want := compare("as made"); want.ActiveSubscriptions == 0 || want.MRRCents == 0 || want.UsageThisPeriod == 0 || want.Sales == 0 {
		t.Fatalf("the random data exercised too little: %+v", want)
	}
	// The totals the SQL reads follow every kind of change: subscriptions
	// that change status, cancellation or amount, usage that grows or
	// starts a new period, orders found oversold, and deletions.
	for round := range 3 {
		for i := range 200 {
			user := fmt.Sprintf("user_%d", i)
			switch rng.IntN(6) {
			case 0:
				storetest.Exec(t, db, `UPDATE subscriptions SET status = ?, cancel_at_period_end = ?, amount_cents = ?
					WHERE environment_id = ? AND user_id = ?`, statuses[rng.IntN(len(statuses))], rng.IntN(2), rng.IntN(5000), env.ID, user)
			case 1:
				storetest.Exec(t, db, `UPDATE usage_counters SET count = count + ? WHERE environment_id = ? AND user_id = ?`,
					rng.IntN(50), env.ID, user)
			case 2:
				storetest.Exec(t, db, `UPDATE usage_counters SET period_end = ?, count = ? WHERE environment_id = ? AND user_id = ?`,
					now.AddDate(0, 0, rng.IntN(40)-10).Format(dream.DateLayout), rng.IntN(20), env.ID, user)
			case 3:
				storetest.Exec(t, db, `DELETE FROM end_users WHERE environment_id = ? AND user_id = ?`, env.ID, user)
			case 4:
				// A counter back at zero in a period whose total may then
				// be zero too, and go, before it counts again.
				storetest.Exec(t, db, `UPDATE usage_counters SET count = 0 WHERE environment_id = ? AND user_id = ?`, env.ID, user)
			}
		}
		for i := range 50 {
			switch rng.IntN(8) {
			case 0:
				storetest.Exec(t, db, `UPDATE orders SET oversold = NOT oversold WHERE id = ?`, fmt.Sprintf("ord_%d", i))
			case 1:
				storetest.Exec(t, db, `DELETE FROM orders WHERE id = ?`, fmt.Sprintf("ord_%d", i))
			}
		}
		compare(fmt.Sprintf("after round %d of changes", round+1))
	}
	// A period's total that reaches zero and goes counts again when one of
	// its counters does.
	end := now.AddDate(0, 0, 35).Format(dream.DateLayout)
	for i, user := range []string{"solo_a", "solo_b"} {
		storetest.Exec(t, db, `INSERT INTO end_users (environment_id, user_id, created_at, updated_at) VALUES (?, ?, 0, 0)`, env.ID, user)
		storetest.Exec(t, db, `INSERT INTO usage_counters (environment_id, user_id, period_start, period_end, count, plan, updated_at)
			VALUES (?, ?, ?, ?, ?, 'free', 0)`, env.ID, user, now.Format(dream.DateLayout), end, 5*(1-i))
	}
	storetest.Exec(t, db, `UPDATE usage_counters SET count = 0 WHERE environment_id = ? AND user_id = 'solo_a'`, env.ID)
	storetest.Exec(t, db, `DELETE FROM end_users WHERE environment_id = ? AND user_id = 'solo_b'`, env.ID)
	storetest.Exec(t, db, `UPDATE usage_counters SET count = 3 WHERE environment_id = ? AND user_id = 'solo_a'`, env.ID)
	compare("after a period's total went to zero and counted again")
}
