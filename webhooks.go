package dream

import (
	"context"
	"log/slog"
)

// WebhookService receives the payment provider's webhooks.
type WebhookService interface {
	// ReceivePaymentEvent verifies the payload of a webhook request by its
	// signature and applies the event it carries, once however often it is
	// delivered, and says what applying it did. The outcome's Type is set
	// once the signature verified, even beside an error.
	ReceivePaymentEvent(ctx context.Context, payload []byte, signature string) (PaymentEventOutcome, error)
}

// PaymentWebhooks implements WebhookService.
type PaymentWebhooks struct {
	Verifier WebhookVerifier
	// Directory decides whether an event is ours before its line items are
	// fetched.
	Directory PaymentDirectory
	Payments  Payments
	// Writer applies the events; reads after one see it.
	Writer   Writer
	Identity Identity
	Logger   *slog.Logger
}

var _ WebhookService = (*PaymentWebhooks)(nil)

// ReceivePaymentEvent implements WebhookService. A paid store checkout's
// line items, which events do not carry, are fetched first, so that the
// write itself makes no network call; the primary checks again in the
// transaction that applies the event that it is ours. Plans the event
// changed are mirrored into the end users' identity metadata, and oversold
// orders refunded.
func (s *PaymentWebhooks) ReceivePaymentEvent(ctx context.Context, payload []byte, signature string) (PaymentEventOutcome, error) {
	event, err := s.Verifier.VerifyWebhook(payload, signature)
	if err != nil {
		return PaymentEventOutcome{}, err
	}
	outcome, err := s.apply(ctx, event)
	outcome.Type = event.Type
	return outcome, err
}

// apply applies a verified event.
func (s *PaymentWebhooks) apply(ctx context.Context, event *PaymentEvent) (PaymentEventOutcome, error) {
	apply := ApplyPaymentEvent{Event: *event}
	if sessionID, needed := event.LineItemsNeeded(); needed {
		env, err := event.Environment(ctx, s.Directory, event.Checkout.PublishableKey)
		if err != nil {
			return PaymentEventOutcome{}, err
		}
		if env != nil {
			account := PaymentAccount{Mode: event.Mode, AccountID: event.Account}
			if apply.LineItems, err = s.Payments.CheckoutLineItems(ctx, account, sessionID); err != nil {
				return PaymentEventOutcome{}, err
			}
		}
	}
	outcome, err := Apply(ctx, s.Writer, apply)
	if err != nil {
		return outcome, err
	}
	mirrorPlans(ctx, s.Identity, s.Logger, outcome.PlanChanges)
	return outcome, s.refund(ctx, outcome.Refunds)
}

// refund gives back the payments of oversold orders. A refund that fails
// fails the delivery, so that the provider sends the event again, and the
// primary, which still owes it, answers the redelivery with it; the
// idempotency key makes a refund that did go through count once.
func (s *PaymentWebhooks) refund(ctx context.Context, refunds []Refund) error {
	for _, r := range refunds {
		s.Logger.Warn("refunding an oversold order: its payment found no stock", "request_id", RequestIDFromContext(ctx),
			"order", r.OrderID, "payment_intent", r.PaymentIntentID)
		refundID, err := s.Payments.RefundPayment(ctx, r.Account, r.PaymentIntentID, "refund_"+r.OrderID)
		if err != nil {
			return err
		}
		if err := s.Writer.Write(ctx, RecordRefund{OrderID: r.OrderID, RefundID: refundID}, nil); err != nil {
			return err
		}
	}
	return nil
}
