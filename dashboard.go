package dream

import (
	"encoding/json"
	"time"
)

// Metrics are the figures of one project environment on the developer's
// dashboard.
type Metrics struct {
	// ActiveSubscriptions counts running subscriptions (trialing, active,
	// past due), canceling ones included: they run until their period ends.
	ActiveSubscriptions int
	// CancelingSubscriptions counts running subscriptions with a scheduled
	// cancellation.
	CancelingSubscriptions int
	// MRRCents is monthly recurring revenue: the monthly prices of active
	// and past-due subscriptions. Trials pay nothing yet and are left out.
	MRRCents int64
	// UsageThisPeriod is the units end users used in their current usage
	// periods; periods that ended count for nothing.
	UsageThisPeriod int64
	// RevenueCents, Sales and AverageOrderCents are over paid store
	// orders, oversold ones (refunded) left out.
	RevenueCents      int64
	Sales             int
	AverageOrderCents int64
	// LowStockProducts counts products with 1 to LowStock left;
	// TotalInventory sums the stock of products that have inventory.
	LowStockProducts int
	TotalInventory   int64
}

// LowStock is the stock at or under which a product counts as running low.
const LowStock = 5

// ComputeMetrics computes an environment's metrics at now.
func ComputeMetrics(tiers []Tier, customers []Customer, orders []Order, now time.Time) Metrics {
	var m Metrics
	for _, c := range customers {
		if s := c.State.Subscription; s != nil && s.Status.Running() {
			m.ActiveSubscriptions++
			if s.CancelAtPeriodEnd {
				m.CancelingSubscriptions++
			}
			if s.Status != StatusTrialing {
				m.MRRCents += s.AmountCents
			}
		}
		m.UsageThisPeriod += c.State.Counter.At(now).Count
	}
	for _, o := range orders {
		if o.Oversold {
			// Refunded: no sale.
			continue
		}
		m.RevenueCents += o.AmountCents
		m.Sales++
	}
	m.AverageOrderCents = AverageOrderCents(m.RevenueCents, m.Sales)
	m.addCatalogue(tiers)
	return m
}

// AverageOrderCents is the average of sales orders that took revenue in
// all, rounded to the nearest cent; zero without sales.
func AverageOrderCents(revenue int64, sales int) int64 {
	if sales <= 0 {
		return 0
	}
	return (revenue + int64(sales)/2) / int64(sales)
}

// addCatalogue adds the stock figures of a catalogue.
func (m *Metrics) addCatalogue(tiers []Tier) {
	for _, t := range tiers {
		if t.BillingMode != BillingOneOff || t.Inventory == nil {
			continue
		}
		m.TotalInventory += *t.Inventory
		if *t.Inventory >= 1 && *t.Inventory <= LowStock {
			m.LowStockProducts++
		}
	}
}

// WithCatalogue returns m with the stock figures of tiers, for figures
// the database summed without them.
func (m Metrics) WithCatalogue(tiers []Tier) Metrics {
	m.LowStockProducts, m.TotalInventory = 0, 0
	m.addCatalogue(tiers)
	return m
}

// Add sums two environments' metrics, for the platform's totals.
func (m Metrics) Add(o Metrics) Metrics {
	m.ActiveSubscriptions += o.ActiveSubscriptions
	m.CancelingSubscriptions += o.CancelingSubscriptions
	m.MRRCents += o.MRRCents
	m.UsageThisPeriod += o.UsageThisPeriod
	m.RevenueCents += o.RevenueCents
	m.Sales += o.Sales
	m.LowStockProducts += o.LowStockProducts
	m.TotalInventory += o.TotalInventory
	m.AverageOrderCents = AverageOrderCents(m.RevenueCents, m.Sales)
	return m
}

// WebhookEvent is a recorded payment webhook event with what applying it
// did.
type WebhookEvent struct {
	ID   string
	Type string
	// Outcome is EventProcessed or EventIgnored.
	Outcome    string
	CreatedAt  time.Time
	ReceivedAt time.Time
	Payload    json.RawMessage
}

// DailyFigure is an environment's figures at the end of a day, which the
// dashboard's charts draw.
type DailyFigure struct {
	Day                 string `json:"day"`
	UsageThisPeriod     int64  `json:"usageThisPeriod"`
	MRRCents            int64  `json:"mrrCents"`
	ActiveSubscriptions int    `json:"activeSubscriptions"`
	// RevenueCents and Orders are the paid orders of that day.
	RevenueCents int64 `json:"revenueCents"`
	Orders       int   `json:"orders"`
}
