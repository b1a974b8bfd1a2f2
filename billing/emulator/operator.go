package emulator

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sort"

	"github.com/dream-api/dream"
)

// The emulator also plays the operator's own Stripe account, which bills
// developers for the platform plan: its customers, the plan's checkout
// and portal, and the meter events of billable end users. Its events go
// to the platform webhook, without an account, as Stripe sends the events
// of a platform's own account.

var _ dream.OperatorBilling = (*Emulator)(nil)

// operatorAccount stands for the operator's own account among the
// emulator's connected accounts; no connected account has this id.
const operatorAccount = "platform"

// operator is the account operator calls act on: live, real money.
var operator = dream.PaymentAccount{Mode: dream.ModeLive, AccountID: operatorAccount}

// meterEventsTable holds the meter events received, by identifier.
const meterEventsTable = "meter_events"

// meterEvent is a stored meter event.
type meterEvent struct {
	dream.UsageReport
	Received int64
}

// CreateCustomer implements dream.OperatorBilling.
func (e *Emulator) CreateCustomer(ctx context.Context, platformID, email string) (string, error) {
	c := customer{owner: ownerOf(operator), ID: dream.NewID("cus_"), Email: email, Created: e.now().Unix()}
	if c.Email == "" {
		c.Email = platformID + "@platform.invalid"
	}
	return c.ID, e.update(ctx, func(tx *sql.Tx) error { return put(ctx, tx, customersTable, c.ID, c) })
}

// CreatePlatformCheckout implements dream.OperatorBilling: the plan's
// monthly price and its metered price of end users, shown at its included
// users and overage.
func (e *Emulator) CreatePlatformCheckout(ctx context.Context, c dream.PlatformCheckout) (string, error) {
	plan := c.Plan
	result, err := e.CreateCheckoutSession(ctx, dream.CheckoutSession{
		Account: operator,
		Mode:    dream.CheckoutSubscription,
		LineItems: []dream.LineItem{
			{PriceID: plan.PriceID, Quantity: 1, UnitAmount: plan.PriceCents, Recurring: true, Description: "Dream API Pro"},
			{PriceID: plan.MeteredPriceID, Quantity: 1, Recurring: true, Description: fmt.Sprintf(
				"Live end users: %d included, then %s each, billed by the day's count", plan.IncludedUsers, formatAmount(plan.OverageCents, "usd"))},
		},
		CustomerID:           c.CustomerID,
		ClientReferenceID:    c.PlatformID,
		SuccessURL:           c.SuccessURL,
		CancelURL:            c.CancelURL,
		Metadata:             map[string]string{"platformId": c.PlatformID},
		SubscriptionMetadata: map[string]string{"platformId": c.PlatformID},
		TrialDays:            c.TrialDays,
	})
	if err != nil {
		return "", err
	}
	return result.URL, nil
}

// CreatePlatformPortal implements dream.OperatorBilling.
func (e *Emulator) CreatePlatformPortal(ctx context.Context, customerID, returnURL string) (string, error) {
	return e.CreatePortalSession(ctx, dream.PortalSession{Account: operator, CustomerID: customerID, ReturnURL: returnURL})
}

// ReportUsage implements dream.OperatorBilling. As at Stripe, an event
// whose identifier was seen is not counted again.
func (e *Emulator) ReportUsage(ctx context.Context, u dream.UsageReport) error {
	if u.Event == "" || u.CustomerID == "" || u.Identifier == "" {
		return rejected("A meter event needs an event name, a customer and an identifier")
	}
	return e.update(ctx, func(tx *sql.Tx) error {
		if _, err := customerOf(ctx, tx, ownerOf(operator), u.CustomerID); err != nil {
			return err
		}
		var seen meterEvent
		if found, err := get(ctx, tx, meterEventsTable, u.Identifier, &seen); err != nil || found {
			return err
		}
		return put(ctx, tx, meterEventsTable, u.Identifier, meterEvent{UsageReport: u, Received: e.now().Unix()})
	})
}

// MeterEvents lists the meter events received, newest first.
func (e *Emulator) MeterEvents(ctx context.Context) ([]dream.UsageReport, error) {
	events, err := selectAll(ctx, e.db, func(*meterEvent) bool { return true }, "SELECT data FROM "+meterEventsTable)
	if err != nil {
		return nil, err
	}
	sort.Slice(events, func(i, j int) bool {
		if !events[i].Timestamp.Equal(events[j].Timestamp) {
			return events[i].Timestamp.After(events[j].Timestamp)
		}
		return events[i].Identifier > events[j].Identifier
	})
	list := make([]dream.UsageReport, len(events))
	for i, ev := range events {
		list[i] = ev.UsageReport
	}
	return list, nil
}

// meterPage is what the meter events page shows.
type meterPage struct {
	Events []dream.UsageReport
}

// handleMeterEvents shows the meter events the operator's account
// received.
func (e *Emulator) handleMeterEvents(w http.ResponseWriter, r *http.Request) {
	events, err := e.MeterEvents(r.Context())
	if err != nil {
		e.writeError(w, err, pageLink{})
		return
	}
	e.render(w, http.StatusOK, "meter", meterPage{Events: events})
}
