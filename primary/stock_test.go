package primary_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

// shop is a primary over a store whose mug has a stock of 5, with a clock
// the test moves.
type shop struct {
	t   *testing.T
	p   *primary.Primary
	db  *store.DB
	env int64
	pk  string

	mu  sync.Mutex
	now time.Time
}

func newShop(t *testing.T) *shop {
	s := &shop{t: t, db: storetest.Open(t), now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s.p = primary.New(s.db, s.clock, nil)
	five := int64(5)
	proj := storetest.CreateProject(t, s.db, s.p, storetest.Platform(t, s.p), dream.ProjectStore, []dream.Tier{
		{Slug: "mug", DisplayName: "Mug", BillingMode: dream.BillingOneOff, PriceCents: 1200, Inventory: &five, StripePriceID: "price_mug"},
		{Slug: "ebook", DisplayName: "E-book", BillingMode: dream.BillingOneOff, PriceCents: 900, StripePriceID: "price_ebook"},
	})
	if err := s.p.Write(ctx, dream.ConnectPaymentAccount{PlatformID: proj.PlatformID, Mode: dream.ModeTest, AccountID: account}, nil); err != nil {
		t.Fatal(err)
	}
	s.env, s.pk = proj.Test.EnvironmentID, proj.Test.PublishableKey
	return s
}

func (s *shop) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *shop) advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.now.Add(d)
}

// reserve holds n mugs under id for a checkout's lifetime and grace.
func (s *shop) reserve(id string, n int64) error {
	return s.p.Write(ctx, dream.ReserveStock{ReservationID: id, EnvironmentID: s.env,
		Lines:     []dream.StockLine{{PriceID: "price_mug", Quantity: n}},
		ExpiresAt: s.clock().Add(dream.CheckoutLifetime + dream.ReservationGrace)}, nil)
}

// mug is the mug as the database has it: stock and what is reserved.
func (s *shop) mug() (stock, reserved int64) {
	s.t.Helper()
	tiers, err := s.db.Tiers(ctx, s.env)
	if err != nil {
		s.t.Fatal(err)
	}
	return *tiers[0].Inventory, tiers[0].Reserved
}

// checkout is an event reporting a store checkout under reservation with
// payment, at the shop's clock.
func (s *shop) checkout(id, session, reservation string, payment dream.PaymentState) dream.PaymentEvent {
	return dream.PaymentEvent{ID: id, Type: "checkout.session.completed", Mode: dream.ModeTest, Account: account,
		Created: s.clock(), Payload: []byte(`{}`), Checkout: &dream.CheckoutCompleted{SessionID: session, Mode: dream.CheckoutPayment,
			Payment: payment, PublishableKey: s.pk, ReservationID: reservation, PaymentIntentID: "pi_" + session, AmountCents: 6000}}
}

func (s *shop) apply(e dream.PaymentEvent, items ...dream.LineItem) dream.PaymentEventOutcome {
	s.t.Helper()
	out, err := dream.Apply(ctx, s.p, dream.ApplyPaymentEvent{Event: e, LineItems: items})
	if err != nil {
		s.t.Fatalf("applying %s: %v", e.ID, err)
	}
	return out
}

