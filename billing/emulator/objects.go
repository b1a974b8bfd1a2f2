package emulator

import (
	"fmt"
	"strconv"

	"github.com/dream-api/dream"
)

// apiVersion is the Stripe API version of the payloads: the one stripe-go
// v76 pins, so that they decode as the server expects.
const apiVersion = "2023-10-16"

// object is a Stripe API object as JSON sees it. Events carry these rather
// than the stored structs, whose shapes are the emulator's own.
type object map[string]any

// event is a Stripe event.
type event struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	APIVersion string `json:"api_version"`
	Created    int64  `json:"created"`
	Livemode   bool   `json:"livemode"`
	// Account is the connected account; the operator's own account's
	// events have none.
	Account         string       `json:"account,omitempty"`
	Type            string       `json:"type"`
	Data            eventData    `json:"data"`
	PendingWebhooks int          `json:"pending_webhooks"`
	Request         eventRequest `json:"request"`
}

// eventData is what an event is about: the object as it is after the
// change and, for updates, the old values of the fields that changed.
type eventData struct {
	Object             object `json:"object"`
	PreviousAttributes object `json:"previous_attributes,omitempty"`
}

// eventRequest names the API request that caused an event. Stripe leaves
// it null for changes made on its pages and by the passing of time, and the
// emulator has no request ids to give.
type eventRequest struct {
	ID             *string `json:"id"`
	IdempotencyKey *string `json:"idempotency_key"`
}

// newEvent returns an event of type typ on an object of o, created at the
// emulator time created.
func newEvent(o owner, typ string, created int64, data, previous object) event {
	return event{
		ID:              dream.NewID("evt_"),
		Object:          "event",
		APIVersion:      apiVersion,
		Created:         created,
		Livemode:        o.Livemode,
		Account:         map[bool]string{true: "", false: o.Account}[o.Account == operatorAccount],
		Type:            typ,
		Data:            eventData{Object: data, PreviousAttributes: previous},
		PendingWebhooks: 1,
	}
}

