package edge

import (
	"net/http"

	"github.com/dream-api/dream"
)

// tierJSON is one element of GET /api/tiers, field for field what the
// original server emitted: "id" is the slug, "name" the display name.
type tierJSON struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	DisplayName   string            `json:"displayName"`
	Price         int64             `json:"price"`
	Limit         dream.Limit       `json:"limit"`
	Features      []string          `json:"features"`
	Description   string            `json:"description"`
	BillingMode   dream.BillingMode `json:"billingMode"`
	ImageURL      *string           `json:"imageUrl"`
	Inventory     *int64            `json:"inventory"`
	SoldOut       bool              `json:"soldOut"`
	Popular       bool              `json:"popular"`
	StripePriceID *string           `json:"stripePriceId"`
	PriceID       *string           `json:"priceId"`
	ProductID     *string           `json:"productId"`
	TrialDays     *int              `json:"trialDays"`
}

// productJSON is one element of GET /api/products.
type productJSON struct {
	ID          string   `json:"id"`
	Key         string   `json:"key"`
	Name        string   `json:"name"`
	DisplayName string   `json:"displayName"`
	Description string   `json:"description"`
	Price       int64    `json:"price"`
	Currency    string   `json:"currency"`
	ImageURL    *string  `json:"imageUrl"`
	Inventory   *int64   `json:"inventory"`
	SoldOut     bool     `json:"soldOut"`
	PriceID     *string  `json:"priceId"`
	ProductID   *string  `json:"productId"`
	Features    []string `json:"features"`
}

// optional is nil for "", the wire's null for an absent string.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// features is never null on the wire.
func features(t *dream.Tier) []string {
	if t.Features == nil {
		return []string{}
	}
	return t.Features
}

// handleTiers lists the catalogue, subscription tiers and products alike:
// GET /api/tiers.
func (s *Server) handleTiers(w http.ResponseWriter, r *http.Request, req *request) error {
	c, err := s.catalogue(r.Context(), req.scope.ID)
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, c.tiersBody)
	return nil
}

// tierList is a catalogue as GET /api/tiers lists it.
func tierList(tiers []dream.Tier) []tierJSON {
	list := make([]tierJSON, len(tiers))
	for i := range tiers {
		t := &tiers[i]
		var trialDays *int
		if t.TrialDays > 0 {
			trialDays = &t.TrialDays
		}
		list[i] = tierJSON{
			ID:            t.Slug,
			Name:          t.DisplayName,
			DisplayName:   t.DisplayName,
			Price:         t.PriceCents,
			Limit:         t.Limit,
			Features:      features(t),
			Description:   t.Description,
			BillingMode:   t.BillingMode,
			ImageURL:      optional(t.ImageURL),
			Inventory:     t.Available(),
			SoldOut:       t.SoldOut(),
			Popular:       t.Popular,
			StripePriceID: optional(t.StripePriceID),
			PriceID:       optional(t.StripePriceID),
			ProductID:     optional(t.StripeProductID),
			TrialDays:     trialDays,
		}
	}
	return list
}

// handleProducts lists the one-off products of a store: GET /api/products.
func (s *Server) handleProducts(w http.ResponseWriter, r *http.Request, req *request) error {
	c, err := s.catalogue(r.Context(), req.scope.ID)
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, c.productBody)
	return nil
}

// productList is the one-off products of a catalogue as the API lists them.
func productList(tiers []dream.Tier) []productJSON {
	list := []productJSON{}
	for i := range tiers {
		t := &tiers[i]
		if t.BillingMode != dream.BillingOneOff {
			continue
		}
		id := t.StripeProductID
		if id == "" {
			id = t.Slug
		}
		list = append(list, productJSON{
			ID:          id,
			Key:         t.Slug,
			Name:        t.DisplayName,
			DisplayName: t.DisplayName,
			Description: t.Description,
			Price:       t.PriceCents,
			Currency:    t.Currency,
			ImageURL:    optional(t.ImageURL),
			Inventory:   t.Available(),
			SoldOut:     t.SoldOut(),
			PriceID:     optional(t.StripePriceID),
			ProductID:   optional(t.StripeProductID),
			Features:    features(t),
		})
	}
	return list
}
