package billing

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dream-api/dream"
	"github.com/stripe/stripe-go/v76/webhook"
)

// webhookTolerance is how old a signature may be. It bounds the replay of a
// captured request; Stripe recommends five minutes.
const webhookTolerance = 300 * time.Second

// The refusals of a webhook request that is not Stripe's.
var (
	errNoSignature = &dream.Error{
		Kind:    dream.KindInvalid,
		Code:    "No signature",
		Message: "Missing Stripe-Signature header",
	}
	errSignatureMismatch = &dream.Error{
		Kind:    dream.KindInvalid,
		Code:    "Webhook signature verification failed",
		Message: "The Stripe-Signature header does not match the payload",
	}
)

// WebhookVerifier implements dream.WebhookVerifier for Stripe-signed
// webhooks. It accepts a signature by any of its secrets: a Connect endpoint
// in live mode receives the events of both modes, each signed with the
// secret of its mode.
type WebhookVerifier struct {
	secrets []string
	// events maps the event types the endpoint acts on.
	events map[string]eventMapping
}

var _ dream.WebhookVerifier = (*WebhookVerifier)(nil)

// NewWebhookVerifier returns the WebhookVerifier of the Connect endpoint,
// accepting signatures by any of secrets (Stripe's "whsec_…" signing
// secrets). Empty secrets are skipped, so that an unset secret of the
// configuration never signs anything.
func NewWebhookVerifier(secrets ...string) *WebhookVerifier {
	v := &WebhookVerifier{events: connectEvents}
	for _, secret := range secrets {
		if secret != "" {
			v.secrets = append(v.secrets, secret)
		}
	}
	return v
}

// EventTypes are the types of the events the webhook endpoints act on,
// sorted; an event of any other type is recorded as ignored.
func EventTypes() []string {
	return slices.Sorted(maps.Keys(connectEvents))
}

// VerifyWebhook implements dream.WebhookVerifier. Events are accepted in any
// API version: Stripe renders them in the version of the account or of the
// endpoint, which need not be stripe-go's, and only the fields the event's
// mapping reads are read.
func (v *WebhookVerifier) VerifyWebhook(payload []byte, signature string) (*dream.PaymentEvent, error) {
	// Without a secret no request can ever be verified; that is the
	// server's fault, not the sender's.
	if len(v.secrets) == 0 {
		return nil, errors.New("billing: no webhook signing secret is configured")
	}
	if signature == "" {
		return nil, errNoSignature
	}
	options := webhook.ConstructEventOptions{Tolerance: webhookTolerance, IgnoreAPIVersionMismatch: true}
	for _, secret := range v.secrets {
		event, err := webhook.ConstructEventWithOptions(payload, signature, secret, options)
		if err != nil {
			continue
		}
		// A validly signed payload is still not an event without these,
		// and every mapping relies on them.
		if event.ID == "" || event.Type == "" || event.Data == nil || event.Data.Object == nil {
			return nil, errSignatureMismatch
		}
		e := &dream.PaymentEvent{
			ID:      event.ID,
			Type:    string(event.Type),
			Mode:    dream.ModeTest,
			Account: event.Account,
			Created: time.Unix(event.Created, 0).UTC(),
			Payload: payload,
		}
		if event.Livemode {
			e.Mode = dream.ModeLive
		}
		if mapping, ok := v.events[e.Type]; ok {
			mapping(e, event.Data.Raw)
		}
		return e, nil
	}
	return nil, errSignatureMismatch
}

// SignWebhook returns a Stripe-Signature header value for payload signed with
// secret at t ("t=<unix>,v1=<hex hmac-sha256 of "<t>.<payload>">"), the way
// Stripe signs. The dev-mode payments emulator signs its events with it, and
// tests sign fixtures.
func SignWebhook(payload []byte, secret string, t time.Time) string {
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), hex.EncodeToString(webhook.ComputeSignature(t, payload, secret)))
}
