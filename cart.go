package dream

import (
	"cmp"
	"context"
	"log/slog"
	"math"
	"strings"
	"time"
)

// MaxCartQuantity caps the quantity of one product in a cart.
const MaxCartQuantity = 99

// CartItem is a line of a cart as clients send it: the product named by
// price, product id or key, in that order of preference.
type CartItem struct {
	PriceID   string   `json:"priceId"`
	ProductID string   `json:"productId"`
	Tier      string   `json:"tier"`
	Quantity  *float64 `json:"quantity"`
}

// quantity is the line's quantity: whole, at least 1, at most
// MaxCartQuantity.
func (c CartItem) quantity() int64 {
	if c.Quantity == nil || math.IsNaN(*c.Quantity) || *c.Quantity < 1 {
		return 1
	}
	return int64(math.Min(math.Floor(*c.Quantity), MaxCartQuantity))
}

// Cart is a guest checkout of store products.
type Cart struct {
	Items []CartItem
	// Email prefills the checkout page; "" for none.
	Email string
	// SuccessURL and CancelURL are absolute URLs, resolved by the caller.
	SuccessURL, CancelURL string
}

// Validate checks the cart has 1 to MaxCartLines lines and a valid email.
func (c Cart) Validate() error {
	if len(c.Items) == 0 {
		return Errorf(KindInvalid, "No items provided", "items must list at least one product")
	}
	if len(c.Items) > MaxCartLines {
		return Errorf(KindInvalid, "Too many items", "a cart has at most %d lines, not %d", MaxCartLines, len(c.Items))
	}
	if err := CheckLength("email", c.Email, MaxEmail); err != nil {
		return err
	}
	if c.Email != "" && !strings.Contains(c.Email, "@") {
		return Errorf(KindInvalid, "Invalid email", "email must be an email address")
	}
	return nil
}

// cartLines turns a cart into checkout lines, one per product, found by
// FindProduct, with the quantities of a product's lines summed and capped,
// and the lines of the products with inventory, which the checkout
// reserves. Whether there is stock enough is the reservation's to say.
func cartLines(tiers []Tier, items []CartItem) ([]LineItem, []StockLine, error) {
	var order []*Tier
	quantities := map[*Tier]int64{}
	for _, item := range items {
		key := cmp.Or(item.PriceID, item.ProductID, item.Tier)
		if err := CheckLength("item", key, MaxID); err != nil {
			return nil, nil, err
		}
		t := FindProduct(tiers, key)
		if t == nil || t.StripePriceID == "" {
			return nil, nil, Errorf(KindInvalid, "Invalid item: "+cmp.Or(key, "unknown"), "No product of this project has that price, product id or key")
		}
		if _, seen := quantities[t]; !seen {
			order = append(order, t)
		}
		quantities[t] = min(quantities[t]+item.quantity(), MaxCartQuantity)
	}
	lines := make([]LineItem, 0, len(order))
	var stock []StockLine
	for _, t := range order {
		lines = append(lines, t.LineItem(quantities[t]))
		if t.Inventory != nil {
			stock = append(stock, StockLine{PriceID: t.StripePriceID, Quantity: quantities[t]})
		}
	}
	return lines, stock, nil
}

// LineItem is the tier as a checkout line of quantity.
func (t *Tier) LineItem(quantity int64) LineItem {
	return LineItem{
		PriceID:     t.StripePriceID,
		Quantity:    quantity,
		ProductID:   t.StripeProductID,
		Description: t.DisplayName,
		UnitAmount:  t.PriceCents,
		Currency:    t.Currency,
		Recurring:   t.BillingMode == BillingSubscription,
	}
}

// CartService starts guest checkouts of a store's products.
type CartService interface {
	// CartCheckout reserves the cart's products with inventory and
	// creates a checkout page for it, or refuses the cart when one is not
	// available; tiers are the environment's catalogue, for naming the
	// products.
	CartCheckout(ctx context.Context, env *Environment, tiers []Tier, c Cart) (*CheckoutSessionResult, error)
}

// Carts implements CartService.
type Carts struct {
	Directory PaymentDirectory
	Writer    Writer
	Payments  Payments
	Logger    *slog.Logger
	Now       func() time.Time
}

var _ CartService = (*Carts)(nil)

// CartCheckout implements CartService. The checkout page takes payment for
// CheckoutLifetime; the reservation outlives it by ReservationGrace. If the
// page cannot be created, the reservation is released again.
func (s *Carts) CartCheckout(ctx context.Context, env *Environment, tiers []Tier, c Cart) (*CheckoutSessionResult, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	lines, stock, err := cartLines(tiers, c.Items)
	if err != nil {
		return nil, err
	}
	account, err := ConnectedAccount(ctx, s.Directory, env)
	if err != nil {
		return nil, err
	}
	session := CheckoutSession{
		Account:       account,
		Mode:          CheckoutPayment,
		LineItems:     lines,
		CustomerEmail: c.Email,
		SuccessURL:    c.SuccessURL,
		CancelURL:     c.CancelURL,
		Metadata:      map[string]string{"publishableKey": env.PublishableKey, "projectId": env.Project.ID},
		AutomaticTax:  env.Project.EnableTax,
		Lifetime:      CheckoutLifetime,
	}
	reserve := ReserveStock{ReservationID: NewID("res_"), EnvironmentID: env.ID, Lines: stock,
		ExpiresAt: s.Now().Add(CheckoutLifetime + ReservationGrace)}
	if len(reserve.Lines) > 0 {
		if err := s.Writer.Write(ctx, reserve, nil); err != nil {
			return nil, err
		}
		session.Metadata["reservation"] = reserve.ReservationID
	}
	result, err := s.Payments.CreateCheckoutSession(ctx, session)
	if err != nil && len(reserve.Lines) > 0 {
		if undo := s.Writer.Write(ctx, ReleaseStock{ReservationID: reserve.ReservationID}, nil); undo != nil {
			s.Logger.Error("releasing the stock of a checkout that was not created", "request_id", RequestIDFromContext(ctx),
				"reservation", reserve.ReservationID, "error", undo)
		}
	}
	return result, err
}
