package edge_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStoreNeverSellsStockItHasNot sells a stock of 5 mugs across
// concurrent carts, a checkout that expires, a reservation that lapses
// without an event and a payment that arrives after it: exactly 5 are
// sold, the rest refused or refunded, and every unit is accounted for.
func TestStoreNeverSellsStockItHasNot(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pk, env := h.shop.Test.PublishableKey, h.shop.Test.EnvironmentID
	cartOf5 := func() response {
		return h.do("POST", "/api/cart/checkout", `{"items":[{"priceId":"price_mug","quantity":5}],"email":"buyer@example.com"}`,
			"X-Publishable-Key", pk)
	}
	available := func() (any, any) {
		t.Helper()
		h.refresh()
		res := h.do("GET", "/api/products", "", "X-Publishable-Key", pk)
		for _, p := range res.body["products"].([]any) {
			if p := p.(map[string]any); p["key"] == "mug" {
				return p["inventory"], p["soldOut"]
			}
		}
		t.Fatalf("/api/products lists no mug: %s", res.raw)
		return nil, nil
	}
	stock := func() int64 {
		t.Helper()
		tiers, err := h.db.Tiers(context.Background(), env)
		if err != nil {
			t.Fatal(err)
		}
		for _, tier := range tiers {
			if tier.Slug == "mug" {
				return *tier.Inventory
			}
		}
		return -1
	}

	// Three carts of 5 at once: one holds the 5, the others are refused.
	var wg sync.WaitGroup
	results := make(chan response, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results <- cartOf5() }()
	}
	wg.Wait()
	close(results)
	var held response
	refused := 0
	for res := range results {
		switch {
		case res.status == 200:
			held = res
		case res.status == 400 && (strings.HasPrefix(res.body["error"].(string), "Not enough inventory") || strings.HasPrefix(res.body["error"].(string), "Item sold out")):
			refused++
		default:
			t.Fatalf("a concurrent cart of 5 answered %d %s, want 200 or a refusal for stock", res.status, res.raw)
		}
	}
	if held.status != 200 || refused != 2 {
		t.Fatalf("of three concurrent carts of 5, %d were refused, want one held and two refused", refused)
	}
	if inventory, soldOut := available(); inventory != 0.0 || soldOut != true {
		t.Fatalf("while one checkout holds the 5, /api/products shows inventory %v, sold out %v; want 0, sold out", inventory, soldOut)
	}

	// The checkout expires unpaid: its event returns the 5.
	if res := h.do("POST", "/dev/clock/advance", `{"seconds":1900}`); res.status != 200 || !strings.Contains(res.raw, "checkout.session.expired") {
		t.Fatalf("moving the payments clock past the checkout's expiry answered %d %s, want 200 with checkout.session.expired", res.status, res.raw)
	}
	if inventory, soldOut := available(); inventory != 5.0 || soldOut != false {
		t.Fatalf("after the checkout expired, /api/products shows inventory %v, sold out %v; want 5, not sold out", inventory, soldOut)
	}

	// Checkout A holds the 5, then its reservation lapses without a word
	// from the payment provider, whose page still takes payment.
	a := cartOf5()
	if a.status != 200 {
		t.Fatalf("cart A answered %d %s, want 200", a.status, a.raw)
	}
	h.advance(37 * time.Minute)
	if err := h.primary.ReleaseLapsedStock(context.Background()); err != nil {
		t.Fatal(err)
	}
	if inventory, _ := available(); inventory != 5.0 {
		t.Fatalf("after A's reservation lapsed, /api/products shows inventory %v, want 5", inventory)
	}

	// Checkout B takes the 5 and pays.
	b := cartOf5()
	if b.status != 200 {
		t.Fatalf("cart B answered %d %s, want 200", b.status, b.raw)
	}
	h.post(b.body["url"].(string)+"/pay", nil)
	if n := stock(); n != 0 {
		t.Fatalf("after B paid for 5 of 5, %d are in stock, want 0", n)
	}

	// A pays late: there is nothing left, so it is an oversold order,
	// refunded, and takes nothing.
	h.post(a.body["url"].(string)+"/pay", nil)
	if n := stock(); n != 0 {
		t.Fatalf("after A's late payment, %d are in stock, want 0", n)
	}
	orders, err := h.db.Orders(context.Background(), env)
	if err != nil || len(orders) != 2 {
		t.Fatalf("the store has orders %+v (%v), want B's and A's", orders, err)
	}
	var sold, refunded int64
	for _, o := range orders {
		switch {
		case o.StripeSessionID == b.body["sessionId"] && !o.Oversold:
			sold += o.Items[0].Quantity
		case o.StripeSessionID == a.body["sessionId"] && o.Oversold && strings.HasPrefix(o.RefundID, "re_"):
			refunded += o.Items[0].Quantity
		default:
			t.Fatalf("order %+v is neither B's sale nor A's refunded oversold order", o)
		}
	}
	// Every unit of the five carts: 5 sold (B), 5 refunded (A), 5 that
	// expired, 10 refused.
	if sold != 5 || refunded != 5 || sold+refunded+5+5*int64(refused) != 25 {
		t.Fatalf("%d sold and %d refunded, want 5 and 5, with the expired 5 and refused 10 making 25", sold, refunded)
	}
	dashboard := h.do("GET", "/api/dashboard", "", "Authorization", "Bearer "+h.shop.Test.SecretKey)
	if dashboard.body["totalSales"] != 1.0 || !strings.Contains(dashboard.raw, `"oversold":true`) {
		t.Fatalf("the dashboard shows %v sales and orders %s, want 1 sale and A's order marked oversold",
			dashboard.body["totalSales"], dashboard.raw)
	}
}
