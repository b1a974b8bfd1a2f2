package edge

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/dream-api/dream"
)

// requestBase is the URL relative return URLs resolve against: the
// calling page's Origin when it is a valid one, else this server as the
// client reached it.
func requestBase(r *http.Request) *url.URL {
	if origin := r.Header.Get("Origin"); dream.ValidOrigin(origin) {
		scheme, host, _ := strings.Cut(origin, "://")
		return &url.URL{Scheme: scheme, Host: host}
	}
	scheme := "https"
	if r.TLS == nil && r.Header.Get("X-Forwarded-Proto") != "https" {
		scheme = "http"
	}
	return &url.URL{Scheme: scheme, Host: r.Host}
}

// returnURL resolves a client's success, cancel or return URL: an absolute
// http(s) URL as it is, a path against base, "" as fallback. A URL that
// starts with "//" names another host, not a path, and is refused like any
// other that is neither. Any absolute http(s) URL is accepted until
// projects have allowed origins.
func returnURL(base *url.URL, raw, fallback, field string) (string, error) {
	if err := dream.CheckLength(field, raw, dream.MaxURL); err != nil {
		return "", err
	}
	if raw == "" {
		raw = fallback
	}
	u, err := url.Parse(raw)
	if err == nil && u.Scheme == "" && u.Host == "" && !strings.HasPrefix(raw, "//") {
		u = base.ResolveReference(u)
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", dream.Errorf(dream.KindInvalid, "Invalid URL", "%s must be an http(s) URL or a path", field)
	}
	return u.String(), nil
}

// checkoutJSON is the answer of the checkout routes. "url" is what the
// original sent; the session id is added beside it.
type checkoutJSON struct {
	URL       string `json:"url"`
	SessionID string `json:"sessionId"`
}

// handleCreateCheckout starts a subscription checkout for the end user:
// POST /api/create-checkout.
func (s *Server) handleCreateCheckout(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		Tier       string `json:"tier"`
		PriceID    string `json:"priceId"`
		SuccessURL string `json:"successUrl"`
		CancelURL  string `json:"cancelUrl"`
	}
	if err := decodeOptionalJSON(r, &body); err != nil {
		return err
	}
	ctx, env := r.Context(), req.key
	tiers, err := s.tiers(ctx, env.ID)
	if err != nil {
		return err
	}
	tier, err := dream.CheckoutTier(tiers, body.Tier, body.PriceID)
	if err != nil {
		return err
	}
	base := requestBase(r)
	success, err := returnURL(base, body.SuccessURL, "/dashboard?success=true", "successUrl")
	if err != nil {
		return err
	}
	cancel, err := returnURL(base, body.CancelURL, "/dashboard?canceled=true", "cancelUrl")
	if err != nil {
		return err
	}
	account, err := dream.ConnectedAccount(ctx, s.db, env)
	if err != nil {
		return err
	}
	session := dream.CheckoutSession{
		Account:           account,
		Mode:              dream.CheckoutSubscription,
		LineItems:         []dream.LineItem{tier.LineItem(1)},
		CustomerEmail:     req.user.Email,
		ClientReferenceID: req.user.UserID,
		SuccessURL:        success,
		CancelURL:         cancel,
		TrialDays:         tier.TrialDays,
		AutomaticTax:      env.Project.EnableTax,
	}
	// The canonical slug, not what the client sent, so the webhook grants
	// exactly the tier that was paid for.
	metadata := map[string]string{"userId": req.user.UserID, "tier": tier.Slug, "publishableKey": env.PublishableKey}
	session.Metadata, session.SubscriptionMetadata = metadata, metadata
	endUser, err := s.db.EndUser(ctx, env.ID, req.user.UserID)
	if err != nil {
		return err
	}
	if endUser != nil && endUser.StripeCustomerID != "" {
		session.CustomerID, session.CustomerEmail = endUser.StripeCustomerID, ""
	}
	result, err := s.payments.CreateCheckoutSession(ctx, session)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, checkoutJSON{URL: result.URL, SessionID: result.ID})
	return nil
}

// handleCustomerPortal opens the payment provider's portal for the end
// user's subscription: POST /api/customer-portal.
func (s *Server) handleCustomerPortal(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		ReturnURL string `json:"returnUrl"`
	}
	if err := decodeOptionalJSON(r, &body); err != nil {
		return err
	}
	back, err := returnURL(requestBase(r), body.ReturnURL, "/dashboard", "returnUrl")
	if err != nil {
		return err
	}
	link, err := s.openPortal(r.Context(), req.key, req.user.UserID, back)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": link})
	return nil
}

