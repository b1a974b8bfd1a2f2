package billing

import (
	"context"
	"strconv"

	"github.com/dream-api/dream"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

var _ dream.OperatorBilling = (*Stripe)(nil)

// The operator's own account bills developers in live mode, with the
// platform's live key and no Stripe-Account: it is the platform's account.

// operatorAccount names the operator's account in logs.
var operatorAccount = dream.PaymentAccount{Mode: dream.ModeLive, AccountID: "operator"}

// operator returns the client of the operator's account.
func (s *Stripe) operator() (*client.API, error) { return s.client(operatorAccount) }

// operatorParams are the parameters of a creating call on the operator's
// own account: an idempotency key, no connected account.
func operatorParams(ctx context.Context) stripe.Params {
	return stripe.Params{Context: ctx, IdempotencyKey: stripe.String(dream.NewID("dream_"))}
}

// CreateCustomer implements dream.OperatorBilling.
func (s *Stripe) CreateCustomer(ctx context.Context, platformID, email string) (string, error) {
	api, err := s.operator()
	if err != nil {
		return "", err
	}
	c, err := api.Customers.New(&stripe.CustomerParams{Params: operatorParams(ctx), Email: optional(email),
		Metadata: map[string]string{"platformId": platformID}})
	if err != nil {
		return "", s.fail("create platform customer", operatorAccount, err)
	}
	return c.ID, nil
}

// CreatePlatformCheckout implements dream.OperatorBilling: a subscription
// checkout of the monthly and the metered price, a card always collected,
// the trial on the subscription, and the platform named on both the
// session and the subscription, so that every later event names it.
func (s *Stripe) CreatePlatformCheckout(ctx context.Context, c dream.PlatformCheckout) (string, error) {
	api, err := s.operator()
	if err != nil {
		return "", err
	}
	metadata := map[string]string{"platformId": c.PlatformID}
	params := &stripe.CheckoutSessionParams{
		Params:            operatorParams(ctx),
		Mode:              stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		Customer:          stripe.String(c.CustomerID),
		ClientReferenceID: stripe.String(c.PlatformID),
		LineItems: []*stripe.CheckoutSessionLineItemParams{
			{Price: stripe.String(c.Plan.PriceID), Quantity: stripe.Int64(1)},
			// A metered price takes no quantity: the meter decides it.
			{Price: stripe.String(c.Plan.MeteredPriceID)},
		},
		PaymentMethodCollection: stripe.String(string(stripe.CheckoutSessionPaymentMethodCollectionAlways)),
		SubscriptionData:        &stripe.CheckoutSessionSubscriptionDataParams{Metadata: metadata},
		SuccessURL:              stripe.String(c.SuccessURL),
		CancelURL:               stripe.String(c.CancelURL),
	}
	params.Metadata = metadata
	if c.TrialDays > 0 {
		params.SubscriptionData.TrialPeriodDays = stripe.Int64(int64(c.TrialDays))
	}
	session, err := api.CheckoutSessions.New(params)
	if err != nil {
		return "", s.fail("create platform checkout", operatorAccount, err)
	}
	return session.URL, nil
}

// CreatePlatformPortal implements dream.OperatorBilling.
func (s *Stripe) CreatePlatformPortal(ctx context.Context, customerID, returnURL string) (string, error) {
	api, err := s.operator()
	if err != nil {
		return "", err
	}
	session, err := api.BillingPortalSessions.New(&stripe.BillingPortalSessionParams{Params: operatorParams(ctx),
		Customer: stripe.String(customerID), ReturnURL: stripe.String(returnURL)})
	if err != nil {
		return "", s.fail("create platform portal", operatorAccount, err)
	}
	return session.URL, nil
}

// ReportUsage implements dream.OperatorBilling with a billing meter event,
// whose identifier Stripe deduplicates.
func (s *Stripe) ReportUsage(ctx context.Context, u dream.UsageReport) error {
	api, err := s.operator()
	if err != nil {
		return err
	}
	_, err = api.BillingMeterEvents.New(&stripe.BillingMeterEventParams{
		Params:     stripe.Params{Context: ctx},
		EventName:  stripe.String(u.Event),
		Identifier: stripe.String(u.Identifier),
		Timestamp:  stripe.Int64(u.Timestamp.Unix()),
		Payload:    map[string]string{"stripe_customer_id": u.CustomerID, "value": strconv.FormatInt(u.Value, 10)},
	})
	if err != nil {
		return s.fail("report usage", operatorAccount, err)
	}
	return nil
}
