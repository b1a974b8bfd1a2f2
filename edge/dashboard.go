package edge

import (
	"context"
	"net/http"
	"time"

	"github.com/dream-api/dream"
)

// recentWebhookEvents is how many events the dashboard shows.
const recentWebhookEvents = 20

// isoTime is a time in the dashboard's JSON: RFC 3339, null when zero.
func isoTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

// dashboardCustomer is a customer row of the dashboard: the original
// server's fields, with the SDK's names (id, usage, renewsAt) beside them.
type dashboardCustomer struct {
	ID               string      `json:"id"`
	UserID           string      `json:"userId"`
	Email            *string     `json:"email"`
	Plan             string      `json:"plan"`
	Status           string      `json:"status"`
	Usage            int64       `json:"usage"`
	UsageCount       int64       `json:"usageCount"`
	Limit            dream.Limit `json:"limit"`
	PeriodStart      *string     `json:"periodStart"`
	PeriodEnd        *string     `json:"periodEnd"`
	RenewsAt         *string     `json:"renewsAt"`
	CurrentPeriodEnd *string     `json:"currentPeriodEnd"`
	CanceledAt       *string     `json:"canceledAt"`
	SubscriptionID   *string     `json:"subscriptionId"`
	StripeCustomerID *string     `json:"stripeCustomerId"`
	PriceID          *string     `json:"priceId"`
	ProductID        *string     `json:"productId"`
	Amount           *int64      `json:"amount"`
	Currency         *string     `json:"currency"`
	PublishableKey   string      `json:"publishableKey"`
}

// dashboardTier is a tier row of the dashboard; here "name" is the slug.
type dashboardTier struct {
	Name           string            `json:"name"`
	DisplayName    string            `json:"displayName"`
	Price          int64             `json:"price"`
	Limit          dream.Limit       `json:"limit"`
	PriceID        *string           `json:"priceId"`
	ProductID      *string           `json:"productId"`
	Features       []string          `json:"features"`
	Popular        bool              `json:"popular"`
	Inventory      *int64            `json:"inventory"`
	Reserved       int64             `json:"reserved"`
	SoldOut        bool              `json:"soldOut"`
	BillingMode    dream.BillingMode `json:"billingMode"`
	PublishableKey string            `json:"publishableKey,omitempty"`
	ProjectType    dream.ProjectType `json:"projectType,omitempty"`
}

// dashboardTierOf is a tier's row, without the environment's key and type.
func dashboardTierOf(t *dream.Tier) dashboardTier {
	return dashboardTier{
		Name: t.Slug, DisplayName: t.DisplayName, Price: t.PriceCents, Limit: t.Limit,
		PriceID: optional(t.StripePriceID), ProductID: optional(t.StripeProductID), Features: features(t),
		Popular: t.Popular, Inventory: t.Inventory, Reserved: t.Reserved, SoldOut: t.SoldOut(), BillingMode: t.BillingMode,
	}
}

// dashboardOrder is an order row: the SDK's fields and ours.
type dashboardOrder struct {
	ID        string           `json:"id"`
	Customer  string           `json:"customer"`
	Email     string           `json:"email"`
	Amount    int64            `json:"amount"`
	Currency  string           `json:"currency"`
	PaymentID string           `json:"paymentId"`
	SessionID string           `json:"sessionId"`
	Date      string           `json:"date"`
	Items     []dream.LineItem `json:"items"`
	// Oversold: the order was paid for stock there was none of, took
	// nothing from stock, and is refunded (RefundID, once it is).
	Oversold bool    `json:"oversold"`
	RefundID *string `json:"refundId"`
}

