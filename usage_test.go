package dream_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

func day(s string) time.Time {
	t, err := time.Parse(dream.DateLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestPeriodStartingAt(t *testing.T) {
	for _, tt := range []struct {
		name, at, start, end string
	}{
		{"MidMonth", "2025-01-15T10:00:00Z", "2025-01-15", "2025-02-13"},
		{"AcrossYearEnd", "2025-12-20T23:59:59Z", "2025-12-20", "2026-01-18"},
		{"LeapFebruary", "2024-02-15T00:00:00Z", "2024-02-15", "2024-03-15"},
		{"CommonFebruary", "2025-02-15T00:00:00Z", "2025-02-15", "2025-03-16"},
		{"LeapDay", "2024-02-29T12:00:00Z", "2024-02-29", "2024-03-29"},
		{"MonthEnd31", "2025-01-31T08:00:00Z", "2025-01-31", "2025-03-01"},
		{"OffsetIsUTCDay", "2025-03-01T01:30:00+03:00", "2025-02-28", "2025-03-29"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			at, err := time.Parse(time.RFC3339, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			p := dream.PeriodStartingAt(at)
			if p.StartString() != tt.start || p.EndString() != tt.end {
				t.Fatalf("the usage period starting at %s is %s..%s, want %s..%s", tt.at, p.StartString(), p.EndString(), tt.start, tt.end)
			}
			if got := p.End.Sub(p.Start); got != (dream.PeriodDays-1)*24*time.Hour {
				t.Fatalf("the usage period spans %v from first to last day, want %d days less one", got, dream.PeriodDays)
			}
		})
	}
}

func TestPeriod_EndedBy(t *testing.T) {
	p := dream.Period{Start: day("2025-01-15"), End: day("2025-02-13")}
	for _, tt := range []struct {
		at    string
		ended bool
	}{
		{"2025-01-15T00:00:00Z", false},
		{"2025-02-13T23:59:59.999Z", false},
		{"2025-02-14T00:00:00Z", true},
		{"2026-01-01T00:00:00Z", true},
	} {
		at, _ := time.Parse(time.RFC3339Nano, tt.at)
		if got := p.EndedBy(at); got != tt.ended {
			t.Errorf("the period 2025-01-15..2025-02-13 ended by %s: %v, want %v", tt.at, got, tt.ended)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	t.Run("Dates", func(t *testing.T) {
		p, err := dream.ParsePeriod("2025-01-15", "2025-02-13")
		if err != nil || p.StartString() != "2025-01-15" || p.EndString() != "2025-02-13" {
			t.Fatalf("parsing the dates 2025-01-15 and 2025-02-13: period %v, error %v; want the same days", p, err)
		}
	})
	t.Run("ImportedTimestamps", func(t *testing.T) {
		// Rows of the original sign-up worker carry calendar-month ISO
		// timestamps; they must still expire.
		p, err := dream.ParsePeriod("2025-01-01T00:00:00.000Z", "2025-01-31T00:00:00.000Z")
		if err != nil || p.StartString() != "2025-01-01" || p.EndString() != "2025-01-31" {
			t.Fatalf("parsing imported timestamps: period %v, error %v; want 2025-01-01..2025-01-31", p, err)
		}
		if !p.EndedBy(day("2025-02-01")) {
			t.Fatal("an imported period of January has not ended by 2025-02-01, want it ended")
		}
	})
	t.Run("Garbage", func(t *testing.T) {
		if _, err := dream.ParsePeriod("yesterday", "2025-01-31"); err == nil {
			t.Fatal("parsing the start date \"yesterday\" gave no error, want it refused")
		}
	})
}

func TestUsageCounter_At(t *testing.T) {
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	t.Run("NeverUsed", func(t *testing.T) {
		var c *dream.UsageCounter
		got := c.At(now)
		if got.Count != 0 || got.Period.StartString() != "2025-03-10" || got.Period.EndString() != "2025-04-08" {
			t.Fatalf("an end user who never used the API reads %+v, want 0 units in 2025-03-10..2025-04-08", got)
		}
	})
	t.Run("CurrentPeriodKept", func(t *testing.T) {
		c := &dream.UsageCounter{Count: 7, Period: dream.PeriodStartingAt(now.AddDate(0, 0, -29))}
		if got := c.At(now); got != *c {
			t.Fatalf("a counter in its current period reads %+v, want it as stored, %+v", got, *c)
		}
	})
	t.Run("EndedPeriodReadsEmpty", func(t *testing.T) {
		c := &dream.UsageCounter{Count: 7, Period: dream.PeriodStartingAt(now.AddDate(0, 0, -30))}
		got := c.At(now)
		if got.Count != 0 || got.Period.StartString() != "2025-03-10" {
			t.Fatalf("a counter of an ended period reads %+v, want 0 units in a period from 2025-03-10", got)
		}
	})
}

func TestLimit(t *testing.T) {
	t.Run("Remaining", func(t *testing.T) {
		if got := dream.Limit(100).Remaining(30); got != 70 {
			t.Errorf("a limit of 100 after 30 units leaves %d, want 70", got)
		}
		if got := dream.Limit(100).Remaining(130); got != 0 {
			t.Errorf("a limit of 100 after 130 units leaves %d, want 0", got)
		}
		if got := dream.Unlimited.Remaining(5); !got.Unlimited() {
			t.Errorf("an unlimited plan after 5 units leaves %d, want unlimited", got)
		}
	})
	t.Run("JSON", func(t *testing.T) {
		for _, tt := range []struct {
			limit dream.Limit
			json  string
		}{{100, `100`}, {0, `0`}, {dream.Unlimited, `"unlimited"`}, {-7, `"unlimited"`}} {
			b, err := json.Marshal(tt.limit)
			if err != nil || string(b) != tt.json {
				t.Errorf("the limit %d in JSON is %s, error %v; want %s", tt.limit, b, err, tt.json)
			}
		}
		for _, tt := range []struct {
			json string
			want dream.Limit
		}{{`100`, 100}, {`"unlimited"`, dream.Unlimited}, {`null`, dream.Unlimited}, {`-1`, dream.Unlimited}} {
			var l dream.Limit
			if err := json.Unmarshal([]byte(tt.json), &l); err != nil || l != tt.want {
				t.Errorf("the JSON limit %s reads as %d, error %v; want %d", tt.json, l, err, tt.want)
			}
		}
		var l dream.Limit
		if err := json.Unmarshal([]byte(`"lots"`), &l); err == nil {
			t.Errorf("the JSON limit \"lots\" reads as %d with no error, want it refused", l)
		}
	})
}

// saasTiers is a SaaS catalogue with one product mixed in, which is never a
// plan.
func saasTiers() []dream.Tier {
	return []dream.Tier{
		{Slug: "pro", DisplayName: "Pro Plan", BillingMode: dream.BillingSubscription, PriceCents: 2900, Limit: 10000, StripePriceID: "price_pro"},
		{Slug: "sticker", DisplayName: "Sticker", BillingMode: dream.BillingOneOff, PriceCents: 0, Limit: dream.Unlimited, StripePriceID: "price_sticker"},
		{Slug: "free", DisplayName: "Free", BillingMode: dream.BillingSubscription, PriceCents: 0, Limit: 100, StripePriceID: "price_free"},
		{Slug: "enterprise", DisplayName: "Enterprise", BillingMode: dream.BillingSubscription, PriceCents: 9900, Limit: dream.Unlimited, StripePriceID: "price_ent"},
	}
}

func TestResolvePlan(t *testing.T) {
	sub := func(status dream.SubscriptionStatus, plan, price string) *dream.Subscription {
		return &dream.Subscription{Status: status, Plan: plan, PriceID: price}
	}
	for _, tt := range []struct {
		name  string
		src   dream.PlanSources
		want  string
		limit dream.Limit
	}{
		{"NothingKnownIsFree", dream.PlanSources{}, "free", 100},
		{"TokenPlan", dream.PlanSources{TokenPlan: "pro"}, "pro", 10000},
		{"TokenPlanIgnoresCase", dream.PlanSources{TokenPlan: "PRO"}, "pro", 10000},
		{"DisplayNameMatches", dream.PlanSources{TokenPlan: "pro plan"}, "pro", 10000},
		{"AssignedBeatsToken", dream.PlanSources{AssignedPlan: "enterprise", TokenPlan: "pro"}, "enterprise", dream.Unlimited},
		{"ActiveSubscriptionBeatsAll", dream.PlanSources{Subscription: sub(dream.StatusActive, "pro", "price_pro"), AssignedPlan: "free", TokenPlan: "free"}, "pro", 10000},
		{"TrialingEntitles", dream.PlanSources{Subscription: sub(dream.StatusTrialing, "enterprise", "")}, "enterprise", dream.Unlimited},
		{"PastDueEntitles", dream.PlanSources{Subscription: sub(dream.StatusPastDue, "pro", "price_pro")}, "pro", 10000},
		{"PriceDecidesOverPlanName", dream.PlanSources{Subscription: sub(dream.StatusActive, "pro", "price_ent")}, "enterprise", dream.Unlimited},
		{"CanceledFallsThrough", dream.PlanSources{Subscription: sub(dream.StatusCanceled, "pro", "price_pro"), TokenPlan: "enterprise"}, "enterprise", dream.Unlimited},
		{"IncompleteFallsThrough", dream.PlanSources{Subscription: sub(dream.StatusIncomplete, "pro", "price_pro")}, "free", 100},
		{"UnknownPlanIsFreeTier", dream.PlanSources{TokenPlan: "platinum"}, "free", 100},
		{"ProductIsNeverAPlan", dream.PlanSources{TokenPlan: "sticker"}, "free", 100},
		{"UnknownSubscriptionPlanIsFreeTier", dream.PlanSources{Subscription: sub(dream.StatusActive, "gold", "price_elsewhere")}, "free", 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := dream.ResolvePlan(saasTiers(), tt.src)
			if got.Name != tt.want || got.Limit != tt.limit {
				t.Fatalf("the plan resolved from %+v is %+v, want %s with limit %d", tt.src, got, tt.want, tt.limit)
			}
		})
	}
	t.Run("AllocatesNothing", func(t *testing.T) {
		// It runs on every usage check and track.
		tiers := saasTiers()
		src := dream.PlanSources{Subscription: sub(dream.StatusActive, "gold", "price_elsewhere"), TokenPlan: "pro"}
		if n := testing.AllocsPerRun(100, func() { dream.ResolvePlan(tiers, src) }); n != 0 {
			t.Fatalf("resolving a plan made %v allocations per call, want none", n)
		}
	})
	t.Run("FreeTierIsCheapestWhateverItsName", func(t *testing.T) {
		tiers := []dream.Tier{
			{Slug: "plus", BillingMode: dream.BillingSubscription, PriceCents: 1900, Limit: 500},
			{Slug: "starter", BillingMode: dream.BillingSubscription, PriceCents: 500, Limit: 50},
		}
		if got := dream.ResolvePlan(tiers, dream.PlanSources{TokenPlan: "free"}); got.Name != "starter" || got.Limit != 50 {
			t.Fatalf("the free plan among plus and starter resolved to %+v, want the cheapest, starter with limit 50", got)
		}
	})
	t.Run("NoSubscriptionTiers", func(t *testing.T) {
		got := dream.ResolvePlan([]dream.Tier{{Slug: "mug", BillingMode: dream.BillingOneOff}}, dream.PlanSources{TokenPlan: "pro"})
		if got.Name != "free" || got.Limit != 0 {
			t.Fatalf("a plan in a catalogue of products only resolved to %+v, want free with limit 0", got)
		}
	})
}

func TestUsageAt(t *testing.T) {
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	state := dream.UserState{
		AssignedPlan: "pro",
		Counter:      &dream.UsageCounter{Count: 42, Period: dream.PeriodStartingAt(now.AddDate(0, 0, -3))},
	}
	u := dream.UsageAt(saasTiers(), "user_1", state, "free", now)
	if u.UserID != "user_1" || u.Plan != "pro" || u.Count != 42 || u.Limit != 10000 || u.Period.StartString() != "2025-03-07" {
		t.Fatalf("the usage of user_1 assigned pro is %+v, want 42 of 10000 on pro in a period from 2025-03-07", u)
	}
	// A plan change never resets the count.
	state.AssignedPlan = "enterprise"
	if u := dream.UsageAt(saasTiers(), "user_1", state, "", now); u.Count != 42 || !u.Limit.Unlimited() {
		t.Fatalf("after a change to enterprise the usage is %+v, want still 42 units, unlimited", u)
	}
}

func TestLimit_Admits(t *testing.T) {
	for _, tt := range []struct {
		limit dream.Limit
		count int64
		want  bool
	}{
		{100, 0, true}, {100, 99, true}, {100, 100, false}, {100, 150, false},
		{0, 0, false}, {1, 0, true}, {1, 1, false},
		{dream.Unlimited, 0, true}, {dream.Unlimited, 1 << 40, true}, {-7, 5, true},
	} {
		if got := tt.limit.Admits(tt.count); got != tt.want {
			t.Errorf("limit %d admits a unit after %d: %v, want %v", tt.limit, tt.count, got, tt.want)
		}
	}
}

func TestUsageCounter_Add(t *testing.T) {
	at := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name    string
		counter *dream.UsageCounter
		n       int64
		want    dream.UsageCounter
	}{
		{"FirstUnits", nil, 3, dream.UsageCounter{Count: 3, Period: dream.PeriodStartingAt(at)}},
		{"SamePeriod", &dream.UsageCounter{Count: 7, Period: dream.PeriodStartingAt(at.AddDate(0, 0, -29))}, 2,
			dream.UsageCounter{Count: 9, Period: dream.PeriodStartingAt(at.AddDate(0, 0, -29))}},
		{"EndedPeriodStartsOver", &dream.UsageCounter{Count: 7, Period: dream.PeriodStartingAt(at.AddDate(0, 0, -30))}, 2,
			dream.UsageCounter{Count: 2, Period: dream.PeriodStartingAt(at)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.counter.Add(tt.n, at); got != tt.want {
				t.Fatalf("adding %d units: %d in %s..%s, want %d in %s..%s", tt.n, got.Count, got.Period.StartString(), got.Period.EndString(),
					tt.want.Count, tt.want.Period.StartString(), tt.want.Period.EndString())
			}
		})
	}
}
