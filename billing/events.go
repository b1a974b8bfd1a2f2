package billing

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/dream-api/dream"
)

// eventMapping turns the object of one type of Stripe event into the
// domain change it reports, set on e; an object it cannot read leaves e
// without one, and the event is recorded as ignored.
type eventMapping func(e *dream.PaymentEvent, object []byte)

// connectEvents are the events of developers' connected accounts that
// Dream API acts on. Every other type is recorded as ignored. This is the
// only place that knows what a Stripe event means.
var connectEvents = map[string]eventMapping{
	"checkout.session.completed":               checkoutEvent,
	"checkout.session.async_payment_succeeded": checkoutEvent,
	"checkout.session.async_payment_failed":    checkoutEvent,
	"checkout.session.expired":                 expiredEvent,
	"customer.subscription.created":            subscriptionEvent,
	"customer.subscription.updated":            subscriptionEvent,
	"customer.subscription.deleted":            subscriptionEvent,
	"invoice.paid":                             invoiceEvent,
	"invoice.payment_failed":                   invoiceEvent,
	"account.application.deauthorized":         deauthorizedEvent,
}

// Ranks of events in a subscription's life, for events of the same second.
const (
	rankCheckout = iota
	rankCreated
	rankUpdated
	rankDeleted
)

// version orders Stripe's reports of a subscription: the event's time in
// milliseconds plus its rank in the subscription's life.
func version(e *dream.PaymentEvent, rank int64) int64 {
	return e.Created.UnixMilli() + rank
}

// stripeID is an id Stripe sends either as a string or, when expanded, as
// an object with an id.
type stripeID string

func (id *stripeID) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte("{")) {
		var object struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &object); err != nil {
			return err
		}
		*id = stripeID(object.ID)
		return nil
	}
	if string(b) == "null" {
		*id = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*id = stripeID(s)
	return nil
}

// checkoutSession is what we read of a checkout session.
type checkoutSession struct {
	ID              string   `json:"id"`
	Mode            string   `json:"mode"`
	PaymentStatus   string   `json:"payment_status"`
	Customer        stripeID `json:"customer"`
	CustomerEmail   string   `json:"customer_email"`
	CustomerDetails struct {
		Email string `json:"email"`
	} `json:"customer_details"`
	Subscription      stripeID          `json:"subscription"`
	PaymentIntent     stripeID          `json:"payment_intent"`
	ClientReferenceID string            `json:"client_reference_id"`
	AmountTotal       int64             `json:"amount_total"`
	Currency          string            `json:"currency"`
	Metadata          map[string]string `json:"metadata"`
}

// checkoutEvent reads a finished checkout. Asynchronous payments of a
// subscription checkout tell nothing the subscription's own events do not,
// so only their failure, which starts nothing, is reported.
func checkoutEvent(e *dream.PaymentEvent, object []byte) {
	var s checkoutSession
	if json.Unmarshal(object, &s) != nil || s.ID == "" {
		return
	}
	mode := dream.CheckoutMode(s.Mode)
	if mode != dream.CheckoutSubscription && mode != dream.CheckoutPayment {
		return
	}
	var payment dream.PaymentState
	switch e.Type {
	case "checkout.session.completed":
		switch s.PaymentStatus {
		case "paid":
			payment = dream.PaymentPaid
		case "no_payment_required":
			payment = dream.PaymentNotRequired
		default:
			payment = dream.PaymentPending
		}
	case "checkout.session.async_payment_succeeded":
		if mode == dream.CheckoutSubscription {
			return
		}
		payment = dream.PaymentPaid
	case "checkout.session.async_payment_failed":
		payment = dream.PaymentFailed
	}
	email := s.CustomerDetails.Email
	if email == "" {
		email = s.CustomerEmail
	}
	userID := s.ClientReferenceID
	if userID == "" {
		userID = s.Metadata["userId"]
	}
	e.Checkout = &dream.CheckoutCompleted{
		SessionID:       s.ID,
		Mode:            mode,
		PublishableKey:  s.Metadata["publishableKey"],
		UserID:          userID,
		Tier:            s.Metadata["tier"],
		PlatformID:      s.Metadata["platformId"],
		ReservationID:   s.Metadata["reservation"],
		CustomerID:      string(s.Customer),
		Email:           email,
		SubscriptionID:  string(s.Subscription),
		Payment:         payment,
		PaymentIntentID: string(s.PaymentIntent),
		AmountCents:     s.AmountTotal,
		Currency:        s.Currency,
		Version:         version(e, rankCheckout),
	}
}

