package primary

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

// Jobs are the primary's daily jobs: reporting each developer's billable
// end users to the platform plan's meter, deleting the projects of
// developers whose subscription ended past the retention period, and
// recording each environment's figures of the day for the dashboard's
// charts.
//
// A job runs once for each UTC day, after the day ended. Each day is
// claimed in the database before it runs and marked finished after, so a
// restart, a failover or two nodes that both believe they are primary for
// a moment never run a day twice; a day that fails stays unfinished and is
// run again, and a node that was down at midnight runs the days it missed,
// in order, when it is back.
type Jobs struct {
	DB *store.DB
	// Writer applies the jobs' writes: the primary.
	Writer dream.Writer
	Plan   *dream.PlatformPlan
	// Operator is the operator's payment account, which meters developers;
	// Catalogue archives a purged developer's products.
	Operator  dream.OperatorBilling
	Catalogue dream.Catalogue
	// Node names the node in the claims of its runs.
	Node   string
	Logger *slog.Logger
	Now    func() time.Time
}

// job is one daily job: run does its work for a day, at the midnight
// that ended it.
type job struct {
	name string
	run  func(j *Jobs, ctx context.Context, day string, at time.Time) error
}

// dailyJobs are the jobs, in the order each day runs them.
var dailyJobs = []job{
	{"meter-report", (*Jobs).reportUsage},
	{"retention", (*Jobs).purgeLapsed},
	{"figures", (*Jobs).recordFigures},
}

// claimFor is how long a node's claim of a day holds: longer than a day's
// run takes, so that another node takes over only from a node that died.
const claimFor = 30 * time.Minute

// RunDue runs every job for each day it has not finished, up to the day
// before now's. A job's first day is yesterday: it does not go back to
// days before it existed. A day that fails stops its job until the next
// call; the other jobs go on.
func (j *Jobs) RunDue(ctx context.Context) error {
	now := j.Now().UTC()
	yesterday := now.AddDate(0, 0, -1).Format(dream.DateLayout)
	var failures []error
	for _, jb := range dailyJobs {
		last, err := j.DB.LastFinishedDay(ctx, jb.name)
		if err != nil {
			return err
		}
		day := yesterday
		if last != "" {
			next, err := time.Parse(dream.DateLayout, last)
			if err != nil {
				return fmt.Errorf("job %s: finished day %q: %w", jb.name, last, err)
			}
			day = next.AddDate(0, 0, 1).Format(dream.DateLayout)
		}
		for ; day <= yesterday; day = nextDay(day) {
			if err := j.runDay(ctx, jb, day); err != nil {
				j.Logger.Error("daily job failed; it runs the day again at its next run", "job", jb.name, "day", day, "error", err)
				failures = append(failures, fmt.Errorf("job %s, %s: %w", jb.name, day, err))
				break
			}
		}
	}
	return errors.Join(failures...)
}

// nextDay is the day after day.
func nextDay(day string) string {
	t, _ := time.Parse(dream.DateLayout, day)
	return t.AddDate(0, 0, 1).Format(dream.DateLayout)
}

// runDay claims a job's day, runs it and marks it finished. A day another
// node holds, or finished, is skipped.
func (j *Jobs) runDay(ctx context.Context, jb job, day string) error {
	claimed, err := dream.Apply(ctx, j.Writer, dream.ClaimJobRun{Job: jb.name, Day: day, Node: j.Node, Until: j.Now().Add(claimFor)})
	if err != nil || !claimed {
		return err
	}
	start, _ := time.Parse(dream.DateLayout, day)
	if err := jb.run(j, ctx, day, start.AddDate(0, 0, 1)); err != nil {
		return err
	}
	j.Logger.Info("daily job done", "job", jb.name, "day", day)
	return j.Writer.Write(ctx, dream.FinishJobRun{Job: jb.name, Day: day}, nil)
}

