package dream

import (
	"math"
	"time"
)

// SubscriptionStatus is the state of a subscription as the payment provider
// reports it (Stripe's statuses), plus "none" for a developer who never
// subscribed to the platform.
type SubscriptionStatus string

// The subscription statuses.
const (
	StatusNone              SubscriptionStatus = "none"
	StatusTrialing          SubscriptionStatus = "trialing"
	StatusActive            SubscriptionStatus = "active"
	StatusPastDue           SubscriptionStatus = "past_due"
	StatusCanceled          SubscriptionStatus = "canceled"
	StatusIncomplete        SubscriptionStatus = "incomplete"
	StatusIncompleteExpired SubscriptionStatus = "incomplete_expired"
	StatusUnpaid            SubscriptionStatus = "unpaid"
	StatusPaused            SubscriptionStatus = "paused"
)

// Running reports whether a subscription in this status grants what it pays
// for: trialing, active and past due (while the provider retries payment).
// Every other status, incomplete and paused included, does not.
func (s SubscriptionStatus) Running() bool {
	return s == StatusTrialing || s == StatusActive || s == StatusPastDue
}

// Subscription is an end user's subscription to a tier of an environment,
// as the payment provider last reported it.
type Subscription struct {
	// ID is the provider's subscription id ("sub_…").
	ID         string
	CustomerID string
	// Plan is the slug of the tier the subscription is for.
	Plan string
	// PriceID is the price the subscription's item is on; when it names one
	// of the environment's tiers, that tier is the plan.
	PriceID     string
	ProductID   string
	AmountCents int64
	Currency    string
	Status      SubscriptionStatus
	// CancelAtPeriodEnd is set while a cancellation is scheduled; the
	// subscription runs until CurrentPeriodEnd and shows as canceling.
	CancelAtPeriodEnd bool
	CurrentPeriodEnd  time.Time
	TrialEnd          time.Time
	CanceledAt        time.Time
	CancelReason      string
	// Version orders the provider's reports of the subscription, so that an
	// older state delivered late never overwrites a newer one.
	Version int64
}

// Entitles reports whether the subscription decides the end user's plan.
func (s *Subscription) Entitles() bool { return s.Status.Running() }

// DisplayStatus is the status shown to people: "canceling" for a running
// subscription with a scheduled cancellation, else the provider's status.
func (s *Subscription) DisplayStatus() string {
	if s.CancelAtPeriodEnd && s.Status.Running() {
		return "canceling"
	}
	return string(s.Status)
}

// PlatformSubscription is the state of a developer's own subscription to
// Dream API, which gates their live keys.
type PlatformSubscription struct {
	Status SubscriptionStatus
	// EndedAt is when a subscription that no longer runs stopped; zero if it
	// never ran or runs.
	EndedAt time.Time
	// TrialEndsAt and CurrentPeriodEnd are the provider's, zero if unknown.
	TrialEndsAt      time.Time
	CurrentPeriodEnd time.Time
	// CustomerID is the developer's customer on the operator's payment
	// account, created once and reused; SubscriptionID their subscription.
	CustomerID     string
	SubscriptionID string
	// TrialUsed: the developer had their one trial.
	TrialUsed bool
	// PurgedAt is when the retention job deleted their projects.
	PurgedAt time.Time
}

// TrialDaysLeft is how many days, a part counting as one, the running
// trial has left at now; -1 when no trial runs.
func (s PlatformSubscription) TrialDaysLeft(now time.Time) int {
	if s.Status != StatusTrialing || s.TrialEndsAt.IsZero() {
		return -1
	}
	return max(0, int(math.Ceil(s.TrialEndsAt.Sub(now).Hours()/24)))
}
