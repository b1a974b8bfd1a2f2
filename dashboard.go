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
	if m.Sales > 0 {
		m.AverageOrderCents = (m.RevenueCents + int64(m.Sales)/2) / int64(m.Sales)
	}
	for _, t := range tiers {
		if t.BillingMode != BillingOneOff || t.Inventory == nil {
			continue
		}
		m.TotalInventory += *t.Inventory
		if *t.Inventory >= 1 && *t.Inventory <= LowStock {
			m.LowStockProducts++
		}
	}
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
	if m.Sales > 0 {
		m.AverageOrderCents = (m.RevenueCents + int64(m.Sales)/2) / int64(m.Sales)
	}
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