// eachPlatform calls f for every platform, a page at a time.
func (j *Jobs) eachPlatform(ctx context.Context, f func(p *dream.Platform) error) error {
	after := ""
	for {
		page, err := j.DB.PlatformsAfter(ctx, after)
		if err != nil {
			return err
		}
		for i := range page {
			if err := f(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < store.PlatformPageSize {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// reportUsage sends the meter the billable end users of every developer
// whose subscription runs, counted now, as of the end of day, with the
// identifier {platformId}-{day} that Stripe deduplicates. A developer
// whose report fails is sent again at the next run; the others are not.
func (j *Jobs) reportUsage(ctx context.Context, day string, at time.Time) error {
	if j.Plan.Off {
		return nil
	}
	failed := 0
	err := j.eachPlatform(ctx, func(p *dream.Platform) error {
		if !j.Plan.Reported(p.Subscription) {
			return nil
		}
		if done, err := j.DB.MeterReported(ctx, p.ID, day); err != nil || done {
			return err
		}
		users, err := j.DB.BillableEndUsers(ctx, p.ID)
		if err != nil {
			return err
		}
		err = j.Operator.ReportUsage(ctx, dream.UsageReport{Event: j.Plan.MeterEvent, CustomerID: p.Subscription.CustomerID,
			Value: users, Identifier: p.ID + "-" + day, Timestamp: at.Add(-time.Second)})
		if err != nil {
			failed++
			j.Logger.Warn("meter report failed", "platform", p.ID, "day", day, "error", err)
			return nil
		}
		j.Logger.Info("meter report sent", "platform", p.ID, "day", day, "end_users", users)
		return j.Writer.Write(ctx, dream.RecordMeterReport{PlatformID: p.ID, Day: day, EndUsers: users}, nil)
	})
	if err == nil && failed > 0 {
		err = fmt.Errorf("%d meter reports failed", failed)
	}
	return err
}

// purgeLapsed deletes the projects of every developer whose subscription
// ended the retention period ago or more, archives their products at
// their connected accounts, and logs what it deleted.
func (j *Jobs) purgeLapsed(ctx context.Context, day string, at time.Time) error {
	return j.eachPlatform(ctx, func(p *dream.Platform) error {
		if !j.Plan.PurgeDue(p.Subscription, at) {
			return nil
		}
		archived := j.archiveProducts(ctx, p.ID)
		counts, err := dream.Apply(ctx, j.Writer, dream.PurgePlatform{PlatformID: p.ID})
		if err != nil || !counts.Purged {
			return err
		}
		j.Logger.Info("purged a lapsed developer's data", "platform", p.ID, "ended_at", p.Subscription.EndedAt,
			"projects", counts.Projects, "end_users", counts.EndUsers, "tiers", counts.Tiers, "orders", counts.Orders,
			"assets", counts.Assets, "products_archived", archived)
		return nil
	})
}

// archiveProducts archives the products of a developer's tiers at their
// connected accounts and returns how many were archived. A failure is
// logged: the rows go either way, and a product left active sells
// nothing, since no key reaches it.
func (j *Jobs) archiveProducts(ctx context.Context, platformID string) int {
	envs, err := j.DB.Environments(ctx, platformID)
	if err != nil {
		j.Logger.Warn("reading a lapsed developer's environments", "platform", platformID, "error", err)
		return 0
	}
	archived := 0
	for _, env := range envs {
		account, err := j.DB.PaymentAccount(ctx, platformID, env.Mode)
		if err != nil || account == "" {
			continue
		}
		tiers, err := j.DB.Tiers(ctx, env.ID)
		if err != nil {
			continue
		}
		for _, t := range tiers {
			if t.StripeProductID == "" {
				continue
			}
			if err := j.Catalogue.ArchiveProduct(ctx, dream.PaymentAccount{Mode: env.Mode, AccountID: account}, t.StripeProductID); err != nil {
				j.Logger.Warn("archiving a purged product", "platform", platformID, "product", t.StripeProductID, "error", err)
				continue
			}
			archived++
		}
	}
	return archived
}

// recordFigures records every environment's figures at the end of day, a
// page of environments a write.
func (j *Jobs) recordFigures(ctx context.Context, day string, at time.Time) error {
	var after int64
	for {
		ids, err := j.DB.EnvironmentIDsAfter(ctx, after)
		if err != nil {
			return err
		}
		var w dream.RecordDailyFigures
		for _, id := range ids {
			m, err := j.DB.EnvironmentMetrics(ctx, id, at.Add(-time.Second))
			if err != nil {
				return err
			}
			revenue, orders, err := j.DB.DayOrders(ctx, id, day)
			if err != nil {
				return err
			}
			w.Figures = append(w.Figures, dream.EnvironmentFigure{EnvironmentID: id, DailyFigure: dream.DailyFigure{Day: day,
				UsageThisPeriod: m.UsageThisPeriod, MRRCents: m.MRRCents, ActiveSubscriptions: m.ActiveSubscriptions,
				RevenueCents: revenue, Orders: orders}})
		}
		if len(w.Figures) > 0 {
			if err := j.Writer.Write(ctx, w, nil); err != nil {
				return err
			}
		}
		if len(ids) < store.PlatformPageSize {
			return nil
		}
		after = ids[len(ids)-1]
	}
}
