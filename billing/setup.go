package billing

import (
	"context"
	"errors"
	"net/http"

	"github.com/dream-api/dream"
	"github.com/stripe/stripe-go/v76"
)

// The objects of the platform plan on the operator's account, found again
// by these fixed names, so that setting up twice creates nothing new.
const (
	// planProductID is the plan's product, created with this id.
	planProductID = "dream_platform_pro"
	// planPriceKey and usersPriceKey are the lookup keys of its prices.
	planPriceKey  = "dream_platform_monthly"
	usersPriceKey = "dream_platform_end_users"
)

// PlatformSetup is what SetUpPlatformPlan made or found: the ids to
// configure, and which of them it created now.
type PlatformSetup struct {
	ProductID, PriceID, MeterID, MeteredPriceID string
	Created                                     []string
}

// SetUpPlatformPlan creates on the operator's account, unless they exist,
// the plan's product, its monthly price, the billing meter of billable end
// users (aggregation last: the day's count replaces the previous one) and
// the metered price on it, graduated: the included users free, then the
// overage each.
func (s *Stripe) SetUpPlatformPlan(ctx context.Context, plan dream.PlatformPlan) (*PlatformSetup, error) {
	api, err := s.operator()
	if err != nil {
		return nil, err
	}
	setup := &PlatformSetup{ProductID: planProductID}
	_, err = api.Products.Get(planProductID, &stripe.ProductParams{Params: stripe.Params{Context: ctx}})
	var stripeErr *stripe.Error
	switch {
	case errors.As(err, &stripeErr) && stripeErr.HTTPStatusCode == http.StatusNotFound:
		_, err = api.Products.New(&stripe.ProductParams{Params: operatorParams(ctx), ID: stripe.String(planProductID),
			Name: stripe.String("Dream API Pro"), Description: stripe.String("The platform plan of Dream API")})
		if err != nil {
			return nil, s.fail("create plan product", operatorAccount, err)
		}
		setup.Created = append(setup.Created, "product "+planProductID)
	case err != nil:
		return nil, s.fail("read plan product", operatorAccount, err)
	}

	existing := map[string]string{}
	prices := api.Prices.List(&stripe.PriceListParams{ListParams: stripe.ListParams{Context: ctx},
		LookupKeys: []*string{stripe.String(planPriceKey), stripe.String(usersPriceKey)}})
	for prices.Next() {
		existing[prices.Price().LookupKey] = prices.Price().ID
	}
	if err := prices.Err(); err != nil {
		return nil, s.fail("list plan prices", operatorAccount, err)
	}

	if setup.PriceID = existing[planPriceKey]; setup.PriceID == "" {
		price, err := api.Prices.New(&stripe.PriceParams{Params: operatorParams(ctx), Product: stripe.String(planProductID),
			LookupKey: stripe.String(planPriceKey), Currency: stripe.String("usd"), UnitAmount: stripe.Int64(plan.PriceCents),
			Recurring: &stripe.PriceRecurringParams{Interval: stripe.String("month")}})
		if err != nil {
			return nil, s.fail("create plan price", operatorAccount, err)
		}
		setup.PriceID = price.ID
		setup.Created = append(setup.Created, "price "+price.ID)
	}

	meters := api.BillingMeters.List(&stripe.BillingMeterListParams{ListParams: stripe.ListParams{Context: ctx}, Status: stripe.String("active")})
	for meters.Next() {
		if meters.BillingMeter().EventName == plan.MeterEvent {
			setup.MeterID = meters.BillingMeter().ID
		}
	}
	if err := meters.Err(); err != nil {
		return nil, s.fail("list meters", operatorAccount, err)
	}
	if setup.MeterID == "" {
		meter, err := api.BillingMeters.New(&stripe.BillingMeterParams{Params: operatorParams(ctx),
			DisplayName:        stripe.String("Live end users"),
			EventName:          stripe.String(plan.MeterEvent),
			DefaultAggregation: &stripe.BillingMeterDefaultAggregationParams{Formula: stripe.String("last")},
			CustomerMapping: &stripe.BillingMeterCustomerMappingParams{Type: stripe.String("by_id"),
				EventPayloadKey: stripe.String("stripe_customer_id")},
			ValueSettings: &stripe.BillingMeterValueSettingsParams{EventPayloadKey: stripe.String("value")},
		})
		if err != nil {
			return nil, s.fail("create meter", operatorAccount, err)
		}
		setup.MeterID = meter.ID
		setup.Created = append(setup.Created, "meter "+meter.ID)
	}

	if setup.MeteredPriceID = existing[usersPriceKey]; setup.MeteredPriceID == "" {
		price, err := api.Prices.New(&stripe.PriceParams{Params: operatorParams(ctx), Product: stripe.String(planProductID),
			LookupKey: stripe.String(usersPriceKey), Currency: stripe.String("usd"),
			Recurring: &stripe.PriceRecurringParams{Interval: stripe.String("month"), UsageType: stripe.String("metered"),
				Meter: stripe.String(setup.MeterID)},
			BillingScheme: stripe.String("tiered"), TiersMode: stripe.String("graduated"),
			Tiers: []*stripe.PriceTierParams{
				{UpTo: stripe.Int64(plan.IncludedUsers), UnitAmount: stripe.Int64(0)},
				{UpToInf: stripe.Bool(true), UnitAmount: stripe.Int64(plan.OverageCents)},
			}})
		if err != nil {
			return nil, s.fail("create metered price", operatorAccount, err)
		}
		setup.MeteredPriceID = price.ID
		setup.Created = append(setup.Created, "price "+price.ID)
	}
	return setup, nil
}