func TestStockReservations(t *testing.T) {
	t.Run("ConcurrentReservationsNeverHoldMoreThanTheStock", func(t *testing.T) {
		s := newShop(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		held := 0
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.reserve(fmt.Sprintf("res_%d", i), 1)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					held++
				case dream.ErrorKind(err) != dream.KindInvalid:
					t.Errorf("reservation %d failed with %v, want success or a refusal for stock", i, err)
				}
			}()
		}
		wg.Wait()
		if stock, reserved := s.mug(); held != 5 || stock != 5 || reserved != 5 {
			t.Fatalf("20 concurrent reservations of 1 held %d, leaving stock %d with %d reserved; want 5 held of a stock of 5", held, stock, reserved)
		}
	})
	t.Run("ACartIsHeldWholeOrNotAtAll", func(t *testing.T) {
		s := newShop(t)
		err := s.p.Write(ctx, dream.ReserveStock{ReservationID: "res_1", EnvironmentID: s.env, ExpiresAt: s.clock().Add(time.Hour),
			Lines: []dream.StockLine{{PriceID: "price_ebook", Quantity: 3}, {PriceID: "price_mug", Quantity: 6}}}, nil)
		if e, ok := err.(*dream.Error); !ok || e.Code != "Not enough inventory for Mug" {
			t.Fatalf("reserving 6 mugs of 5 gave %v, want Not enough inventory for Mug", err)
		}
		if _, reserved := s.mug(); reserved != 0 {
			t.Fatalf("a refused cart left %d mugs reserved, want none", reserved)
		}
	})
	t.Run("PaymentTakesTheReservedStock", func(t *testing.T) {
		s := newShop(t)
		if err := s.reserve("res_1", 5); err != nil {
			t.Fatal(err)
		}
		s.apply(s.checkout("evt_1", "cs_1", "res_1", dream.PaymentPaid), dream.LineItem{PriceID: "price_mug", Quantity: 5})
		if stock, reserved := s.mug(); stock != 0 || reserved != 0 {
			t.Fatalf("after paying for the 5 reserved, stock %d with %d reserved, want none of either", stock, reserved)
		}
	})
	t.Run("AnExpiredOrFailedCheckoutReturnsItsStock", func(t *testing.T) {
		s := newShop(t)
		for _, id := range []string{"res_expired", "res_failed"} {
			if err := s.reserve(id, 2); err != nil {
				t.Fatal(err)
			}
		}
		s.apply(dream.PaymentEvent{ID: "evt_expired", Type: "checkout.session.expired", Mode: dream.ModeTest, Account: account,
			Created: s.clock(), Payload: []byte(`{}`), Expired: &dream.CheckoutExpired{SessionID: "cs_e", PublishableKey: s.pk, ReservationID: "res_expired"}})
		s.apply(s.checkout("evt_failed", "cs_f", "res_failed", dream.PaymentFailed))
		if stock, reserved := s.mug(); stock != 5 || reserved != 0 {
			t.Fatalf("after one checkout expired and one payment failed, stock %d with %d reserved, want 5 and none", stock, reserved)
		}
	})
	t.Run("ALapsedReservationReturnsItsStock", func(t *testing.T) {
		s := newShop(t)
		if err := s.reserve("res_1", 5); err != nil {
			t.Fatal(err)
		}
		s.advance(dream.CheckoutLifetime)
		if err := s.p.ReleaseLapsedStock(ctx); err != nil {
			t.Fatal(err)
		}
		if _, reserved := s.mug(); reserved != 5 {
			t.Fatalf("within the grace after the checkout's lifetime %d mugs are reserved, want the 5 still held", reserved)
		}
		s.advance(dream.ReservationGrace)
		if err := s.p.ReleaseLapsedStock(ctx); err != nil {
			t.Fatal(err)
		}
		if _, reserved := s.mug(); reserved != 0 {
			t.Fatalf("after the reservation lapsed %d mugs are reserved, want none", reserved)
		}
	})
	t.Run("APendingPaymentKeepsItsStockHeld", func(t *testing.T) {
		s := newShop(t)
		if err := s.reserve("res_1", 5); err != nil {
			t.Fatal(err)
		}
		s.apply(s.checkout("evt_1", "cs_1", "res_1", dream.PaymentPending))
		s.advance(dream.PendingPaymentHold - time.Hour)
		if err := s.p.ReleaseLapsedStock(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.reserve("res_2", 1); err == nil {
			t.Fatal("a cart took a mug the pending payment holds, want it refused")
		}
		s.apply(s.checkout("evt_2", "cs_1", "res_1", dream.PaymentPaid), dream.LineItem{PriceID: "price_mug", Quantity: 5})
		if stock, _ := s.mug(); stock != 0 {
			t.Fatalf("after the pending payment arrived, %d mugs are in stock, want 0", stock)
		}
	})
	t.Run("AnOversoldOrderIsOwedBackUntilRefunded", func(t *testing.T) {
		s := newShop(t)
		if err := s.reserve("res_other", 5); err != nil {
			t.Fatal(err)
		}
		// A payment whose reservation is gone, while another checkout holds
		// every mug: nothing is taken from anyone.
		event := s.checkout("evt_1", "cs_late", "res_gone", dream.PaymentPaid)
		out := s.apply(event, dream.LineItem{PriceID: "price_mug", Quantity: 2})
		if stock, reserved := s.mug(); stock != 5 || reserved != 5 || len(out.Refunds) != 1 || out.Refunds[0].PaymentIntentID != "pi_cs_late" {
			t.Fatalf("a payment finding no stock left stock %d, reserved %d and refunds %+v; want 5, 5 and its payment owed back", stock, reserved, out.Refunds)
		}
		again := s.apply(event, dream.LineItem{PriceID: "price_mug", Quantity: 2})
		if again.Result != dream.EventDuplicate || len(again.Refunds) != 1 {
			t.Fatalf("the redelivered event answered %+v, want a duplicate still owing the refund", again)
		}
		if err := s.p.Write(ctx, dream.RecordRefund{OrderID: out.Refunds[0].OrderID, RefundID: "re_1"}, nil); err != nil {
			t.Fatal(err)
		}
		if paid := s.apply(event); len(paid.Refunds) != 0 {
			t.Fatalf("after the refund the event still owes %+v, want nothing", paid.Refunds)
		}
		orders, err := s.db.Orders(ctx, s.env)
		if err != nil || len(orders) != 1 || !orders[0].Oversold || orders[0].RefundID != "re_1" {
			t.Fatalf("the store's orders are %+v (%v), want the one oversold order refunded as re_1", orders, err)
		}
	})
}
