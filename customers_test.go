package dream_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

// directory is an environment's catalogue and end users in memory.
type directory struct {
	tiers []dream.Tier
	users map[string]dream.UserState
}

func (d *directory) Tiers(context.Context, int64) ([]dream.Tier, error) { return d.tiers, nil }
func (d *directory) EndUser(_ context.Context, _ int64, id string) (*dream.EndUser, error) {
	if _, ok := d.users[id]; !ok {
		return nil, nil
	}
	return &dream.EndUser{UserID: id, Email: id + "@example.com"}, nil
}
func (d *directory) EndUserByEmail(context.Context, int64, string) (string, error) { return "", nil }
func (d *directory) UserState(_ context.Context, _ int64, id string) (dream.UserState, error) {
	return d.users[id], nil
}
func (d *directory) EnvironmentByPublishableKey(context.Context, string) (*dream.Environment, error) {
	return nil, nil
}
func (d *directory) PaymentAccount(context.Context, string, dream.Mode) (string, error) {
	return "acct_1", nil
}

// calls records what the customers service asked of the other parts, in
// order, and fails the call named fail.
type calls struct {
	log  []string
	fail string
}

func (c *calls) do(call string) error {
	c.log = append(c.log, call)
	if call == c.fail {
		return errors.New(call + " failed")
	}
	return nil
}

func (c *calls) Write(_ context.Context, w dream.Write, _ any) error {
	return c.do("write " + w.WriteName())
}
func (c *calls) CreateUser(_ context.Context, _ dream.Mode, u dream.NewIdentityUser) (*dream.IdentityUser, error) {
	return &dream.IdentityUser{ID: "user_new", Email: u.Email, CreatedAt: time.Now()}, c.do("create identity")
}
func (c *calls) User(context.Context, dream.Mode, string) (*dream.IdentityUser, error) {
	return nil, dream.Errorf(dream.KindNotFound, "Not found", "no such user")
}
func (c *calls) UpdatePublicMetadata(context.Context, dream.Mode, string, map[string]any) error {
	return c.do("mirror plan")
}
func (c *calls) DeleteUser(context.Context, dream.Mode, string) error { return c.do("delete identity") }
func (c *calls) CancelSubscription(context.Context, dream.PaymentAccount, string, bool) error {
	return c.do("cancel subscription")
}
func (c *calls) CreateCheckoutSession(context.Context, dream.CheckoutSession) (*dream.CheckoutSessionResult, error) {
	return nil, c.do("checkout")
}
func (c *calls) CreatePortalSession(context.Context, dream.PortalSession) (string, error) {
	return "", c.do("portal")
}
func (c *calls) CheckoutLineItems(context.Context, dream.PaymentAccount, string) ([]dream.LineItem, error) {
	return nil, c.do("line items")
}
func (c *calls) RefundPayment(context.Context, dream.PaymentAccount, string, string) (string, error) {
	return "re_1", c.do("refund")
}

func newCustomers(c *calls) *dream.Customers {
	d := &directory{tiers: saasTiers(), users: map[string]dream.UserState{
		"subscriber": {Subscription: &dream.Subscription{ID: "sub_1", Status: dream.StatusActive, PriceID: "price_pro"}},
	}}
	return &dream.Customers{Directory: d, Writer: c, Identity: c, Payments: c, Logger: slog.New(slog.DiscardHandler)}
}

func TestCustomers(t *testing.T) {
	env := &dream.Environment{ID: 1, Mode: dream.ModeTest, PublishableKey: "pk_test_1"}
	expect := func(t *testing.T, c *calls, want ...string) {
		t.Helper()
		if !slices.Equal(c.log, want) {
			t.Fatalf("the service called %q, want %q", c.log, want)
		}
	}
	t.Run("CreateUndoesTheIdentityTheDatabaseRefused", func(t *testing.T) {
		c := &calls{fail: "write CreateCustomer"}
		if _, err := newCustomers(c).CreateCustomer(context.Background(), env, dream.NewCustomer{Email: "ada@example.com"}); err == nil {
			t.Fatal("creating a customer whose write the database refused gave no error, want the refusal")
		}
		expect(t, c, "create identity", "write CreateCustomer", "delete identity")
	})
	t.Run("CreateChecksBeforeAnyCall", func(t *testing.T) {
		for _, n := range []dream.NewCustomer{{Email: " "}, {Email: "ada"}, {Email: "ada@example.com", Plan: "platinum"}} {
			c := &calls{}
			_, err := newCustomers(c).CreateCustomer(context.Background(), env, n)
			if dream.ErrorKind(err) != dream.KindInvalid {
				t.Errorf("creating the customer %+v: error %v, want it refused as invalid", n, err)
			}
			expect(t, c)
		}
	})
	t.Run("CreateGivesTheAssignedPlansSlug", func(t *testing.T) {
		c := &calls{}
		got, err := newCustomers(c).CreateCustomer(context.Background(), env, dream.NewCustomer{Email: "ada@example.com", Plan: "Pro Plan"})
		if err != nil || got.Plan.Name != "pro" || got.UserID != "user_new" {
			t.Fatalf("creating a customer on \"Pro Plan\": %+v, error %v; want user_new on the pro plan", got, err)
		}
	})
	t.Run("DeleteCancelsTheSubscriptionFirst", func(t *testing.T) {
		c := &calls{}
		if _, err := newCustomers(c).DeleteCustomer(context.Background(), env, "subscriber"); err != nil {
			t.Fatal(err)
		}
		expect(t, c, "cancel subscription", "delete identity", "write DeleteCustomer")
	})
	t.Run("DeleteKeepsTheCustomerWhenTheCancellationFails", func(t *testing.T) {
		c := &calls{fail: "cancel subscription"}
		if _, err := newCustomers(c).DeleteCustomer(context.Background(), env, "subscriber"); err == nil {
			t.Fatal("deleting a customer whose subscription could not be canceled gave no error, want the deletion refused")
		}
		expect(t, c, "cancel subscription")
	})
	t.Run("AssignPlanMirrorsIt", func(t *testing.T) {
		c := &calls{}
		got, err := newCustomers(c).AssignPlan(context.Background(), env, "subscriber", "ENTERPRISE")
		// The running subscription still decides the plan.
		if err != nil || got.Plan.Name != "pro" {
			t.Fatalf("assigning enterprise to a subscriber on pro: %+v, error %v; want the subscription's pro plan", got, err)
		}
		expect(t, c, "write AssignPlan", "mirror plan")
	})
	t.Run("UnknownCustomer", func(t *testing.T) {
		c := &calls{}
		if _, err := newCustomers(c).DeleteCustomer(context.Background(), env, "nobody"); dream.ErrorKind(err) != dream.KindNotFound {
			t.Fatalf("deleting a customer no one has: %v, want not found", err)
		}
		expect(t, c)
	})
}
