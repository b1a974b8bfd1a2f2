package dream

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
)

// Catalogue is the payment provider's copy of a developer's tiers and
// products, on their connected account. billing.Stripe keeps it at Stripe,
// sending an idempotency key with every creating call; the emulator keeps
// its own.
type Catalogue interface {
	// CreateProduct creates the product of a tier and returns its id.
	CreateProduct(ctx context.Context, account PaymentAccount, t Tier) (string, error)
	// UpdateProduct sets the product's name, description, image and
	// features from t.
	UpdateProduct(ctx context.Context, account PaymentAccount, t Tier) error
	// ArchiveProduct deactivates a product, which then sells nothing new.
	ArchiveProduct(ctx context.Context, account PaymentAccount, productID string) error
	// CreatePrice creates the price of t on its product and returns its
	// id: monthly for a subscription tier, once for a one-off product.
	CreatePrice(ctx context.Context, account PaymentAccount, t Tier) (string, error)
	// DeactivatePrice stops a price from being sold; subscriptions on it
	// keep it.
	DeactivatePrice(ctx context.Context, account PaymentAccount, priceID string) error
}

// Bounds of a catalogue.
const (
	// MaxTiers bounds the subscription tiers of an environment.
	MaxTiers = 20
	// MaxProducts bounds the one-off products of an environment.
	MaxProducts = 500
	// MaxPriceCents bounds a price: Stripe's own limit of eight digits.
	MaxPriceCents = 99_999_999
	// MaxTrialDays bounds a trial, as Stripe does.
	MaxTrialDays = 730
	// MaxInventory bounds a product's stock.
	MaxInventory = 1_000_000_000
)

// slugPattern is the form of a tier's name: lowercase letters, digits, "_"
// and "-", starting with a letter or digit.
var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// BillingModeOf is how a project type sells its catalogue: one-off
// products for a store, monthly subscription tiers otherwise.
func BillingModeOf(t ProjectType) BillingMode {
	if t == ProjectStore {
		return BillingOneOff
	}
	return BillingSubscription
}

// MaxCatalogue is how many entries an environment sells in billing mode.
func MaxCatalogue(mode BillingMode) int {
	if mode == BillingOneOff {
		return MaxProducts
	}
	return MaxTiers
}

// Validate checks a tier a developer defines: a slug name, a display name,
// a non-negative price, inventory and trial within their bounds, and the
// text fields within theirs.
func (t *Tier) Validate() error {
	invalid := func(param, format string, args ...any) error {
		return Errorf(KindInvalid, "invalid_tier", format, args...).For(param)
	}
	if !slugPattern.MatchString(t.Slug) {
		return invalid("name", "name %s must be lowercase letters, digits, _ and -", Quote(t.Slug))
	}
	if t.DisplayName == "" {
		return invalid("displayName", "tier %s needs a displayName", t.Slug)
	}
	if t.PriceCents < 0 || t.PriceCents > MaxPriceCents {
		return invalid("price", "price is a whole number of cents from 0 to %d", MaxPriceCents)
	}
	if t.TrialDays < 0 || t.TrialDays > MaxTrialDays {
		return invalid("trialDays", "trialDays is 0 to %d", MaxTrialDays)
	}
	if t.Inventory != nil && (*t.Inventory < 0 || *t.Inventory > MaxInventory) {
		return invalid("inventory", "inventory is 0 to %d, or null for unlimited", MaxInventory)
	}
	if t.ImageURL != "" && !isHTTPURL(t.ImageURL) && !isAssetPath(t.ImageURL) {
		return invalid("imageUrl", "imageUrl must be an http(s) URL or an uploaded asset's /api/assets/ path")
	}
	return t.checkBounds()
}

// isHTTPURL reports whether s is an absolute http or https URL.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// isAssetPath reports whether s is the path of an uploaded asset.
func isAssetPath(s string) bool { return strings.HasPrefix(s, AssetPath) && len(s) > len(AssetPath) }

// AssetPath is where uploaded images are served.
const AssetPath = "/api/assets/"

