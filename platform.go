package dream

import (
	"context"
	"net/url"
	"strings"
	"time"
)

// PlatformPlan is what developers pay the platform and the rules that
// follow from it. cmd/dream reads every figure from configuration; the
// defaults there are the published plan ($19 a month after a 14-day trial,
// $0.03 per live end user above 2,000, 7 days of grace, 30 of retention).
type PlatformPlan struct {
	// Off: this deployment charges nobody, and every platform counts as
	// active.
	Off bool
	// PriceCents is the monthly price; TrialDays the trial before it.
	PriceCents int64
	TrialDays  int
	// IncludedUsers are the billable end users the price covers;
	// OverageCents is the price of each one above them.
	IncludedUsers int64
	OverageCents  int64
	// Grace is how long live keys keep working after the subscription
	// ended; Retention how long until the developer's projects are deleted.
	Grace     time.Duration
	Retention time.Duration
	// PriceID and MeteredPriceID are the monthly and metered prices on the
	// operator's payment account; MeterEvent is the event name of the
	// billing meter of billable end users. dream billing-setup creates
	// them.
	PriceID        string
	MeteredPriceID string
	MeterEvent     string
	// Clock is the time platform billing goes by: the payment provider's,
	// whose events start and end subscriptions. It is the wall clock but in
	// dev mode, where the emulator's clock can be moved forward to watch a
	// trial end and a grace period pass. Nil means time.Now.
	Clock func() time.Time
}

// Now is the time on the plan's clock.
func (p *PlatformPlan) Now() time.Time {
	if p.Clock == nil {
		return time.Now()
	}
	return p.Clock()
}

// CheckAccess applies the platform gate to a request in mode at now. Test
// keys always work, so that building on localhost is free. Live keys work
// while the platform subscription runs and for the grace period after it
// ended; after that, and for a developer who never subscribed, the answer
// is ErrSubscriptionExpired. With billing off every key works.
func (p *PlatformPlan) CheckAccess(mode Mode, sub PlatformSubscription, now time.Time) error {
	if p.Off || mode == ModeTest || sub.Status.Running() {
		return nil
	}
	if !sub.EndedAt.IsZero() && now.Before(sub.EndedAt.Add(p.Grace)) {
		return nil
	}
	return ErrSubscriptionExpired
}

// PurgeDue reports whether a developer's projects are to be deleted at
// now: their subscription ended at least the retention period ago, is not
// running again, and they have not been deleted yet.
func (p *PlatformPlan) PurgeDue(sub PlatformSubscription, now time.Time) bool {
	return !p.Off && !sub.Status.Running() && !sub.EndedAt.IsZero() && sub.PurgedAt.IsZero() &&
		!now.Before(sub.EndedAt.Add(p.Retention))
}

// OverageCents is what billable end users cost above the included ones.
func (p *PlatformPlan) Overage(billable int64) int64 {
	return max(0, billable-p.IncludedUsers) * p.OverageCents
}

// Reported reports whether a platform in this state has its billable end
// users reported to the meter: its subscription runs (a past-due one too,
// since Stripe still bills it).
func (p *PlatformPlan) Reported(sub PlatformSubscription) bool {
	return !p.Off && sub.Status.Running() && sub.CustomerID != ""
}

// OperatorBilling is the operator's own payment account, which bills
// developers: billing.Stripe with the platform's key, the emulator in dev
// mode.
type OperatorBilling interface {
	// CreateCustomer creates the developer's customer, once.
	CreateCustomer(ctx context.Context, platformID, email string) (string, error)
	// CreatePlatformCheckout creates the checkout page of the plan for a
	// customer, with trialDays of trial (0 for none).
	CreatePlatformCheckout(ctx context.Context, c PlatformCheckout) (string, error)
	// CreatePlatformPortal creates the billing portal page of a customer.
	CreatePlatformPortal(ctx context.Context, customerID, returnURL string) (string, error)
	// ReportUsage sends the meter event of a customer's billable end users
	// at a time; identifier makes a retry count once.
	ReportUsage(ctx context.Context, u UsageReport) error
}

