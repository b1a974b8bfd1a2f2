package dream

import "time"

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

// PlatformGracePeriod is how long live keys keep working after a
// developer's platform subscription ended.
const PlatformGracePeriod = 7 * 24 * time.Hour

// PlatformSubscription is the state of a developer's own subscription to
// Dream API, which gates their live keys.
type PlatformSubscription struct {
	Status SubscriptionStatus
	// EndedAt is when a subscription that no longer runs stopped; zero if it
	// never ran.
	EndedAt time.Time
}

// CheckPlatformAccess applies the platform gate to a request in mode at now.
// Test keys always work, so that building on localhost is free. Live keys
// work while the platform subscription runs and for PlatformGracePeriod
// after it ended; after that, and for a developer who never subscribed, the
// answer is ErrSubscriptionExpired.
func CheckPlatformAccess(mode Mode, sub PlatformSubscription, now time.Time) error {
	if mode == ModeTest || sub.Status.Running() {
		return nil
	}
	if !sub.EndedAt.IsZero() && now.Before(sub.EndedAt.Add(PlatformGracePeriod)) {
		return nil
	}
	return ErrSubscriptionExpired
}
