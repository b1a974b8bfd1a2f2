package billing

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

// The signing secrets of the test and live webhook endpoints.
const (
	testSecret = "whsec_test_secret"
	liveSecret = "whsec_live_secret"
)

// eventObject is data.object of the fixture event.
const eventObject = `{"id":"sub_1","object":"subscription","status":"active","metadata":{"projectId":"prj_1"}}`

// eventPayload returns an event as Stripe sends it, rendered in apiVersion.
func eventPayload(apiVersion string) []byte {
	return fmt.Appendf(nil, `{"id":"evt_1","object":"event","api_version":%q,"account":"acct_1LiveDeveloper",`+
		`"created":1700000000,"livemode":true,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},`+
		`"type":"customer.subscription.updated","data":{"object":%s,"previous_attributes":{"status":"trialing"}}}`,
		apiVersion, eventObject)
}

func TestWebhookVerifier_VerifyWebhook(t *testing.T) {
	payload := eventPayload("2023-10-16")

	t.Run("Event", func(t *testing.T) {
		v := NewWebhookVerifier(testSecret)
		event, err := v.VerifyWebhook(payload, SignWebhook(payload, testSecret, time.Now()))
		if err != nil {
			t.Fatalf("verifying a signed webhook event: %v, want the event", err)
		}
		want := dream.PaymentEvent{
			ID:      "evt_1",
			Type:    "customer.subscription.updated",
			Mode:    dream.ModeLive,
			Account: "acct_1LiveDeveloper",
			Created: time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC),
		}
		if event.ID != want.ID || event.Type != want.Type || event.Mode != want.Mode ||
			event.Account != want.Account || !event.Created.Equal(want.Created) {
			t.Errorf("the verified webhook event is %+v, want %+v", event, want)
		}
		if c := event.Subscription; c == nil || c.Subscription.ID != "sub_1" || c.Subscription.Status != dream.StatusActive {
			t.Errorf("the event reports %+v, want subscription sub_1 active", c)
		}
		if !bytes.Equal(event.Payload, payload) {
			t.Errorf("the webhook event keeps the payload %s, want %s", event.Payload, payload)
		}
	})

	// A Connect endpoint in live mode receives the events of both modes.
	t.Run("EitherSecret", func(t *testing.T) {
		v := NewWebhookVerifier(liveSecret, testSecret)
		for _, secret := range []string{liveSecret, testSecret} {
			if _, err := v.VerifyWebhook(payload, SignWebhook(payload, secret, time.Now())); err != nil {
				t.Errorf("verifying a webhook event signed with %s: %v, want it accepted", secret, err)
			}
		}
	})

	// Stripe renders events in the API version of the account or the
	// endpoint, not necessarily stripe-go's.
	t.Run("OtherAPIVersion", func(t *testing.T) {
		other := eventPayload("2024-06-20")
		if _, err := NewWebhookVerifier(testSecret).VerifyWebhook(other, SignWebhook(other, testSecret, time.Now())); err != nil {
			t.Errorf("verifying a webhook event of API version 2024-06-20: %v, want it accepted", err)
		}
	})

	// While a secret is rolled, Stripe signs with the old and the new one.
	t.Run("SeveralSignatures", func(t *testing.T) {
		now := time.Now()
		header := SignWebhook(payload, "whsec_old", now) + ",v1=" + strings.TrimPrefix(SignWebhook(payload, testSecret, now), fmt.Sprintf("t=%d,v1=", now.Unix()))
		if _, err := NewWebhookVerifier(testSecret).VerifyWebhook(payload, header); err != nil {
			t.Errorf("verifying a webhook event with signature header %s: %v, want it accepted", header, err)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		now := time.Now()
		notAnEvent := []byte(`{"object":"list","data":[]}`)
		noObject := []byte(`{"id":"evt_1","object":"event","type":"invoice.paid","created":1700000000,"data":{"object":null}}`)
		tests := []struct {
			name      string
			payload   []byte
			signature string
			want      *dream.Error
		}{
			{"WrongSecret", payload, SignWebhook(payload, "whsec_other", now), errSignatureMismatch},
			{"TamperedPayload", bytes.Replace(payload, []byte(`"livemode":true`), []byte(`"livemode":false`), 1), SignWebhook(payload, testSecret, now), errSignatureMismatch},
			{"StaleTimestamp", payload, SignWebhook(payload, testSecret, now.Add(-400*time.Second)), errSignatureMismatch},
			{"MissingHeader", payload, "", errNoSignature},
			{"GarbageHeader", payload, "garbage", errSignatureMismatch},
			{"NoV1Signature", payload, fmt.Sprintf("t=%d,v0=abcdef", now.Unix()), errSignatureMismatch},
			{"NoTimestamp", payload, strings.SplitN(SignWebhook(payload, testSecret, now), ",", 2)[1], errSignatureMismatch},
			{"NotJSON", []byte("not json"), SignWebhook([]byte("not json"), testSecret, now), errSignatureMismatch},
			{"NotAnEvent", notAnEvent, SignWebhook(notAnEvent, testSecret, now), errSignatureMismatch},
			{"NoObject", noObject, SignWebhook(noObject, testSecret, now), errSignatureMismatch},
		}
		v := NewWebhookVerifier(liveSecret, testSecret)
		for _, test := range tests {
			t.Run(test.name, func(t *testing.T) {
				event, err := v.VerifyWebhook(test.payload, test.signature)
				if event != nil {
					t.Errorf("a bad webhook request gave the event %+v, want none", event)
				}
				assertError(t, err, test.want, "")
			})
		}
	})

	// An unset secret of the configuration is skipped, never used to
	// verify: anyone could sign with "".
	t.Run("EmptySecretSkipped", func(t *testing.T) {
		v := NewWebhookVerifier("", testSecret)
		if _, err := v.VerifyWebhook(payload, SignWebhook(payload, "", time.Now())); !errors.Is(err, errSignatureMismatch) {
			t.Errorf("verifying a webhook event signed with the empty secret: %v, want %v", err, errSignatureMismatch)
		}
		if _, err := v.VerifyWebhook(payload, SignWebhook(payload, testSecret, time.Now())); err != nil {
			t.Errorf("verifying a webhook event signed with the test secret: %v, want it accepted", err)
		}
	})

	// Without a secret nothing can be verified: the server is at fault.
	t.Run("NoSecret", func(t *testing.T) {
		_, err := NewWebhookVerifier("", "").VerifyWebhook(payload, SignWebhook(payload, "", time.Now()))
		var shown *dream.Error
		if err == nil || errors.As(err, &shown) {
			t.Errorf("verifying a webhook event with no secret set: %v, want an internal error", err)
		}
	})
}

