package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/dream-api/dream/billing"
)

// deliveryTimeout bounds each delivery, as Stripe's does.
const deliveryTimeout = 10 * time.Second

// deliver posts events to the webhook one at a time, in order. A failed
// delivery does not stop the others: at Stripe each event is delivered on
// its own. The error names each failure.
func (e *Emulator) deliver(ctx context.Context, events []event) error {
	var failures []error
	for _, ev := range events {
		failures = append(failures, e.post(ctx, ev))
	}
	return errors.Join(failures...)
}

// post delivers one event, signed at the wall-clock time so that the
// server's tolerance check passes however far the emulator clock has moved.
// The caller's cancellation does not abort it: the change it reports has
// happened.
func (e *Emulator) post(ctx context.Context, ev event) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deliveryTimeout)
	defer cancel()
	url := e.webhookURL
	if ev.Account == "" {
		// The operator's own account reports to the platform webhook.
		url = e.platformWebhookURL
	}
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	request.Header.Set("Content-Type", "application/json; charset=utf-8")
	request.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	request.Header.Set("Stripe-Signature", billing.SignWebhook(payload, e.secret, e.wallClock()))
	response, err := e.client.Do(request)
	if err != nil {
		e.logger.Warn("payments emulator: webhook delivery failed", "event", ev.ID, "type", ev.Type, "error", err)
		return &deliveryError{event: ev, err: err}
	}
	defer response.Body.Close()
	// The start of the answer is enough to show the developer what their
	// webhook said.
	body, _ := io.ReadAll(io.LimitReader(response.Body, 512))
	if response.StatusCode < 200 || response.StatusCode > 299 {
		e.logger.Warn("payments emulator: webhook refused event", "event", ev.ID, "type", ev.Type, "status", response.StatusCode)
		return &deliveryError{event: ev, status: response.Status, body: strings.TrimSpace(string(body))}
	}
	e.logger.Info("payments emulator: delivered event", "event", ev.ID, "type", ev.Type, "status", response.StatusCode)
	return nil
}

// deliveryError is an event the webhook did not accept.
type deliveryError struct {
	event event
	// status and body are the webhook's answer; err is why there was none.
	status string
	body   string
	err    error
}

// Error says which event failed and what the webhook answered.
func (d *deliveryError) Error() string {
	if d.err != nil {
		return fmt.Sprintf("%s (%s) was not delivered: %v", d.event.Type, d.event.ID, d.err)
	}
	message := fmt.Sprintf("%s (%s) was refused: the webhook answered %s", d.event.Type, d.event.ID, d.status)
	if d.body != "" {
		message += ": " + d.body
	}
	return message
}
