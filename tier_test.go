package dream_test

import (
	"testing"

	"github.com/dream-api/dream"
)

func TestFindTier(t *testing.T) {
	// One tier displays the slug of another, and one display name is
	// shared: the slug wins over any display name, and the first tier in
	// catalogue order wins among display names.
	tiers := []dream.Tier{
		{Slug: "basic", DisplayName: "Pro", BillingMode: dream.BillingSubscription, StripePriceID: "price_basic"},
		{Slug: "pro", DisplayName: "Professional", BillingMode: dream.BillingSubscription, StripePriceID: "price_pro"},
		{Slug: "team", DisplayName: "Business", BillingMode: dream.BillingSubscription},
		{Slug: "corp", DisplayName: "Business", BillingMode: dream.BillingSubscription},
		{Slug: "mug", DisplayName: "Team", BillingMode: dream.BillingOneOff, StripePriceID: "price_mug", StripeProductID: "prod_mug"},
		{Slug: "poster", DisplayName: "Poster", BillingMode: dream.BillingOneOff, StripePriceID: "price_poster"},
	}
	for _, tt := range []struct {
		name  string
		mode  dream.BillingMode
		query string
		want  string
	}{
		{"SlugBeatsAnotherTiersDisplayName", dream.BillingSubscription, "pro", "pro"},
		{"SlugIgnoresCase", dream.BillingSubscription, "PRO", "pro"},
		{"DisplayNameWhenNoSlugMatches", dream.BillingSubscription, "professional", "pro"},
		{"DisplayNameOfTheOtherTier", dream.BillingSubscription, "Basic", "basic"},
		{"FirstOfASharedDisplayName", dream.BillingSubscription, "business", "team"},
		{"OnlyTheBillingModeAsked", dream.BillingSubscription, "mug", ""},
		{"ProductBySlug", dream.BillingOneOff, "Mug", "mug"},
		{"ProductSlugBeatsAPlansDisplayName", dream.BillingOneOff, "team", "mug"},
		{"Unknown", dream.BillingSubscription, "platinum", ""},
		{"Empty", dream.BillingSubscription, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := dream.FindTier(tiers, tt.mode, tt.query)
			if slug := slugOf(got); slug != tt.want {
				t.Fatalf("looking up %q among %s tiers found %q, want %q", tt.query, tt.mode, slug, tt.want)
			}
		})
	}
	t.Run("FindProduct", func(t *testing.T) {
		for query, want := range map[string]string{
			"price_mug": "mug", "prod_mug": "mug", "POSTER": "poster", "Team": "mug", "price_basic": "", "pro": "", "": "",
		} {
			if slug := slugOf(dream.FindProduct(tiers, query)); slug != want {
				t.Errorf("looking up the product %q found %q, want %q", query, slug, want)
			}
		}
	})
}

func slugOf(t *dream.Tier) string {
	if t == nil {
		return ""
	}
	return t.Slug
}

func TestCheckoutTier(t *testing.T) {
	tiers := []dream.Tier{
		{Slug: "basic", DisplayName: "Pro", BillingMode: dream.BillingSubscription, StripePriceID: "price_basic"},
		{Slug: "pro", DisplayName: "Professional", BillingMode: dream.BillingSubscription, StripePriceID: "price_pro"},
		{Slug: "enterprise", DisplayName: "Enterprise", BillingMode: dream.BillingSubscription},
		{Slug: "mug", DisplayName: "Mug", BillingMode: dream.BillingOneOff, StripePriceID: "price_mug"},
	}
	for _, tt := range []struct {
		name, tier, price string
		want, code        string
	}{
		// The tier sold is the tier the plan resolves to: "pro" is never
		// the tier that merely displays as "Pro".
		{name: "NameSellsTheSlugsTier", tier: "pro", want: "pro"},
		{name: "NoNameSellsPro", want: "pro"},
		{name: "DisplayName", tier: "professional", want: "pro"},
		{name: "PriceDecides", price: "price_basic", want: "basic"},
		{name: "PriceAndItsTier", tier: "basic", price: "price_basic", want: "basic"},
		{name: "PriceOfAnotherTier", tier: "pro", price: "price_basic", code: "Invalid price"},
		{name: "UnknownPrice", price: "price_elsewhere", code: "Invalid price"},
		{name: "ProductPriceIsNoPlan", price: "price_mug", code: "Invalid price"},
		{name: "TierWithoutPrice", tier: "enterprise", code: "No price ID configured for tier: enterprise"},
		{name: "UnknownTier", tier: "platinum", code: "No price ID configured for tier: platinum"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dream.CheckoutTier(tiers, tt.tier, tt.price)
			if tt.code != "" {
				if e, ok := err.(*dream.Error); !ok || e.Code != tt.code || e.Kind != dream.KindInvalid {
					t.Fatalf("a checkout of tier %q at price %q sells %q, error %v; want the refusal %q", tt.tier, tt.price, slugOf(got), err, tt.code)
				}
				return
			}
			if err != nil || slugOf(got) != tt.want {
				t.Fatalf("a checkout of tier %q at price %q sells %q, error %v; want %q", tt.tier, tt.price, slugOf(got), err, tt.want)
			}
			// Checkout and plan resolution agree on what the name means.
			if plan := dream.ResolvePlan(tiers, dream.PlanSources{TokenPlan: tt.tier}); tt.tier != "" && plan.Name != tt.want {
				t.Fatalf("the plan %q resolves to %q but checkout sells %q", tt.tier, plan.Name, tt.want)
			}
		})
	}
}
