package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/billing"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// baseURL is the server URL the tests' emulators build page URLs on.
const baseURL = "http://127.0.0.1:8787"

// account is the connected account the tests act on.
var account = dream.PaymentAccount{Mode: dream.ModeTest, AccountID: "acct_dev"}

// receiver is a webhook endpoint that verifies every delivery as the
// server does, with stripe-go and the emulator's secret, and records the
// events in order.
type receiver struct {
	t      *testing.T
	server *httptest.Server

	mu     sync.Mutex
	secret string
	// status is what the receiver answers.
	status int
	// onEvent, if set, runs for each event before the receiver answers, as
	// the server's handler would.
	onEvent func(stripe.Event)
	events  []stripe.Event
	// reports are the events as the server's verifier reads them.
	reports []*dream.PaymentEvent
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{t: t, status: http.StatusOK}
	r.server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.server.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, request *http.Request) {
	payload, err := io.ReadAll(request.Body)
	if err != nil {
		r.t.Errorf("reading a webhook delivery: %v, want its payload", err)
		return
	}
	r.mu.Lock()
	secret, status, onEvent := r.secret, r.status, r.onEvent
	r.mu.Unlock()
	if request.URL.Path != "/webhook/stripe" || request.Method != http.MethodPost {
		r.t.Errorf("a webhook delivery went to %s %s, want POST /webhook/stripe", request.Method, request.URL.Path)
	}
	event, err := webhook.ConstructEventWithOptions(payload, request.Header.Get("Stripe-Signature"), secret,
		webhook.ConstructEventOptions{Tolerance: 300 * time.Second, IgnoreAPIVersionMismatch: true})
	if err != nil {
		r.t.Errorf("verifying a webhook delivery with stripe-go: %v, want a valid signature", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if event.Object != "event" || event.APIVersion != "2023-10-16" || event.PendingWebhooks != 1 ||
		!strings.HasPrefix(event.ID, "evt_") || event.Account != account.AccountID || event.Livemode {
		r.t.Errorf("the webhook event envelope is %s, want a test event evt_ of %s, API 2023-10-16, 1 pending webhook",
			payload, account.AccountID)
	}
	report, err := billing.NewWebhookVerifier(secret).VerifyWebhook(payload, request.Header.Get("Stripe-Signature"))
	if err != nil {
		r.t.Errorf("the server's verifier refuses a webhook delivery: %v, want it accepted", err)
	}
	if onEvent != nil {
		onEvent(event)
	}
	r.mu.Lock()
	r.events = append(r.events, event)
	r.reports = append(r.reports, report)
	r.mu.Unlock()
	w.WriteHeader(status)
}

// take returns the events received since the last take.
func (r *receiver) take() []stripe.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	events := r.events
	r.events = nil
	return events
}

// lastReport is the last event received, as the server reads it.
func (r *receiver) lastReport() *dream.PaymentEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reports) == 0 {
		return nil
	}
	return r.reports[len(r.reports)-1]
}

// handle makes the receiver run onEvent for each event before answering.
func (r *receiver) handle(onEvent func(stripe.Event)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onEvent = onEvent
}