// expiredEvent reads a checkout session that lapsed unpaid.
func expiredEvent(e *dream.PaymentEvent, object []byte) {
	var s checkoutSession
	if json.Unmarshal(object, &s) != nil || s.ID == "" {
		return
	}
	e.Expired = &dream.CheckoutExpired{SessionID: s.ID, PublishableKey: s.Metadata["publishableKey"],
		ReservationID: s.Metadata["reservation"]}
}

// subscriptionObject is what we read of a subscription.
type subscriptionObject struct {
	ID                  string            `json:"id"`
	Customer            stripeID          `json:"customer"`
	Status              string            `json:"status"`
	CancelAtPeriodEnd   bool              `json:"cancel_at_period_end"`
	CanceledAt          int64             `json:"canceled_at"`
	CurrentPeriodEnd    int64             `json:"current_period_end"`
	TrialEnd            int64             `json:"trial_end"`
	Metadata            map[string]string `json:"metadata"`
	CancellationDetails struct {
		Comment string `json:"comment"`
		Reason  string `json:"reason"`
	} `json:"cancellation_details"`
	Items struct {
		Data []struct {
			// CurrentPeriodEnd is where API versions from 2025 put the
			// period, instead of on the subscription.
			CurrentPeriodEnd int64 `json:"current_period_end"`
			Price            struct {
				ID         string   `json:"id"`
				Product    stripeID `json:"product"`
				UnitAmount int64    `json:"unit_amount"`
				Currency   string   `json:"currency"`
			} `json:"price"`
		} `json:"data"`
	} `json:"items"`
}

// subscriptionRanks are the ranks of the subscription events.
var subscriptionRanks = map[string]int64{
	"customer.subscription.created": rankCreated,
	"customer.subscription.updated": rankUpdated,
	"customer.subscription.deleted": rankDeleted,
}

// subscriptionEvent reads the state a subscription event reports.
func subscriptionEvent(e *dream.PaymentEvent, object []byte) {
	var o subscriptionObject
	if json.Unmarshal(object, &o) != nil || o.ID == "" {
		return
	}
	sub := dream.Subscription{
		ID:                o.ID,
		CustomerID:        string(o.Customer),
		Plan:              o.Metadata["tier"],
		Status:            dream.SubscriptionStatus(o.Status),
		CancelAtPeriodEnd: o.CancelAtPeriodEnd,
		CurrentPeriodEnd:  unixTime(o.CurrentPeriodEnd),
		TrialEnd:          unixTime(o.TrialEnd),
		CanceledAt:        unixTime(o.CanceledAt),
		CancelReason:      o.CancellationDetails.Comment,
		Version:           version(e, subscriptionRanks[e.Type]),
	}
	if sub.CancelReason == "" {
		sub.CancelReason = o.CancellationDetails.Reason
	}
	if e.Type == "customer.subscription.deleted" {
		sub.Status = dream.StatusCanceled
	}
	if len(o.Items.Data) > 0 {
		item := o.Items.Data[0]
		sub.PriceID, sub.ProductID = item.Price.ID, string(item.Price.Product)
		sub.AmountCents, sub.Currency = item.Price.UnitAmount, item.Price.Currency
		if sub.CurrentPeriodEnd.IsZero() {
			sub.CurrentPeriodEnd = unixTime(item.CurrentPeriodEnd)
		}
	}
	e.Subscription = &dream.SubscriptionChanged{
		PublishableKey: o.Metadata["publishableKey"],
		UserID:         o.Metadata["userId"],
		PlatformID:     o.Metadata["platformId"],
		Subscription:   sub,
	}
}

// invoiceObject is what we read of an invoice.
type invoiceObject struct {
	Subscription stripeID `json:"subscription"`
	Lines        struct {
		Data []struct {
			Period struct {
				End int64 `json:"end"`
			} `json:"period"`
		} `json:"data"`
	} `json:"lines"`
}

// invoiceEvent reads a subscription's invoice paid or failed.
func invoiceEvent(e *dream.PaymentEvent, object []byte) {
	var inv invoiceObject
	if json.Unmarshal(object, &inv) != nil || inv.Subscription == "" {
		return
	}
	payment := &dream.InvoicePayment{
		SubscriptionID: string(inv.Subscription),
		Paid:           e.Type == "invoice.paid",
		Version:        version(e, rankUpdated),
	}
	for _, line := range inv.Lines.Data {
		if end := unixTime(line.Period.End); end.After(payment.PeriodEnd) {
			payment.PeriodEnd = end
		}
	}
	e.Invoice = payment
}

// deauthorizedEvent reads a connected account's revoked access.
func deauthorizedEvent(e *dream.PaymentEvent, _ []byte) {
	e.Deauthorized = e.Account != ""
}

// unixTime reads a Stripe timestamp; zero stays the zero time.
func unixTime(seconds int64) time.Time {
	if seconds == 0 {
		return time.Time{}
	}
	return time.Unix(seconds, 0).UTC()
}
