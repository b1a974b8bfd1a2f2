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
	// Reserved is how much of the inventory checkouts not yet paid hold.
	Reserved int64
	// TrialDays is the free trial a subscription starts with; zero for none.
	TrialDays       int
	StripePriceID   string
	StripeProductID string
	CreatedAt       time.Time
}

// checkBounds refuses a tier with a text field past its bound.
func (t *Tier) checkBounds() error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"name", t.Slug, MaxSlug}, {"displayName", t.DisplayName, MaxName}, {"description", t.Description, MaxDescription},
		{"imageUrl", t.ImageURL, MaxURL}, {"priceId", t.StripePriceID, MaxID}, {"productId", t.StripeProductID, MaxID},
	} {
		if err := CheckLength(f.name, f.value, f.max); err != nil {
			return err
		}
	}
	if len(t.Features) > MaxFeatures {
		return Errorf(KindInvalid, "Field too long", "a tier lists at most %d features, not %d", MaxFeatures, len(t.Features)).For("features")
	}
	for _, f := range t.Features {
		if len(f) > MaxName {
			return Errorf(KindInvalid, "Field too long", "a feature is at most %d bytes, not %d", MaxName, len(f)).For("features")
		}
	}
	return nil
}

// FindTier is the tier sold in billing mode that name names, nil if none.
// It is the one rule for naming a tier, whatever names it: a plan stored
// for an end user or claimed by their token, a tier asked for at checkout,
// a plan a developer assigns, a product in a cart. A tier whose slug is name
// wins; else the first whose display name is name; case is ignored in both.
// So a tier displayed as "Pro" never takes the plan of the tier whose slug
// is "pro".
func FindTier(tiers []Tier, mode BillingMode, name string) *Tier {
	if name == "" {
		return nil
	}
	for i := range tiers {
		if t := &tiers[i]; t.BillingMode == mode && strings.EqualFold(t.Slug, name) {
			return t
		}
	}
	for i := range tiers {
		if t := &tiers[i]; t.BillingMode == mode && strings.EqualFold(t.DisplayName, name) {
			return t
		}
	}
	return nil
}

// TierWithPrice is the tier sold in billing mode whose price at the payment
// provider is priceID, nil if none. A price is the provider's word for what
// was paid, so where a price is known it decides the tier before any name.
func TierWithPrice(tiers []Tier, mode BillingMode, priceID string) *Tier {
	if priceID == "" {
		return nil
	}
	for i := range tiers {
		if t := &tiers[i]; t.BillingMode == mode && t.StripePriceID == priceID {
			return t
		}
	}
	return nil
}

// FindProduct is the store product a cart line names, nil if none: by its
// price, else by its product id at the payment provider, else by name as
// FindTier names tiers.
func FindProduct(tiers []Tier, key string) *Tier {
	if t := TierWithPrice(tiers, BillingOneOff, key); t != nil {
		return t
	}
	for i := range tiers {
		if t := &tiers[i]; t.BillingMode == BillingOneOff && key != "" && t.StripeProductID == key {
			return t
		}
	}
	return FindTier(tiers, BillingOneOff, key)
}

// DefaultCheckoutTier is the tier a subscription checkout sells when the
// request names none.
const DefaultCheckoutTier = "pro"

// CheckoutTier decides which of the environment's subscription tiers a
// checkout sells. The tier decides the price: a client may name a price,
// but only the price of one of these tiers, and the tier then follows from
// it, so nobody pays a cheap price for an expensive plan. A name finds its
// tier by FindTier.
func CheckoutTier(tiers []Tier, name, priceID string) (*Tier, error) {
	if err := CheckLength("tier", name, MaxName); err != nil {
		return nil, err
	}
	if err := CheckLength("priceId", priceID, MaxID); err != nil {
		return nil, err
	}
	if priceID != "" {
		byPrice := TierWithPrice(tiers, BillingSubscription, priceID)
		switch {
		case byPrice == nil:
			return nil, Errorf(KindInvalid, "Invalid price", "%s is not the price of any of this project's tiers", Quote(priceID))
		case name != "" && FindTier(tiers, BillingSubscription, name) != byPrice:
			return nil, Errorf(KindInvalid, "Invalid price", "%s is the price of tier %q, not %s", Quote(priceID), byPrice.Slug, Quote(name))
		}
		return byPrice, nil
	}
	if name == "" {
		name = DefaultCheckoutTier
	}
	t := FindTier(tiers, BillingSubscription, name)
	if t == nil || t.StripePriceID == "" {
		return nil, Errorf(KindInvalid, "No price ID configured for tier: "+name,
			"This project has no subscription tier %s with a price", Quote(name))
	}
	return t, nil
}