func TestSignWebhook(t *testing.T) {
	payload := []byte(`{"id":"evt_1"}`)
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(`1700000000.{"id":"evt_1"}`))
	want := "t=1700000000,v1=" + hex.EncodeToString(mac.Sum(nil))
	if got := SignWebhook(payload, testSecret, time.Unix(1700000000, 0)); got != want {
		t.Errorf("signing a webhook payload gave the header %q, want %q", got, want)
	}
}

// fuzzSecret is the one secret of FuzzVerifyWebhook.
const fuzzSecret = "whsec_fuzz"

// FuzzVerifyWebhook checks that no payload and header make VerifyWebhook
// panic, accept a header that does not hold a fresh signature of the
// payload, or fail as anything but a refusal. Each payload is also verified
// with a valid signature, which takes it to the event parsing.
func FuzzVerifyWebhook(f *testing.F) {
	now := time.Now()
	payload := eventPayload("2023-10-16")
	f.Add(payload, SignWebhook(payload, fuzzSecret, now))
	f.Add(payload, SignWebhook(payload, fuzzSecret, now.Add(-time.Hour)))
	f.Add(payload, SignWebhook(payload, "whsec_other", now))
	f.Add(payload, "")
	f.Add(payload, "t=,v1=")
	f.Add(payload, "t=1,v1=00,v1=zz,=,,")
	f.Add([]byte("not json"), SignWebhook([]byte("not json"), fuzzSecret, now))
	f.Add([]byte(`{"id":"evt_1","type":"x","data":{"object":[]}}`), "t=0")
	f.Add([]byte(`{"id":"evt_1","type":"x","data":{"object":{}},"created":-9223372036854775808}`), "v1=")
	f.Add([]byte("null"), "t=99999999999999999999,v1=00")

	v := NewWebhookVerifier(fuzzSecret)
	f.Fuzz(func(t *testing.T, payload []byte, header string) {
		event, err := v.VerifyWebhook(payload, header)
		if err == nil {
			if !freshlySigned(payload, header, fuzzSecret) {
				t.Fatalf("the verifier accepted header %q, want a refusal without a fresh signature of the payload",
					header)
			}
			checkFuzzedEvent(t, event, payload)
		} else if dream.ErrorKind(err) != dream.KindInvalid {
			t.Fatalf("the webhook request was refused with %v, want a refusal of kind invalid", err)
		}

		event, err = v.VerifyWebhook(payload, SignWebhook(payload, fuzzSecret, time.Now()))
		if err == nil {
			checkFuzzedEvent(t, event, payload)
		} else if dream.ErrorKind(err) != dream.KindInvalid {
			t.Fatalf("a signed webhook payload was refused with %v, want a refusal of kind invalid", err)
		}
	})
}

// freshlySigned reports whether header, parsed independently of stripe-go,
// holds a signature of payload by secret no older than the tolerance.
func freshlySigned(payload []byte, header, secret string) bool {
	var timestamp string
	var signatures [][]byte
	for pair := range strings.SplitSeq(header, ",") {
		name, value, _ := strings.Cut(pair, "=")
		switch name {
		case "t":
			timestamp = value
		case "v1":
			if signature, err := hex.DecodeString(value); err == nil {
				signatures = append(signatures, signature)
			}
		}
	}
	// The verification ran a moment ago, hence the slack.
	unix, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(unix, 0)) > webhookTolerance+time.Minute {
		return false
	}
	// Stripe signs the timestamp as written in decimal, whatever form
	// ("+017…") the header gives it.
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(unix, 10) + "."))
	mac.Write(payload)
	expected := mac.Sum(nil)
	for _, signature := range signatures {
		if hmac.Equal(signature, expected) {
			return true
		}
	}
	return false
}

// checkFuzzedEvent checks that an accepted event is one.
func checkFuzzedEvent(t *testing.T, event *dream.PaymentEvent, payload []byte) {
	t.Helper()
	if event.ID == "" || event.Type == "" {
		t.Fatalf("the verifier accepted a webhook event without id or type, want both: %+v", event)
	}
	if event.Mode != dream.ModeTest && event.Mode != dream.ModeLive {
		t.Fatalf("the verifier accepted a webhook event of mode %q, want test or live", event.Mode)
	}
	changes := 0
	for _, set := range []bool{event.Checkout != nil, event.Expired != nil, event.Subscription != nil, event.Invoice != nil, event.Deauthorized} {
		if set {
			changes++
		}
	}
	if changes > 1 {
		t.Fatalf("a webhook event reports %d changes, want at most 1: %+v", changes, event)
	}
	if !bytes.Equal(event.Payload, payload) {
		t.Fatalf("the accepted webhook event keeps the payload %q, want %q", event.Payload, payload)
	}
}