// handleDashboard answers GET /api/dashboard for the secret key's scope:
// the figures, customers, catalogue, keys and webhook events of one project
// environment, computed from the database. It carries the original
// server's metrics/webhook objects and the SDK's top-level names.
func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx, env := r.Context(), req.scope
	s.tally.AwaitShipped(ctx, env.ID)
	tiers, err := s.db.Tiers(ctx, env.ID)
	if err != nil {
		return err
	}
	customers, err := s.db.Customers(ctx, env.ID)
	if err != nil {
		return err
	}
	orders, err := s.db.Orders(ctx, env.ID)
	if err != nil {
		return err
	}
	events, err := s.db.WebhookEvents(ctx, env.ID, recentWebhookEvents)
	if err != nil {
		return err
	}
	keys, err := s.dashboardKeys(ctx, env)
	if err != nil {
		return err
	}
	now := s.now()
	m := dream.ComputeMetrics(tiers, customers, orders, now)

	customerRows := make([]dashboardCustomer, 0, len(customers))
	for _, c := range customers {
		customerRows = append(customerRows, customerRow(env, tiers, c, now))
	}
	tierRows := make([]dashboardTier, 0, len(tiers))
	for i := range tiers {
		row := dashboardTierOf(&tiers[i])
		row.PublishableKey, row.ProjectType = env.PublishableKey, env.Project.Type
		tierRows = append(tierRows, row)
	}
	recent := make([]map[string]any, 0, len(events))
	recentEvents := make([]map[string]any, 0, len(events))
	var lastEventAt *string
	for i, e := range events {
		if i == 0 {
			lastEventAt = isoTime(e.ReceivedAt)
		}
		recent = append(recent, map[string]any{"type": e.Type, "createdAt": isoTime(e.ReceivedAt), "outcome": e.Outcome, "payload": e.Payload})
		recentEvents = append(recentEvents, map[string]any{"type": e.Type, "timestamp": isoTime(e.ReceivedAt), "outcome": e.Outcome})
	}

	body := map[string]any{
		"metrics": map[string]any{
			"activeSubs": m.ActiveSubscriptions, "cancelingSubs": m.CancelingSubscriptions, "mrr": m.MRRCents,
			"usageThisPeriod": m.UsageThisPeriod, "storeSalesCount": m.Sales, "storeTotalRevenue": m.RevenueCents,
			"lowStockProducts": m.LowStockProducts, "totalInventory": m.TotalInventory,
		},
		"customers": customerRows,
		"tiers":     tierRows,
		"keys":      keys,
		"webhook":   map[string]any{"lastEventAt": lastEventAt, "recent": recent},
		"filters":   map[string]any{"platformId": env.Project.PlatformID, "publishableKey": env.PublishableKey, "mode": env.Mode},

		"activeSubscriptions":    m.ActiveSubscriptions,
		"cancelingSubscriptions": m.CancelingSubscriptions,
		"mrr":                    m.MRRCents,
		"usageThisPeriod":        m.UsageThisPeriod,
		"webhookStatus": map[string]any{
			"url": requestBase(r).String() + "/webhook/stripe", "lastEvent": lastEventAt, "recentEvents": recentEvents,
		},
	}
	if env.Project.Type == dream.ProjectStore {
		body["totalRevenue"], body["totalSales"], body["avgOrderValue"] = m.RevenueCents, m.Sales, m.AverageOrderCents
		body["products"] = productList(tiers)
		orderRows := make([]dashboardOrder, 0, len(orders))
		for _, o := range orders {
			orderRows = append(orderRows, dashboardOrder{
				ID: o.ID, Customer: o.Email, Email: o.Email, Amount: o.AmountCents, Currency: o.Currency,
				PaymentID: o.StripePaymentIntentID, SessionID: o.StripeSessionID, Date: *isoTime(o.CreatedAt), Items: o.Items,
				Oversold: o.Oversold, RefundID: optional(o.RefundID),
			})
		}
		body["orders"] = orderRows
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// customerRow is one customer of the dashboard at now.
func customerRow(env *dream.Environment, tiers []dream.Tier, c dream.Customer, now time.Time) dashboardCustomer {
	plan := dream.ResolvePlan(tiers, dream.PlanSources{Subscription: c.State.Subscription, AssignedPlan: c.State.AssignedPlan})
	usage := c.State.Counter.At(now)
	row := dashboardCustomer{
		ID: c.UserID, UserID: c.UserID, Email: optional(c.Email), Plan: plan.Name, Status: "none",
		Usage: usage.Count, UsageCount: usage.Count, Limit: plan.Limit,
		StripeCustomerID: optional(c.StripeCustomerID), PublishableKey: env.PublishableKey,
	}
	if c.State.Counter != nil {
		start, end := usage.Period.StartString(), usage.Period.EndString()
		row.PeriodStart, row.PeriodEnd = &start, &end
	}
	if s := c.State.Subscription; s != nil {
		row.Status = s.DisplayStatus()
		row.CurrentPeriodEnd, row.CanceledAt = isoTime(s.CurrentPeriodEnd), isoTime(s.CanceledAt)
		if s.Status.Running() && !s.CancelAtPeriodEnd {
			row.RenewsAt = row.CurrentPeriodEnd
		}
		row.SubscriptionID, row.PriceID, row.ProductID, row.Currency = optional(s.ID), optional(s.PriceID), optional(s.ProductID), optional(s.Currency)
		if s.CustomerID != "" {
			row.StripeCustomerID = optional(s.CustomerID)
		}
		amount := s.AmountCents
		row.Amount = &amount
	}
	return row
}

// dashboardKeys is the dashboard's keys object: the scope's publishable
// key, the secret key masked (it is never shown again), the platform's
// environments of this mode and its connected account.
func (s *Server) dashboardKeys(ctx context.Context, env *dream.Environment) (map[string]any, error) {
	envs, err := s.db.Environments(ctx, env.Project.PlatformID)
	if err != nil {
		return nil, err
	}
	apiKeys := []map[string]any{}
	for _, e := range envs {
		if e.Mode != env.Mode {
			continue
		}
		apiKeys = append(apiKeys, map[string]any{"publishableKey": e.PublishableKey, "createdAt": isoTime(e.Project.CreatedAt),
			"status": "active", "name": e.Project.Name, "projectType": e.Project.Type, "mode": e.Mode})
	}
	account, err := s.db.PaymentAccount(ctx, env.Project.PlatformID, env.Mode)
	if err != nil {
		return nil, err
	}
	return map[string]any{"publishableKey": env.PublishableKey, "secretKeyMasked": "********",
		"platformId": env.Project.PlatformID, "apiKeys": apiKeys, "stripeAccountId": optional(account)}, nil
}

// handleDashboardTotals answers GET /api/dashboard/totals: the figures of
// every live project of the secret key's platform, whatever the key's mode.
func (s *Server) handleDashboardTotals(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	platformID := req.key.Project.PlatformID
	envs, err := s.db.Environments(ctx, platformID)
	if err != nil {
		return err
	}
	ids := make([]int64, len(envs))
	for i, e := range envs {
		ids[i] = e.ID
	}
	s.tally.AwaitShipped(ctx, ids...)
	var total dream.Metrics
	var products, liveProjects, customers int
	now := s.now()
	for i := range envs {
		env := &envs[i]
		if env.Mode != dream.ModeLive {
			continue
		}
		tiers, err := s.db.Tiers(ctx, env.ID)
		if err != nil {
			return err
		}
		cs, err := s.db.Customers(ctx, env.ID)
		if err != nil {
			return err
		}
		orders, err := s.db.Orders(ctx, env.ID)
		if err != nil {
			return err
		}
		total = total.Add(dream.ComputeMetrics(tiers, cs, orders, now))
		liveProjects++
		products += len(tiers)
		customers += len(cs)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"totals": map[string]any{"mrr": total.MRRCents, "activeSubs": total.ActiveSubscriptions,
			"cancelingSubs": total.CancelingSubscriptions, "totalProducts": products, "liveProjects": liveProjects},
		"platformId":     platformID,
		"totalRevenue":   total.RevenueCents,
		"totalCustomers": customers,
		"totalMRR":       total.MRRCents,
	})
	return nil
}
