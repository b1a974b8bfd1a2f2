package dream

import (
	"encoding/json"
	"time"
)

// Limit is the number of usage units a plan allows per usage period.
// Negative means unlimited, which is how a NULL or negative limit column and
// the wire's "unlimited" are represented.
type Limit int64

// Unlimited is the Limit of a plan without a usage cap.
const Unlimited Limit = -1

// Unlimited reports whether l has no cap.
func (l Limit) Unlimited() bool { return l < 0 }

// Admits reports whether a plan with this limit lets one more unit be
// counted after count: an unlimited plan always does, any other while count
// is below the limit. It is the one rule of every limit check; the statement
// that counts a unit at the primary applies it in SQL, generated from one
// fragment that a test holds to this.
func (l Limit) Admits(count int64) bool { return l.Unlimited() || count < int64(l) }

// Remaining is how many units are left after count, never negative, or
// Unlimited.
func (l Limit) Remaining(count int64) Limit {
	if l.Unlimited() {
		return Unlimited
	}
	return Limit(max(0, int64(l)-count))
}

// MarshalJSON writes an unlimited limit as the string "unlimited" and any
// other as its number, as the SDK expects.
func (l Limit) MarshalJSON() ([]byte, error) {
	if l.Unlimited() {
		return []byte(`"unlimited"`), nil
	}
	return json.Marshal(int64(l))
}

// UnmarshalJSON reads a number or the string "unlimited".
func (l *Limit) UnmarshalJSON(b []byte) error {
	if string(b) == `"unlimited"` || string(b) == "null" {
		*l = Unlimited
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return Errorf(KindInvalid, "Invalid limit", `limit must be a whole number or "unlimited"`)
	}
	*l = Limit(n)
	if n < 0 {
		*l = Unlimited
	}
	return nil
}

// PeriodDays is the length of a usage period. Periods are rolling windows
// that start on the UTC day of the first use after the previous period
// ended, not calendar months.
const PeriodDays = 30

// DateLayout is the wire and storage form of a period boundary.
const DateLayout = "2006-01-02"

// Period is a usage period: the UTC days Start through End inclusive.
type Period struct {
	Start time.Time
	End   time.Time
}

// PeriodStartingAt returns the period that starts on the UTC day of t.
func PeriodStartingAt(t time.Time) Period {
	y, m, d := t.UTC().Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return Period{Start: start, End: start.AddDate(0, 0, PeriodDays-1)}
}

// ParsePeriod parses stored period boundaries. Besides YYYY-MM-DD it accepts
// full RFC 3339 timestamps, the form rows imported from the original service
// may carry, and keeps only their UTC day.
func ParsePeriod(start, end string) (Period, error) {
	s, err := parseDay(start)
	if err != nil {
		return Period{}, err
	}
	e, err := parseDay(end)
	if err != nil {
		return Period{}, err
	}
	return Period{Start: s, End: e}, nil
}

func parseDay(s string) (time.Time, error) {
	if t, err := time.Parse(DateLayout, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, Errorf(KindInternal, "internal_error", "malformed period date %q", s)
	}
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
}

// EndedBy reports whether the period is over at now: now is after the last
// instant of its End day.
func (p Period) EndedBy(now time.Time) bool {
	return !now.UTC().Before(p.End.AddDate(0, 0, 1))
}

// StartString is Start as YYYY-MM-DD.
func (p Period) StartString() string { return p.Start.Format(DateLayout) }

// EndString is End as YYYY-MM-DD.
func (p Period) EndString() string { return p.End.Format(DateLayout) }

// UsageCounter is the stored count of one end user in one environment.
type UsageCounter struct {
	Count  int64
	Period Period
}

// At returns the counter as it stands at now: the stored counter while its
// period lasts, an empty counter for a new period starting today after it
// ended. A nil counter (no usage yet) is an empty new period. Reads and
// writes both go through At, so a check and an increment never disagree on
// the period.
func (c *UsageCounter) At(now time.Time) UsageCounter {
	if c == nil || c.Period.EndedBy(now) {
		return UsageCounter{Period: PeriodStartingAt(now)}
	}
	return *c
}

// Add returns the counter with n units acknowledged at time at added: the
// units count in the period of that time, so a period that had ended by
// then starts over with them. A node's units not yet applied and the
// primary's statements that apply units follow this one rule.
func (c *UsageCounter) Add(n int64, at time.Time) UsageCounter {
	next := c.At(at)
	next.Count += n
	return next
}

// Usage is an end user's usage report: what GET /api/usage answers and what
// a tracked unit returns.
type Usage struct {
	UserID string
	Plan   string
	Count  int64
	Limit  Limit
	Period Period
}

// Plan is the tier that governs an end user's usage.
type Plan struct {
	// Name is the tier's slug, or "free" when the environment has no
	// subscription tiers.
	Name  string
	Limit Limit
}

// PlanSources are the places an end user's plan can come from, in the order
// they are trusted.
type PlanSources struct {
	// Subscription is the end user's stored subscription, if any.
	Subscription *Subscription
	// AssignedPlan is the plan a developer set through the customers API.
	AssignedPlan string
	// TokenPlan is the plan claimed by the end user's token, the least
	// trusted source because it is only as fresh as the token.
	TokenPlan string
}

// ResolvePlan decides the plan of an end user among an environment's tiers:
// an entitling subscription (its price's tier, else its plan name), else the
// assigned plan, else the token's plan, else "free". A name finds its tier
// by FindTier; one that matches no tier resolves to the free tier, the
// subscription tier with the lowest price, so a stale or mistyped plan
// never locks a user out with a zero limit. Without any subscription tier
// the plan is "free" with a limit of zero.
func ResolvePlan(tiers []Tier, src PlanSources) Plan {
	// Indexes into tiers, not copies: this runs on every usage check and
	// track, and must not allocate.
	cheapest := -1
	for i := range tiers {
		if tiers[i].BillingMode == BillingSubscription && (cheapest < 0 || tiers[i].PriceCents < tiers[cheapest].PriceCents) {
			cheapest = i
		}
	}
	if cheapest < 0 {
		return Plan{Name: "free", Limit: 0}
	}
	name := "free"
	if s := src.Subscription; s != nil && s.Entitles() {
		if t := TierWithPrice(tiers, BillingSubscription, s.PriceID); t != nil {
			return Plan{Name: t.Slug, Limit: t.Limit}
		}
		name = s.Plan
	} else if src.AssignedPlan != "" {
		name = src.AssignedPlan
	} else if src.TokenPlan != "" {
		name = src.TokenPlan
	}
	t := FindTier(tiers, BillingSubscription, name)
	if t == nil {
		t = &tiers[cheapest]
	}
	return Plan{Name: t.Slug, Limit: t.Limit}
}

// UserState is what the database knows of one end user in one environment
// that plan resolution and usage need.
type UserState struct {
	// AssignedPlan is the plan set through the customers API, or "".
	AssignedPlan string
	// Subscription is nil when the user never subscribed.
	Subscription *Subscription
	// Counter is nil when the user never used the API.
	Counter *UsageCounter
}

// UsageAt is the usage report of userID at now, given the environment's
// tiers, what the database knows of the user and the plan their token
// claims.
func UsageAt(tiers []Tier, userID string, state UserState, tokenPlan string, now time.Time) Usage {
	plan := ResolvePlan(tiers, PlanSources{
		Subscription: state.Subscription,
		AssignedPlan: state.AssignedPlan,
		TokenPlan:    tokenPlan,
	})
	c := state.Counter.At(now)
	return Usage{UserID: userID, Plan: plan.Name, Count: c.Count, Limit: plan.Limit, Period: c.Period}
}
