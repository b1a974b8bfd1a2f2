package dream

import "time"

// A store sells only the stock it has. A cart's quantities of products
// with inventory are reserved when its checkout is created, in the
// transaction that checks them; the reservation holds them while the
// checkout can be paid, leaves when the payment takes them for good, and
// returns them when the checkout expires, its payment fails, or it lapses
// without a word from the payment provider. A payment that finds neither
// its reservation nor stock enough is an oversold order, refunded.

// CheckoutLifetime is how long a cart's checkout page can be paid: the
// payment provider's shortest lifetime, with a minute to spare for the
// request that creates it to arrive.
const CheckoutLifetime = 31 * time.Minute

// ReservationGrace is how long a reservation outlives its checkout, so that
// the event of a payment made at the last moment finds it.
const ReservationGrace = 5 * time.Minute

// PendingPaymentHold is how long a reservation holds its stock once the
// checkout is finished but its payment (a bank debit) is still on its way.
const PendingPaymentHold = 14 * 24 * time.Hour

// Available is the stock of a product that a new checkout may reserve: its
// inventory less what live reservations hold, never negative; nil for a
// product without inventory, whose stock is unlimited.
func (t *Tier) Available() *int64 {
	if t.Inventory == nil {
		return nil
	}
	n := max(*t.Inventory-t.Reserved, 0)
	return &n
}

// SoldOut reports whether a product with inventory has none available.
// Sold-out is always derived, never stored.
func (t *Tier) SoldOut() bool {
	a := t.Available()
	return a != nil && *a == 0
}

// CheckStock refuses quantity of a product when fewer are available.
func (t *Tier) CheckStock(quantity int64) error {
	a := t.Available()
	switch {
	case a == nil || quantity <= *a:
		return nil
	case *a == 0:
		return Errorf(KindInvalid, "Item sold out: "+t.DisplayName, "%s is sold out", t.DisplayName)
	}
	return Errorf(KindInvalid, "Not enough inventory for "+t.DisplayName, "Only %d of %s left", *a, t.DisplayName)
}

// StockLine is a quantity of one product, named by its price.
type StockLine struct {
	PriceID  string `json:"priceId"`
	Quantity int64  `json:"quantity"`
}