// Optional is a field of a change: Set when the request named it, with
// Value null-able for pointer types, so that "inventory": null (unlimited)
// is told from no inventory change at all.
type Optional[T any] struct {
	Set   bool
	Value T
}

// UnmarshalJSON marks the field set and reads its value.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	return json.Unmarshal(b, &o.Value)
}

// MarshalJSON writes the value, so that a change forwarded to the primary
// as JSON reads back the same; a field not set is left out by the
// omitzero of its tag.
func (o Optional[T]) MarshalJSON() ([]byte, error) { return json.Marshal(o.Value) }

// IsZero reports whether the field was not set.
func (o Optional[T]) IsZero() bool { return !o.Set }

// TierInput is a tier or product as a developer sends it; on update only
// the fields sent change.
type TierInput struct {
	Name        Optional[string]   `json:"name"`
	DisplayName Optional[string]   `json:"displayName"`
	Description Optional[string]   `json:"description"`
	Price       Optional[int64]    `json:"price"`
	Limit       Optional[Limit]    `json:"limit"`
	TrialDays   Optional[int]      `json:"trialDays"`
	Features    Optional[[]string] `json:"features"`
	Popular     Optional[bool]     `json:"popular"`
	Inventory   Optional[*int64]   `json:"inventory"`
	ImageURL    Optional[string]   `json:"imageUrl"`
}

// apply sets the fields given on t.
func (in TierInput) apply(t *Tier) {
	set := func(o bool, f func()) {
		if o {
			f()
		}
	}
	set(in.Name.Set, func() { t.Slug = in.Name.Value })
	set(in.DisplayName.Set, func() { t.DisplayName = in.DisplayName.Value })
	set(in.Description.Set, func() { t.Description = in.Description.Value })
	set(in.Price.Set, func() { t.PriceCents = in.Price.Value })
	set(in.Limit.Set, func() { t.Limit = in.Limit.Value })
	set(in.TrialDays.Set, func() { t.TrialDays = in.TrialDays.Value })
	set(in.Features.Set, func() { t.Features = in.Features.Value })
	set(in.Popular.Set, func() { t.Popular = in.Popular.Value })
	set(in.Inventory.Set, func() { t.Inventory = in.Inventory.Value })
	set(in.ImageURL.Set, func() { t.ImageURL = in.ImageURL.Value })
}

// checkFor refuses fields that do not belong to what mode sells: limits,
// trials and the popular mark are a subscription's, inventory a product's.
func (in TierInput) checkFor(mode BillingMode) error {
	if mode == BillingOneOff && (in.Limit.Set || in.TrialDays.Set) {
		return Errorf(KindInvalid, "invalid_tier", "products take no limit or trialDays")
	}
	if mode == BillingSubscription && in.Inventory.Set {
		return Errorf(KindInvalid, "invalid_tier", "subscription tiers take no inventory")
	}
	return nil
}

// ErrWrongCatalogue answers a tiers route of a store or a products route
// of a saas or membership project.
func ErrWrongCatalogue(t ProjectType, mode BillingMode) *Error {
	if mode == BillingOneOff {
		return Errorf(KindInvalid, "wrong_catalogue", "a %s project sells subscription tiers: use …/tiers", t)
	}
	return Errorf(KindInvalid, "wrong_catalogue", "a store sells products: use …/products")
}

// catalogue returns the environment of a project's catalogue in mode and
// what is sold in billing mode there, refusing billing mode if the
// project's type does not sell it.
func (c *Console) catalogue(ctx context.Context, p *Platform, projectID string, mode Mode, billing BillingMode) (*EnvironmentView, []Tier, error) {
	v, env, err := c.environment(ctx, p, projectID, mode)
	if err != nil {
		return nil, nil, err
	}
	if BillingModeOf(v.Type) != billing {
		return nil, nil, ErrWrongCatalogue(v.Type, billing)
	}
	tiers, err := c.Directory.Tiers(ctx, env.ID)
	if err != nil {
		return nil, nil, err
	}
	return env, tiers, nil
}

