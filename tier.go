package dream

import (
	"strings"
	"time"
)

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

// DefaultCheckoutTier is the tier a subscription checkout sells when the
// request names none.
const DefaultCheckoutTier = "pro"

// CheckoutTier decides which of the environment's subscription tiers a
// checkout sells. The tier decides the price: a client may name a price,
// but only the price of one of these tiers, and the tier then follows from
// it, so nobody pays a cheap price for an expensive plan. A tier is found
// by slug or display name, ignoring case.
func CheckoutTier(tiers []Tier, name, priceID string) (*Tier, error) {
	var byPrice, byName *Tier
	for i := range tiers {
		t := &tiers[i]
		if t.BillingMode != BillingSubscription {
			continue
		}
		if priceID != "" && t.StripePriceID == priceID {
			byPrice = t
		}
		if name != "" && byName == nil && (strings.EqualFold(t.Slug, name) || strings.EqualFold(t.DisplayName, name)) {
			byName = t
		}
	}
	switch {
	case priceID != "" && byPrice == nil:
		return nil, Errorf(KindInvalid, "Invalid price", "%s is not the price of any of this project's tiers", priceID)
	case byPrice != nil && name != "" && byName != byPrice:
		return nil, Errorf(KindInvalid, "Invalid price", "%s is the price of tier %q, not %q", priceID, byPrice.Slug, name)
	case byPrice != nil:
		return byPrice, nil
	}
	if name == "" {
		return CheckoutTier(tiers, DefaultCheckoutTier, "")
	}
	if byName == nil || byName.StripePriceID == "" {
		return nil, Errorf(KindInvalid, "No price ID configured for tier: "+name,
			"This project has no subscription tier %q with a price", name)
	}
	return byName, nil
}
