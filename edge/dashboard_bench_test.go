package edge_test

import (
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store/storetest"
)

// seedCustomers gives the test environment of project n end users, each
// with usage this period and every tenth with a running subscription, and
// the environment 30 days of figures: what a busy project has.
func seedCustomers(h *harness, project string, n int) (middle string) {
	h.t.Helper()
	env := storetest.Count(h.t, h.db, `SELECT id FROM environments WHERE project_id = ? AND mode = 'test'`, project)
	created := h.now.Add(-24 * time.Hour).UnixMilli()
	period, end := h.now.Format("2006-01-02")[:8]+"01", h.now.AddDate(0, 1, -h.now.Day()).Format("2006-01-02")
	storetest.Exec(h.t, h.db, `INSERT INTO end_users (environment_id, user_id, email, created_at, updated_at)
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
		SELECT ?1, 'user_' || i, 'user' || i || '@example.com', ?3 + i, ?3 + i FROM n`, env, n, created)
	storetest.Exec(h.t, h.db, `INSERT INTO usage_counters (environment_id, user_id, period_start, period_end, count, plan, updated_at)
		SELECT environment_id, user_id, ?2, ?3, 1 + created_at % 97, 'free', created_at FROM end_users WHERE environment_id = ?1`, env, period, end)
	storetest.Exec(h.t, h.db, `INSERT INTO subscriptions (environment_id, user_id, stripe_subscription_id, plan, status, amount_cents, currency,
			current_period_end, stripe_version, created_at, updated_at)
		SELECT environment_id, user_id, 'sub_' || environment_id || '_' || user_id, 'pro', 'active', 1900, 'usd', ?2, created_at, created_at, created_at
		FROM end_users WHERE environment_id = ?1 AND created_at % 10 = 0`, env, h.now.AddDate(0, 1, 0).UnixMilli())
	for d := 1; d <= 30; d++ {
		storetest.Exec(h.t, h.db, `INSERT INTO daily_figures (environment_id, day, usage_this_period, mrr_cents, active_subscriptions, revenue_cents, orders)
			VALUES (?, ?, ?, ?, ?, 0, 0)`, env, h.now.AddDate(0, 0, -d).Format("2006-01-02"), d*n, n*190, n/10)
	}
	// The cursor of the customer halfway down the list, newest first.
	i := n - n/2 + 1
	return (&dream.CustomerCursor{CreatedAt: time.UnixMilli(created + int64(i)), UserID: fmt.Sprintf("user_%d", i)}).String()
}

// BenchmarkDashboardScale times the dashboard's customers page (first,
// searched, and halfway down the list), and its metrics page with the charts, for a project
// with 100,000 customers against one with 100, in one run, and prints the
// worst ratio as "metric dashboard_scale_ratio" with the bytes allocated
// per page at each size: paging and sums in SQL keep both flat.
func BenchmarkDashboardScale(b *testing.B) {
	h := newHarness(b, harnessOptions{})
	d := h.signUp("scale@example.com")
	small, _, _ := h.createProject(d, "Small", dream.ProjectSaaS)
	large, _, _ := h.createProject(d, "Large", dream.ProjectSaaS)
	smallMiddle := seedCustomers(h, small, 100)
	largeMiddle := seedCustomers(h, large, 100_000)

	pages := []struct{ name, path string }{
		{"customers", "/customers?mode=test"},
		{"customers-searched", "/customers?mode=test&q=user7"},
		{"customers-halfway", "/customers?mode=test&after=%s"},
		{"metrics", "/metrics?mode=test"},
	}
	// median is the median time of a page over rounds requests, after a
	// few to warm the caches, and the bytes it allocates.
	const rounds = 30
	median := func(path string) (time.Duration, uint64) {
		var took []time.Duration
		var before, after runtime.MemStats
		for i := range rounds + 3 {
			if i == 3 {
				runtime.ReadMemStats(&before)
			}
			start := time.Now()
			if rec := h.dashboardPage(d, "GET", path, nil); rec.Code != http.StatusOK {
				b.Fatalf("GET %s answered %d", path, rec.Code)
			}
			if i >= 3 {
				took = append(took, time.Since(start))
			}
		}
		runtime.ReadMemStats(&after)
		slices.Sort(took)
		return took[len(took)/2], (after.TotalAlloc - before.TotalAlloc) / rounds
	}
	for range b.N {
		worst := 0.0
		for _, p := range pages {
			smallPath := "/dashboard/projects/" + small + p.path
			largePath := "/dashboard/projects/" + large + p.path
			if p.name == "customers-halfway" {
				smallPath, largePath = fmt.Sprintf(smallPath, smallMiddle), fmt.Sprintf(largePath, largeMiddle)
			}
			ts, as := median(smallPath)
			tl, al := median(largePath)
			ratio := float64(tl) / float64(ts)
			worst = max(worst, ratio)
			fmt.Printf("%-20s 100: %8v %7d B   100,000: %8v %7d B   ratio %.2f\n", p.name, ts.Round(time.Microsecond), as,
				tl.Round(time.Microsecond), al, ratio)
		}
		b.ReportMetric(worst, "worst-ratio")
		fmt.Printf("metric dashboard_scale_ratio %.2f\n", worst)
	}
}