// nullable is v, or nil (JSON null) for the zero value: Stripe reports an
// unset field as null.
func nullable[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

// metadata is m, or an empty map for none: Stripe reports no metadata as
// {}.
func metadata(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// list is a Stripe list object of the complete data, fetched from url.
func list(url string, data []object) object {
	return object{"object": "list", "data": data, "has_more": false, "total_count": len(data), "url": url}
}

// event returns an event about s as it is now.
func (s *subscription) event(typ string, created int64, previous object) event {
	return newEvent(s.owner, typ, created, s.object(), previous)
}

// object is s as Stripe reports a subscription.
func (s *subscription) object() object {
	var cancelAt any
	if s.CancelAtPeriodEnd {
		cancelAt = s.CurrentPeriodEnd
	}
	// The billing cycle is anchored where the first paid period starts.
	anchor := s.Created
	if s.TrialEnd != 0 {
		anchor = s.TrialEnd
	}
	return object{
		"id":                   s.ID,
		"object":               "subscription",
		"billing_cycle_anchor": anchor,
		"cancel_at":            cancelAt,
		"cancel_at_period_end": s.CancelAtPeriodEnd,
		"canceled_at":          nullable(s.CanceledAt),
		"cancellation_details": object{"comment": nil, "feedback": nil, "reason": nullable(s.CancellationReason)},
		"collection_method":    "charge_automatically",
		"created":              s.Created,
		"currency":             s.currency(),
		"current_period_start": s.CurrentPeriodStart,
		"current_period_end":   s.CurrentPeriodEnd,
		"customer":             s.Customer,
		"ended_at":             nullable(s.EndedAt),
		"items":                s.itemList(),
		"latest_invoice":       nullable(s.LatestInvoice),
		"livemode":             s.Livemode,
		"metadata":             metadata(s.Metadata),
		"start_date":           s.Created,
		"status":               string(s.Status),
		"trial_start":          nullable(s.TrialStart),
		"trial_end":            nullable(s.TrialEnd),
	}
}

// itemList is the items of s as Stripe lists them in a subscription.
func (s *subscription) itemList() object {
	items := make([]object, len(s.Items))
	for i, item := range s.Items {
		items[i] = object{
			"id":           item.ID,
			"object":       "subscription_item",
			"created":      item.Created,
			"metadata":     map[string]string{},
			"price":        price(item.Price, s.Livemode),
			"quantity":     item.Price.Quantity,
			"subscription": s.ID,
		}
	}
	return list("/v1/subscription_items?subscription="+s.ID, items)
}

// price is the monthly recurring price of a line item as Stripe reports
// it; every price the emulator reports belongs to a subscription.
func price(item dream.LineItem, livemode bool) object {
	return object{
		"id":                  item.PriceID,
		"object":              "price",
		"active":              true,
		"billing_scheme":      "per_unit",
		"currency":            item.Currency,
		"livemode":            livemode,
		"product":             nullable(item.ProductID),
		"recurring":           object{"interval": "month", "interval_count": 1, "usage_type": "licensed"},
		"type":                "recurring",
		"unit_amount":         item.UnitAmount,
		"unit_amount_decimal": strconv.FormatInt(item.UnitAmount, 10),
	}
}

// invoice makes s's latest invoice a new paid one, created at created for
// the current period of s, and returns it as Stripe reports it. Stripe
// gives an invoice the period before the one it pays for (periodStart to
// periodEnd) and its lines the period they pay for.
func (s *subscription) invoice(reason string, created, periodStart, periodEnd int64) object {
	id := dream.NewID("in_")
	s.LatestInvoice = id
	lines := make([]object, len(s.Items))
	for i, item := range s.Items {
		lines[i] = object{
			"id":       dream.NewID("il_"),
			"object":   "line_item",
			"amount":   item.Price.UnitAmount * item.Price.Quantity,
			"currency": item.Price.Currency,
			"description": fmt.Sprintf("%d × %s (at %s / month)", item.Price.Quantity, lineItemName(item.Price),
				formatAmount(item.Price.UnitAmount, item.Price.Currency)),
			"discountable":      true,
			"livemode":          s.Livemode,
			"metadata":          map[string]string{},
			"period":            object{"start": s.CurrentPeriodStart, "end": s.CurrentPeriodEnd},
			"price":             price(item.Price, s.Livemode),
			"proration":         false,
			"quantity":          item.Price.Quantity,
			"subscription":      s.ID,
			"subscription_item": item.ID,
			"type":              "subscription",
		}
	}
	amount := s.amount()
	return object{
		"id":                   id,
		"object":               "invoice",
		"amount_due":           amount,
		"amount_paid":          amount,
		"amount_remaining":     0,
		"attempt_count":        1,
		"attempted":            true,
		"billing_reason":       reason,
		"collection_method":    "charge_automatically",
		"created":              created,
		"currency":             s.currency(),
		"customer":             s.Customer,
		"lines":                list("/v1/invoices/"+id+"/lines", lines),
		"livemode":             s.Livemode,
		"metadata":             map[string]string{},
		"paid":                 true,
		"period_start":         periodStart,
		"period_end":           periodEnd,
		"status":               "paid",
		"status_transitions":   object{"finalized_at": created, "paid_at": created},
		"subscription":         s.ID,
		"subscription_details": object{"metadata": metadata(s.Metadata)},
		"subtotal":             amount,
		"total":                amount,
	}
}

// object is a completed checkout session as Stripe reports it; the
// emulator reports no other.
func (s *checkoutSession) object() object {
	paymentStatus := "no_payment_required"
	switch {
	case s.Invoice != "" || s.PaymentIntent != "":
		paymentStatus = "paid"
	case s.Mode == dream.CheckoutPayment:
		paymentStatus = "unpaid"
	}
	return object{
		"id":                  s.ID,
		"object":              "checkout.session",
		"amount_subtotal":     s.AmountTotal,
		"amount_total":        s.AmountTotal,
		"automatic_tax":       object{"enabled": s.AutomaticTax, "status": nil},
		"cancel_url":          s.CancelURL,
		"client_reference_id": nullable(s.ClientReferenceID),
		"created":             s.Created,
		"currency":            s.Currency,
		"customer":            nullable(s.CustomerID),
		"customer_details": object{
			"address": nil, "email": s.Email, "name": nil, "phone": nil, "tax_exempt": "none", "tax_ids": []object{},
		},
		"customer_email": nullable(s.CustomerEmail),
		"expires_at":     s.ExpiresAt,
		"invoice":        nullable(s.Invoice),
		"livemode":       s.owner().Livemode,
		"metadata":       metadata(s.Metadata),
		"mode":           string(s.Mode),
		"payment_intent": nullable(s.PaymentIntent),
		"payment_status": paymentStatus,
		"status":         s.Status,
		"subscription":   nullable(s.Subscription),
		"success_url":    s.SuccessURL,
		"total_details":  object{"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
		"url":            nil,
	}
}