// ListTiers lists what a project's environment sells in billing mode.
func (c *Console) ListTiers(ctx context.Context, p *Platform, projectID string, mode Mode, billing BillingMode) ([]Tier, error) {
	_, tiers, err := c.catalogue(ctx, p, projectID, mode, billing)
	return tiers, err
}

// account is the developer's connected account of mode, with an empty
// AccountID when they have none yet.
func (c *Console) account(ctx context.Context, platformID string, mode Mode) (PaymentAccount, error) {
	id, err := c.Directory.PaymentAccount(ctx, platformID, mode)
	return PaymentAccount{Mode: mode, AccountID: id}, err
}

// CreateTier adds a tier (or, for a store, a product) to a project's
// environment. With a connected account it is created there first;
// without one it is saved and created there when the account connects.
func (c *Console) CreateTier(ctx context.Context, p *Platform, projectID string, mode Mode, billing BillingMode, in TierInput) (*Tier, error) {
	env, tiers, err := c.catalogue(ctx, p, projectID, mode, billing)
	if err != nil {
		return nil, err
	}
	if err := in.checkFor(billing); err != nil {
		return nil, err
	}
	t := Tier{BillingMode: billing, Currency: "usd", Limit: Unlimited}
	in.apply(&t)
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if tierBySlug(tiers, t.Slug) != nil {
		return nil, Errorf(KindConflict, "tier_exists", "%s exists already in %s mode", Quote(t.Slug), mode)
	}
	account, err := c.account(ctx, p.ID, mode)
	if err != nil {
		return nil, err
	}
	if account.AccountID != "" {
		if err := c.syncTier(ctx, account, &t); err != nil {
			return nil, err
		}
	}
	err = c.Writer.Write(ctx, PutTier{EnvironmentID: env.ID, Tier: t, Create: true, Max: MaxCatalogue(billing)}, nil)
	if err != nil {
		if t.StripeProductID != "" {
			c.archive(ctx, account, t.StripeProductID)
		}
		return nil, err
	}
	return c.tier(ctx, env.ID, t.Slug)
}

// tierBySlug is the tier whose slug is exactly slug, nil if none.
func tierBySlug(tiers []Tier, slug string) *Tier {
	for i := range tiers {
		if tiers[i].Slug == slug {
			return &tiers[i]
		}
	}
	return nil
}

func (c *Console) tier(ctx context.Context, envID int64, slug string) (*Tier, error) {
	tiers, err := c.Directory.Tiers(ctx, envID)
	if err != nil {
		return nil, err
	}
	if t := tierBySlug(tiers, slug); t != nil {
		return t, nil
	}
	return nil, ErrTierNotFound(slug)
}

// ErrTierNotFound answers a tier or product name the environment does not
// have.
func ErrTierNotFound(slug string) *Error {
	return Errorf(KindNotFound, "not_found", "no tier or product %s", Quote(slug))
}

// UpdateTier changes a tier or product. At the payment provider a new
// price replaces the old one, which is deactivated (subscribers keep it),
// and the product takes the new name, description, image and features.
func (c *Console) UpdateTier(ctx context.Context, p *Platform, projectID string, mode Mode, billing BillingMode, slug string, in TierInput) (*Tier, error) {
	env, tiers, err := c.catalogue(ctx, p, projectID, mode, billing)
	if err != nil {
		return nil, err
	}
	old := tierBySlug(tiers, slug)
	if old == nil || old.BillingMode != billing {
		return nil, ErrTierNotFound(slug)
	}
	if err := in.checkFor(billing); err != nil {
		return nil, err
	}
	if in.Name.Set && in.Name.Value != slug {
		return nil, Errorf(KindInvalid, "invalid_tier", "a tier's name is its id for end users' plans and cannot change; create another")
	}
	t := *old
	in.apply(&t)
	if err := t.Validate(); err != nil {
		return nil, err
	}
	account, err := c.account(ctx, p.ID, mode)
	if err != nil {
		return nil, err
	}
	var oldPrice string
	switch {
	case account.AccountID == "":
	case t.StripeProductID == "":
		if err := c.syncTier(ctx, account, &t); err != nil {
			return nil, err
		}
	default:
		if productChanged(old, &t) {
			if err := c.Provider.UpdateProduct(ctx, account, t); err != nil {
				return nil, err
			}
		}
		if t.PriceCents != old.PriceCents {
			if t.StripePriceID, err = c.Provider.CreatePrice(ctx, account, t); err != nil {
				return nil, err
			}
			oldPrice = old.StripePriceID
		}
	}
	if err := c.Writer.Write(ctx, PutTier{EnvironmentID: env.ID, Tier: t}, nil); err != nil {
		return nil, err
	}
	if oldPrice != "" {
		if err := c.Provider.DeactivatePrice(ctx, account, oldPrice); err != nil {
			c.Logger.Warn("deactivating a replaced price", "price", oldPrice, "error", err)
		}
	}
	return c.tier(ctx, env.ID, slug)
}