// PlatformCheckout is a request for the plan's checkout page.
type PlatformCheckout struct {
	PlatformID string
	CustomerID string
	// Plan is the plan sold: Stripe sells its prices by id; the emulator,
	// which has no catalogue of the operator's, shows its figures.
	Plan       *PlatformPlan
	TrialDays  int
	SuccessURL string
	CancelURL  string
}

// UsageReport is one meter event.
type UsageReport struct {
	Event      string
	CustomerID string
	Value      int64
	Identifier string
	Timestamp  time.Time
}

// PlatformWebhooks receives the platform webhook: the operator's payment
// account reporting developers' subscriptions to the plan.
type PlatformWebhooks struct {
	Verifier WebhookVerifier
	Writer   Writer
}

// ReceivePlatformEvent verifies an event and applies it. An event of a
// connected account, sent to this endpoint by mistake, is recorded and
// ignored: only the operator's own account bills developers.
func (s *PlatformWebhooks) ReceivePlatformEvent(ctx context.Context, payload []byte, signature string) (PaymentEventOutcome, error) {
	event, err := s.Verifier.VerifyWebhook(payload, signature)
	if err != nil {
		return PaymentEventOutcome{}, err
	}
	if event.Account != "" {
		event.Checkout, event.Subscription = nil, nil
	}
	outcome, err := Apply(ctx, s.Writer, ApplyPlatformEvent{Event: *event})
	outcome.Type = event.Type
	return outcome, err
}

// Errors of platform billing.
var (
	ErrPlatformBillingOff = &Error{Kind: KindNotFound, Code: "platform_billing_disabled",
		Message: "This deployment charges developers nothing: every platform counts as active"}
	ErrAlreadySubscribed = &Error{Kind: KindConflict, Code: "already_subscribed",
		Message: "The subscription runs already; change or cancel it in the billing portal (POST /v1/billing/portal)"}
	ErrNoPlatformCustomer = &Error{Kind: KindNotFound, Code: "no_subscription",
		Message: "There is no subscription to manage yet; subscribe first (POST /v1/billing/checkout)"}
)

// PlatformBillingView is a developer's subscription to the plan and what
// it costs them now.
type PlatformBillingView struct {
	Subscription PlatformSubscription
	// BillableEndUsers are the live end users of their saas and membership
	// projects now; IncludedUsers those the price covers.
	BillableEndUsers      int64
	IncludedUsers         int64
	EstimatedOverageCents int64
	PriceCents            int64
	// TrialDays is the trial a checkout would start with now: 0 once the
	// developer had theirs.
	TrialDays int
}