// answer makes the receiver answer status.
func (r *receiver) answer(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

// fixture is an emulator delivering to a receiver.
type fixture struct {
	emulator *Emulator
	receiver *receiver
	path     string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{receiver: newReceiver(t), path: filepath.Join(t.TempDir(), "payments.db")}
	f.reopen(t)
	return f
}

// reopen opens the fixture's database, closing the emulator on it if any.
func (f *fixture) reopen(t *testing.T) {
	t.Helper()
	if f.emulator != nil {
		if err := f.emulator.Close(); err != nil {
			t.Fatal(err)
		}
	}
	e, err := Open(f.path, Config{BaseURL: baseURL + "/", WebhookURL: f.receiver.server.URL + "/webhook/stripe"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	f.emulator = e
	f.receiver.mu.Lock()
	f.receiver.secret = e.WebhookSecret()
	f.receiver.mu.Unlock()
}

// checkout creates a checkout session and returns its id.
func (f *fixture) checkout(t *testing.T, request dream.CheckoutSession) string {
	t.Helper()
	result, err := f.emulator.CreateCheckoutSession(context.Background(), request)
	if err != nil {
		t.Fatalf("creating a checkout session: %v, want a session", err)
	}
	if result.URL != baseURL+"/dev/checkout/"+result.ID {
		t.Fatalf("checkout session %s has URL %s, want %s", result.ID, result.URL, baseURL+"/dev/checkout/"+result.ID)
	}
	return result.ID
}

// do serves one request to the emulator, a form if form is not nil.
func (f *fixture) do(t *testing.T, method, path string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	request := httptest.NewRequest(method, path, body)
	if form != nil {
		request.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	response := httptest.NewRecorder()
	f.emulator.ServeHTTP(response, request)
	return response
}

// pay presses the Pay button of the session id.
func (f *fixture) pay(t *testing.T, id string) *httptest.ResponseRecorder {
	t.Helper()
	return f.do(t, http.MethodPost, "/dev/checkout/"+id+"/pay", url.Values{})
}

// subscribe pays a subscription checkout of request and returns its
// events.
func (f *fixture) subscribe(t *testing.T, request dream.CheckoutSession) []stripe.Event {
	t.Helper()
	response := f.pay(t, f.checkout(t, request))
	if response.Code != http.StatusSeeOther {
		t.Fatalf("paying a subscription checkout answered %d %s, want 303", response.Code, response.Body)
	}
	return f.receiver.take()
}

// advanceResponse is the answer of POST /dev/clock/advance.
type advanceResponse struct {
	Now     string   `json:"now"`
	Events  []string `json:"events"`
	Error   string   `json:"error"`
	Message string   `json:"message"`
}

// advance posts body to /dev/clock/advance.
func (f *fixture) advance(t *testing.T, body string) (int, advanceResponse) {
	t.Helper()
	request := httptest.NewRequest(http.MethodPost, "/dev/clock/advance", strings.NewReader(body))
	request.Header.Set("Content-Type", "application/json")
	response := httptest.NewRecorder()
	f.emulator.ServeHTTP(response, request)
	var answer advanceResponse
	if err := json.Unmarshal(response.Body.Bytes(), &answer); err != nil {
		t.Fatalf("decoding the clock advance answer %q: %v, want JSON", response.Body, err)
	}
	return response.Code, answer
}

// subscriptionRequest is a checkout of the Pro plan by a new customer.
func subscriptionRequest() dream.CheckoutSession {
	return dream.CheckoutSession{
		Account:           account,
		Mode:              dream.CheckoutSubscription,
		LineItems:         []dream.LineItem{proPlan(1)},
		CustomerEmail:     "ada@example.com",
		ClientReferenceID: "user_ada",
		SuccessURL:        "https://app.example/welcome?session={CHECKOUT_SESSION_ID}",
		CancelURL:         "https://app.example/pricing",
		Metadata:          map[string]string{"project": "prj_1"},
		SubscriptionMetadata: map[string]string{
			"project": "prj_1", "user": "user_ada",
		},
	}
}

func proPlan(quantity int64) dream.LineItem {
	return dream.LineItem{PriceID: "price_pro", Quantity: quantity, ProductID: "prod_pro", Description: "Pro",
		UnitAmount: 1900, Currency: "usd", Recurring: true}
}

func teamPlan() dream.LineItem {
	return dream.LineItem{PriceID: "price_team", ProductID: "prod_team", Description: "Team",
		UnitAmount: 4900, Currency: "usd", Recurring: true}
}

// decode decodes an event's object into a stripe-go type.
func decode[T any](t *testing.T, event stripe.Event) *T {
	t.Helper()
	v := new(T)
	if err := json.Unmarshal(event.Data.Raw, v); err != nil {
		t.Fatalf("decoding the object of a %s webhook event: %v, want it decoded", event.Type, err)
	}
	return v
}

// types lists the types of events.
func types(events []stripe.Event) []string {
	var names []string
	for _, event := range events {
		names = append(names, string(event.Type))
	}
	return names
}

// expectTypes fails unless events are of the types want, in order.
func expectTypes(t *testing.T, events []stripe.Event, want ...string) {
	t.Helper()
	if got := types(events); !slices.Equal(got, want) {
		t.Fatalf("the webhook delivered events %v, want %v", got, want)
	}
}

// expectError fails unless err is a dream.Error of kind and code.
func expectError(t *testing.T, err error, kind dream.Kind, code string) *dream.Error {
	t.Helper()
	var e *dream.Error
	if !errors.As(err, &e) || e.Kind != kind || e.Code != code || e.Message == "" {
		t.Fatalf("the call failed with %v, want a dream.Error of kind %d, code %q and a message", err, kind, code)
	}
	return e
}

// monthAfter is the end of a monthly period starting at t.
func monthAfter(t int64) int64 { return time.Unix(t, 0).UTC().AddDate(0, 1, 0).Unix() }

func TestReopenKeepsSecretAndClock(t *testing.T) {
	f := newFixture(t)
	secret := f.emulator.WebhookSecret()
	if !strings.HasPrefix(secret, "whsec_") || len(secret) < 30 {
		t.Fatalf("the webhook secret is %q, want whsec_ and at least 30 characters", secret)
	}
	if code, answer := f.advance(t, `{"days": 5}`); code != http.StatusOK || len(answer.Events) != 0 {
		t.Fatalf("advancing the clock 5 days answered %d %+v, want 200 and no events", code, answer)
	}
	f.reopen(t)
	if f.emulator.WebhookSecret() != secret {
		t.Fatalf("the webhook secret is %q after reopening, want the old %q", f.emulator.WebhookSecret(), secret)
	}
	ahead := time.Until(f.emulator.now())
	if ahead < 5*24*time.Hour-time.Minute || ahead > 5*24*time.Hour+time.Minute {
		t.Fatalf("after reopening the clock is ahead by %v, want 5 days", ahead)
	}
}
