package dream

import "time"

// BillingMode says how a tier is sold.
type BillingMode string

// The billing modes.
const (
	// BillingSubscription is a recurring monthly price: a SaaS or membership
	// plan.
	BillingSubscription BillingMode = "subscription"
	// BillingOneOff is a single payment: a store product.
	BillingOneOff BillingMode = "one_off"
)

// Tier is an entry of an environment's catalogue: a subscription plan with a
// usage limit, or, with BillingOneOff, a store product with optional
// inventory. The API lists both as tiers and the one-off ones as products.
type Tier struct {
	ID int64
	// Slug is the tier's stable name within its environment ("pro"); it is
	// the plan name stored for end users and the "id" on the wire.
	Slug        string
	DisplayName string
	Description string
	BillingMode BillingMode
	// PriceCents is the price in the currency's minor unit.
	PriceCents int64
	Currency   string
	Limit      Limit
	Features   []string
	Popular    bool
	ImageURL   string
	// Inventory is the stock left of a product; nil means unlimited.
	Inventory *int64
	// TrialDays is the free trial a subscription starts with; zero for none.
	TrialDays       int
	StripePriceID   string
	StripeProductID string
	CreatedAt       time.Time
}

// SoldOut reports whether a product with inventory has none left. Sold-out
// is always derived from inventory, never stored.
func (t *Tier) SoldOut() bool { return t.Inventory != nil && *t.Inventory <= 0 }
