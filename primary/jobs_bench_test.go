package primary_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/billing/emulator"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store/storetest"
)

// BenchmarkMeterReport runs the daily meter report over 1,000, 5,000 and
// 10,000 subscribed platforms against the payments emulator playing the
// operator's account, and reports the time per platform: it stays flat as
// the platforms grow, since the job pages through them. make bench runs
// it once per size (-benchtime 1x).
func BenchmarkMeterReport(b *testing.B) {
	for _, n := range []int{1_000, 5_000, 10_000} {
		b.Run(fmt.Sprintf("platforms=%d", n), func(b *testing.B) {
			ctx := context.Background()
			db := storetest.Open(b)
			now := time.Date(2026, 5, 10, 0, 30, 0, 0, time.UTC)
			p := primary.New(db, func() time.Time { return now }, nil)
			defer p.Close()
			operator, err := emulator.Open(filepath.Join(b.TempDir(), "emulator.db"), emulator.Config{BaseURL: "http://127.0.0.1:1"})
			if err != nil {
				b.Fatal(err)
			}
			defer operator.Close()
			for i := range n {
				id := fmt.Sprintf("plt_%032d", i)
				customer, err := operator.CreateCustomer(ctx, id, "")
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Write(ctx, dream.CreatePlatform{ID: id, Owner: "bench:" + id}, nil); err != nil {
					b.Fatal(err)
				}
				storetest.Exec(b, db, `UPDATE platforms SET subscription_status = 'active', stripe_customer_id = ? WHERE id = ?`, customer, id)
			}
			b.ResetTimer()
			for range b.N {
				jobs := &primary.Jobs{DB: db, Writer: p, Plan: &plan, Operator: operator, Catalogue: &catalogue{}, Node: "bench",
					Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
				start := time.Now()
				if err := jobs.RunDue(ctx); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/float64(n), "µs/platform")
				now = now.AddDate(0, 0, 1)
			}
			events, err := operator.MeterEvents(ctx)
			if err != nil || len(events) != n*b.N {
				b.Fatalf("the emulator received %d meter events (%v), want %d", len(events), err, n*b.N)
			}
		})
	}
}