// openPortal opens the payment provider's portal of an end user's
// subscription, returning to back, and returns its URL.
func (s *Server) openPortal(ctx context.Context, env *dream.Environment, userID, back string) (string, error) {
	endUser, err := s.db.EndUser(ctx, env.ID, userID)
	if err != nil {
		return "", err
	}
	if endUser == nil || endUser.StripeCustomerID == "" {
		return "", dream.Errorf(dream.KindInvalid, "No active subscription found", "This end user has not subscribed yet")
	}
	account, err := dream.ConnectedAccount(ctx, s.db, env)
	if err != nil {
		return "", err
	}
	tiers, err := s.tiers(ctx, env.ID)
	if err != nil {
		return "", err
	}
	var plans []dream.LineItem
	for i := range tiers {
		if tiers[i].BillingMode == dream.BillingSubscription && tiers[i].StripePriceID != "" {
			plans = append(plans, tiers[i].LineItem(1))
		}
	}
	return s.payments.CreatePortalSession(ctx, dream.PortalSession{
		Account: account, CustomerID: endUser.StripeCustomerID, ReturnURL: back, Plans: plans,
	})
}

// handleCartCheckout starts a guest checkout of store products:
// POST /api/cart/checkout.
func (s *Server) handleCartCheckout(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		Items      []dream.CartItem `json:"items"`
		Email      string           `json:"email"`
		SuccessURL string           `json:"successUrl"`
		CancelURL  string           `json:"cancelUrl"`
	}
	if err := decodeOptionalJSON(r, &body); err != nil {
		return err
	}
	ctx, env := r.Context(), req.scope
	base := requestBase(r)
	success, err := returnURL(base, body.SuccessURL, "/cart?success=true", "successUrl")
	if err != nil {
		return err
	}
	cancel, err := returnURL(base, body.CancelURL, "/cart?canceled=true", "cancelUrl")
	if err != nil {
		return err
	}
	tiers, err := s.tiers(ctx, env.ID)
	if err != nil {
		return err
	}
	result, err := s.carts.CartCheckout(ctx, env, tiers, dream.Cart{Items: body.Items, Email: body.Email, SuccessURL: success, CancelURL: cancel})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, checkoutJSON{URL: result.URL, SessionID: result.ID})
	return nil
}

// handleWebhook receives the payment provider's events: POST
// /webhook/stripe.
func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request, _ *request) error {
	return s.receiveWebhook(w, r, "connect", s.webhooks.ReceivePaymentEvent)
}

// handlePlatformWebhook answers POST /webhook/platform: the operator's
// account reporting developers' subscriptions.
func (s *Server) handlePlatformWebhook(w http.ResponseWriter, r *http.Request, _ *request) error {
	return s.receiveWebhook(w, r, "platform", s.platformWebhooks.ReceivePlatformEvent)
}

// receiveWebhook reads a webhook delivery to endpoint, has receive verify
// and apply it, counts it and answers what it did.
func (s *Server) receiveWebhook(w http.ResponseWriter, r *http.Request, endpoint string,
	receive func(ctx context.Context, payload []byte, signature string) (dream.PaymentEventOutcome, error)) error {
	payload, err := readBody(r)
	if err != nil {
		return err
	}
	outcome, err := receive(r.Context(), payload, r.Header.Get("Stripe-Signature"))
	s.metrics.Webhook(endpoint, outcome.Type, webhookOutcome(outcome, err))
	if err != nil {
		return err
	}
	body := map[string]any{"received": true, "result": outcome.Result}
	if outcome.Result == dream.EventDuplicate {
		body["idempotent"] = true
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// webhookOutcome is the outcome label of a delivery: the result of its
// event once applied, "invalid_signature" when its signature did not
// verify, "error" when the node failed to verify or apply it.
func webhookOutcome(outcome dream.PaymentEventOutcome, err error) string {
	var e *dream.Error
	switch {
	case err == nil:
		return outcome.Result
	case outcome.Type == "" && errors.As(err, &e) && e.Kind == dream.KindInvalid:
		return "invalid_signature"
	}
	return "error"
}

// mountDevPayments routes the payments emulator's pages and its clock.
func (s *Server) mountDevPayments(h http.Handler) {
	for _, route := range []struct{ method, path string }{
		{http.MethodGet, "/dev/checkout/*rest"},
		{http.MethodPost, "/dev/checkout/*rest"},
		{http.MethodGet, "/dev/portal/*rest"},
		{http.MethodPost, "/dev/portal/*rest"},
		{http.MethodPost, "/dev/clock/advance"},
		{http.MethodGet, "/dev/meter-events"},
		{http.MethodGet, "/dev/connect/authorize"},
		{http.MethodPost, "/dev/connect/authorize"},
	} {
		s.mount(dream.Route{Method: route.method, Path: route.path, Access: dream.AccessNone, MaxBody: maxFormBody}, h)
	}
}