// productChanged reports whether the provider's product of a tier shows
// something that changed.
func productChanged(old, t *Tier) bool {
	if old.DisplayName != t.DisplayName || old.Description != t.Description || old.ImageURL != t.ImageURL ||
		len(old.Features) != len(t.Features) {
		return true
	}
	for i := range t.Features {
		if old.Features[i] != t.Features[i] {
			return true
		}
	}
	return false
}

// DeleteTier deletes a tier or product and archives its product at the
// payment provider.
func (c *Console) DeleteTier(ctx context.Context, p *Platform, projectID string, mode Mode, billing BillingMode, slug string) error {
	env, tiers, err := c.catalogue(ctx, p, projectID, mode, billing)
	if err != nil {
		return err
	}
	t := tierBySlug(tiers, slug)
	if t == nil {
		return ErrTierNotFound(slug)
	}
	if err := c.Writer.Write(ctx, DeleteTier{EnvironmentID: env.ID, Slug: slug}, nil); err != nil {
		return err
	}
	if t.StripeProductID != "" {
		account, err := c.account(ctx, p.ID, mode)
		if err != nil {
			return err
		}
		c.archive(ctx, account, t.StripeProductID)
	}
	return nil
}

// archive archives a product, logging a failure: what it follows is done
// either way.
func (c *Console) archive(ctx context.Context, account PaymentAccount, productID string) {
	if account.AccountID == "" {
		return
	}
	if err := c.Provider.ArchiveProduct(ctx, account, productID); err != nil {
		c.Logger.Warn("archiving a product", "product", productID, "error", err)
	}
}

// syncTier creates t's product and price on account, setting their ids.
func (c *Console) syncTier(ctx context.Context, account PaymentAccount, t *Tier) error {
	var err error
	if t.StripeProductID, err = c.Provider.CreateProduct(ctx, account, *t); err != nil {
		return err
	}
	if t.StripePriceID, err = c.Provider.CreatePrice(ctx, account, *t); err != nil {
		c.archive(ctx, account, t.StripeProductID)
		t.StripeProductID = ""
		return err
	}
	return nil
}

// SyncCatalogue creates at the developer's connected account of mode the
// products and prices of every tier of theirs saved before it connected.
func (c *Console) SyncCatalogue(ctx context.Context, platformID string, mode Mode) error {
	account, err := c.account(ctx, platformID, mode)
	if err != nil || account.AccountID == "" {
		return err
	}
	envs, err := c.Directory.Environments(ctx, platformID)
	if err != nil {
		return err
	}
	for _, env := range envs {
		if env.Mode != mode {
			continue
		}
		tiers, err := c.Directory.Tiers(ctx, env.ID)
		if err != nil {
			return err
		}
		for _, t := range tiers {
			if t.StripePriceID != "" {
				continue
			}
			if err := c.syncTier(ctx, account, &t); err != nil {
				return err
			}
			if err := c.Writer.Write(ctx, PutTier{EnvironmentID: env.ID, Tier: t}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