// Billing returns the developer's subscription and estimate.
func (c *Console) Billing(ctx context.Context, p *Platform) (*PlatformBillingView, error) {
	if c.Plan.Off {
		return nil, ErrPlatformBillingOff
	}
	users, err := c.Directory.BillableEndUsers(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return &PlatformBillingView{Subscription: p.Subscription, BillableEndUsers: users, IncludedUsers: c.Plan.IncludedUsers,
		EstimatedOverageCents: c.Plan.Overage(users), PriceCents: c.Plan.PriceCents, TrialDays: c.trialDays(p)}, nil
}

// trialDays is the trial a developer's checkout starts with: one trial per
// platform, ever.
func (c *Console) trialDays(p *Platform) int {
	if p.Subscription.TrialUsed {
		return 0
	}
	return c.Plan.TrialDays
}

// BillingCheckout returns the checkout page of the plan for the developer:
// the monthly and the metered price, their trial if they never had one, a
// card required. Their customer on the operator's account is created once
// and reused.
func (c *Console) BillingCheckout(ctx context.Context, p *Platform) (string, error) {
	if c.Plan.Off {
		return "", ErrPlatformBillingOff
	}
	if p.Subscription.Status.Running() {
		return "", ErrAlreadySubscribed
	}
	customer := p.Subscription.CustomerID
	if customer == "" {
		created, err := c.Operator.CreateCustomer(ctx, p.ID, p.Email)
		if err != nil {
			return "", err
		}
		if customer, err = Apply(ctx, c.Writer, SetPlatformCustomer{PlatformID: p.ID, CustomerID: created}); err != nil {
			return "", err
		}
	}
	return c.Operator.CreatePlatformCheckout(ctx, PlatformCheckout{PlatformID: p.ID, CustomerID: customer,
		Plan: c.Plan, TrialDays: c.trialDays(p),
		SuccessURL: c.DashboardURL + "?billing=success", CancelURL: c.DashboardURL + "?billing=canceled"})
}

// BillingPortal returns the billing portal page of the developer's
// customer, returning to returnURL, which must be on the dashboard's
// origin (the dashboard itself when empty).
func (c *Console) BillingPortal(ctx context.Context, p *Platform, returnURL string) (string, error) {
	if c.Plan.Off {
		return "", ErrPlatformBillingOff
	}
	if p.Subscription.CustomerID == "" {
		return "", ErrNoPlatformCustomer
	}
	if returnURL == "" {
		returnURL = c.DashboardURL
	}
	if err := CheckLength("returnUrl", returnURL, MaxURL); err != nil {
		return "", err
	}
	if originOf(returnURL) != originOf(c.DashboardURL) {
		return "", Errorf(KindInvalid, "invalid_return_url", "returnUrl must be on the dashboard's origin, %s", originOf(c.DashboardURL))
	}
	return c.Operator.CreatePlatformPortal(ctx, p.Subscription.CustomerID, returnURL)
}

// originOf is the scheme and host of an absolute http(s) URL, "" for
// anything else.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// DeveloperSummary is a developer as the operator's page lists them: their
// platform and its end users by mode.
type DeveloperSummary struct {
	Platform Platform
	// LiveEndUsers are those the plan bills (saas and membership);
	// TestEndUsers every end user of their test environments.
	LiveEndUsers, TestEndUsers int64
}

// OperatorDirectory is what the operator's page reads.
type OperatorDirectory interface {
	Developers(ctx context.Context, search string, offset, limit int) ([]DeveloperSummary, int64, error)
	PlatformsByStatus(ctx context.Context) (map[SubscriptionStatus]int64, error)
}

// DevelopersPageSize is how many developers a page of the operator's view
// lists.
const DevelopersPageSize = 50

// OperatorView is the operator's page: every developer by status, with what
// the platform earns from them.
type OperatorView struct {
	ByStatus map[SubscriptionStatus]int64
	// MRRCents is the monthly revenue at the configured price from the
	// developers who pay now (active and past due; trials pay nothing yet),
	// overage aside.
	MRRCents   int64
	Developers []DeveloperSummary
	Total      int64
	Offset     int
	Plan       *PlatformPlan
}

// IsAdmin reports whether the developer is one of the operator's admins:
// their email is in the configured list, ignoring case.
func (c *Console) IsAdmin(p *Platform) bool {
	for _, e := range c.AdminEmails {
		if p.Email != "" && strings.EqualFold(e, p.Email) {
			return true
		}
	}
	return false
}

// ErrNotAdmin answers a developer who is not an admin: the page does not
// exist for them.
var ErrNotAdmin = &Error{Kind: KindNotFound, Code: "not_found", Message: "No such page"}

// OperatorPage returns the operator's view for an admin: a page of developers
// whose email starts with search, and the totals.
func (c *Console) OperatorPage(ctx context.Context, p *Platform, search string, offset int) (*OperatorView, error) {
	if !c.IsAdmin(p) {
		return nil, ErrNotAdmin
	}
	if err := CheckLength("search", search, MaxEmail); err != nil {
		return nil, err
	}
	byStatus, err := c.Admin.PlatformsByStatus(ctx)
	if err != nil {
		return nil, err
	}
	offset = max(0, offset)
	list, total, err := c.Admin.Developers(ctx, strings.TrimSpace(search), offset, DevelopersPageSize)
	if err != nil {
		return nil, err
	}
	return &OperatorView{ByStatus: byStatus, MRRCents: (byStatus[StatusActive] + byStatus[StatusPastDue]) * c.Plan.PriceCents,
		Developers: list, Total: total, Offset: offset, Plan: c.Plan}, nil
}
