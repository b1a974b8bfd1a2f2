package edge_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/billing"
)

// browser is an HTTP client that stops at redirects, so tests see them.
var browser = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// page fetches a page of the emulator through the server.
func (h *harness) page(link string) string {
	h.t.Helper()
	res, err := browser.Get(link)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		h.t.Fatalf("the emulator page GET %s answered %d %s, want 200", link, res.StatusCode, body)
	}
	return string(body)
}

// post submits a form of an emulator page and returns where it redirects.
func (h *harness) post(link string, form url.Values) string {
	h.t.Helper()
	res, err := browser.PostForm(link, form)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("submitting the emulator form POST %s answered %d %s, want a 303 redirect", link, res.StatusCode, body)
	}
	return res.Header.Get("Location")
}

// checkout starts a subscription checkout for an end user.
func (h *harness) checkout(pk, token, body string, headers ...string) response {
	h.t.Helper()
	return h.do("POST", "/api/create-checkout", body, append([]string{"X-Publishable-Key", pk, "X-Clerk-Token", token}, headers...)...)
}

func TestCreateCheckout(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pk := h.saas.Test.PublishableKey
	token := h.token(pk, "ada@example.com", "")

	t.Run("DefaultTierIsPro", func(t *testing.T) {
		res := h.checkout(pk, token, "")
		link, _ := res.body["url"].(string)
		if res.status != 200 || !strings.HasPrefix(link, h.baseURL+"/dev/checkout/cs_test_") || res.body["sessionId"] == "" {
			t.Fatalf("checkout answered %d %s, want 200 with a session id and the emulator's checkout page URL",
				res.status, res.raw)
		}
		page := h.page(link)
		if !strings.Contains(page, "Pro Plan") || !strings.Contains(page, "29.00 USD") {
			t.Fatalf("the checkout page does not sell Pro Plan at 29.00 USD, want it to:\n%s", page)
		}
	})
	for _, tt := range []struct {
		name, body, item string
	}{
		{"TierBySlug", `{"tier":"enterprise"}`, "Enterprise"},
		{"TierByDisplayName", `{"tier":"pro plan"}`, "Pro Plan"},
		{"TierFromPrice", `{"priceId":"price_enterprise"}`, "Enterprise"},
		{"TierAndItsPrice", `{"tier":"pro","priceId":"price_pro"}`, "Pro Plan"},
		{"UnreadableBodyIsEmpty", `{"tier":`, "Pro Plan"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := h.checkout(pk, token, tt.body)
			if res.status != 200 {
				t.Fatalf("checkout with %s answered %d %s, want 200", tt.body, res.status, res.raw)
			}
			if page := h.page(res.body["url"].(string)); !strings.Contains(page, tt.item) {
				t.Fatalf("the checkout page for %s does not sell %s, want it to:\n%s", tt.body, tt.item, page)
			}
		})
	}
	for _, tt := range []struct {
		name, body, code string
	}{
		{"ForeignPrice", `{"priceId":"price_elsewhere"}`, "Invalid price"},
		{"ProductPrice", `{"priceId":"price_mug"}`, "Invalid price"},
		{"CheapPriceForDearTier", `{"tier":"enterprise","priceId":"price_free"}`, "Invalid price"},
		{"UnknownTier", `{"tier":"gold"}`, "No price ID configured for tier: gold"},
		{"ScriptURL", `{"successUrl":"javascript:alert(1)"}`, "Invalid URL"},
		// Not a path of the page's origin but another host.
		{"SchemeRelativeURL", `{"successUrl":"//evil.example.com/thanks"}`, "Invalid URL"},
		{"SchemeRelativeCancelURL", `{"cancelUrl":"//evil.example.com"}`, "Invalid URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			expectError(t, h.checkout(pk, token, tt.body), 400, tt.code, "")
		})
	}
	t.Run("RelativeURLsResolveAgainstOrigin", func(t *testing.T) {
		res := h.checkout(pk, token, `{"successUrl":"/thanks","cancelUrl":"pricing?x=1"}`, "Origin", "https://shop.example.com")
		page := h.page(res.body["url"].(string))
		if !strings.Contains(page, `href="https://shop.example.com/pricing?x=1"`) {
			t.Fatalf("the checkout page's cancel link is not https://shop.example.com/pricing?x=1 (resolved against Origin):\n%s",
				page)
		}
		location := h.post(res.body["url"].(string)+"/pay", nil)
		if location != "https://shop.example.com/thanks" {
			t.Fatalf("paying redirected to %q, want https://shop.example.com/thanks", location)
		}
	})
	t.Run("NotConnected", func(t *testing.T) {
		tok := h.token(h.other.Test.PublishableKey, "x@example.com", "")
		expectError(t, h.checkout(h.other.Test.PublishableKey, tok, ""), 400, "Developer has not connected their Stripe account", "")
	})
	t.Run("NeedsEndUser", func(t *testing.T) {
		expectError(t, h.do("POST", "/api/create-checkout", "", "X-Publishable-Key", pk), 401, "Invalid or missing end-user token", "")
	})
}

// TestSubscriptionFlow pays, cancels and upgrades through the emulator's
// pages, which deliver signed webhooks to the server.
func TestSubscriptionFlow(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pk, env := h.saas.Test.PublishableKey, h.saas.Test.EnvironmentID
	token := h.token(pk, "bob@example.com", "")
	usage := func() map[string]any {
		return h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", token).body
	}
	expectError(t, h.do("POST", "/api/customer-portal", "", "X-Publishable-Key", pk, "X-Clerk-Token", token), 400, "No active subscription found", "")

	// The client names the tier by display name; what is stored is the slug.
	res := h.checkout(pk, token, `{"tier":"PRO PLAN","successUrl":"https://app.example.com/done?session={CHECKOUT_SESSION_ID}"}`)
	location := h.post(res.body["url"].(string)+"/pay", nil)
	if location != "https://app.example.com/done?session="+res.body["sessionId"].(string) {
		t.Fatalf("paying redirected to %q, want the success URL with session %v", location, res.body["sessionId"])
	}
	// The very next call, with the same token, has the pro limit.
	if u := usage(); u["plan"] != "pro" || u["limit"] != 10000.0 {
		t.Fatalf("after checkout the user's usage is %v, want plan pro with limit 10000", u)
	}
	// A fresh token carries the plan too.
	claims, err := h.issuer.VerifyEndUserToken(context.Background(), dream.ModeTest, h.token(pk, "bob@example.com", ""))
	if err != nil || claims.Plan != "pro" {
		t.Fatalf("a fresh end-user token after checkout has claims %+v (error %v), want plan pro", claims, err)
	}
	user, _ := h.db.EndUser(context.Background(), env, claims.UserID)
	if user == nil || !strings.HasPrefix(user.StripeCustomerID, "cus_") || user.Email != "bob@example.com" {
		t.Fatalf("after checkout the end user is %+v, want email bob@example.com and a cus_ payments customer", user)
	}

	// The portal honours returnUrl and shows a scheduled cancellation.
	res = h.do("POST", "/api/customer-portal", `{"returnUrl":"/account"}`, "X-Publishable-Key", pk, "X-Clerk-Token", token, "Origin", "https://app.example.com")
	portal, _ := res.body["url"].(string)
	if res.status != 200 || !strings.HasPrefix(portal, h.baseURL+"/dev/portal/") {
		t.Fatalf("the customer portal answered %d %s, want 200 with an emulator portal URL", res.status, res.raw)
	}
	page := h.page(portal)
	if !strings.Contains(page, `href="https://app.example.com/account"`) {
		t.Fatalf("the portal page has no link back to https://app.example.com/account (the returnUrl):\n%s", page)
	}
	action := regexp.MustCompile(`action="(/dev/portal/[^"]+/cancel)"`).FindStringSubmatch(page)
	if action == nil {
		t.Fatalf("the portal page has no cancel form, want one:\n%s", page)
	}
	h.post(h.baseURL+action[1], nil)
	if page := h.page(portal); !strings.Contains(page, "canceling") {
		t.Fatalf("the portal page after canceling does not say canceling, want it to:\n%s", page)
	}
	if u := usage(); u["plan"] != "pro" {
		t.Fatalf("after a cancellation at period end the usage is %v, want plan pro until then", u)
	}

	// A second checkout reuses the customer.
	h.post(h.checkout(pk, token, `{"tier":"enterprise"}`).body["url"].(string)+"/pay", nil)
	again, _ := h.db.EndUser(context.Background(), env, claims.UserID)
	if again.StripeCustomerID != user.StripeCustomerID {
		t.Fatalf("a second checkout gave payments customer %s, want the first one %s reused",
			again.StripeCustomerID, user.StripeCustomerID)
	}
	if u := usage(); u["plan"] != "enterprise" {
		t.Fatalf("after upgrading the usage is %v, want plan enterprise", u)
	}

	// Past the end of the period the canceled subscription ends, the newer
	// one renews.
	advance := h.do("POST", "/dev/clock/advance", `{"days":40}`)
	if advance.status != 200 {
		t.Fatalf("advancing the payments clock 40 days answered %d %s, want 200", advance.status, advance.raw)
	}
	if u := usage(); u["plan"] != "enterprise" {
		t.Fatalf("40 days on the usage is %v, want plan enterprise (pro ended, enterprise renewed)", u)
	}
}

func TestCartCheckout(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pk, env := h.shop.Test.PublishableKey, h.shop.Test.EnvironmentID
	cart := func(body string, headers ...string) response {
		return h.do("POST", "/api/cart/checkout", body, append([]string{"X-Publishable-Key", pk}, headers...)...)
	}
	inventory := func(slug string) *int64 {
		tiers, _ := h.db.Tiers(context.Background(), env)
		for _, t := range tiers {
			if t.Slug == slug {
				return t.Inventory
			}
		}
		t.Fatalf("the store has no tier %s, want one", slug)
		return nil
	}
	for _, tt := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"NoItems", `{"items":[]}`, 400, "No items provided"},
		{"NoBody", ``, 400, "No items provided"},
		{"UnknownItem", `{"items":[{"priceId":"price_nope"}]}`, 400, "Invalid item: price_nope"},
		{"NamelessItem", `{"items":[{"quantity":1}]}`, 400, "Invalid item: unknown"},
		{"SoldOut", `{"items":[{"tier":"poster"}]}`, 400, "Item sold out: Poster"},
		{"TooMany", `{"items":[{"priceId":"price_mug","quantity":6}]}`, 400, "Not enough inventory for Mug"},
		{"DuplicatesSummed", `{"items":[{"priceId":"price_mug","quantity":3},{"productId":"prod_mug","quantity":3}]}`, 400, "Not enough inventory for Mug"},
		{"BadEmail", `{"items":[{"priceId":"price_mug"}],"email":"nope"}`, 400, "Invalid email"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			expectError(t, cart(tt.body), tt.status, tt.code, "")
		})
	}

	t.Run("PayTakesInventoryAndRecordsOrder", func(t *testing.T) {
		res := cart(`{"items":[{"priceId":"price_mug","quantity":1},{"tier":"MUG","quantity":1},{"priceId":"price_ebook","quantity":150}],
			"email":"buyer@example.com","name":"Buyer","successUrl":"/thanks"}`, "Origin", "https://shop.example.com")
		if res.status != 200 {
			t.Fatalf("a cart checkout of mugs and e-books answered %d %s, want 200", res.status, res.raw)
		}
		session := res.body["sessionId"].(string)
		items, err := h.payments.CheckoutLineItems(context.Background(), dream.PaymentAccount{Mode: dream.ModeTest, AccountID: "acct_a"}, session)
		if err != nil || len(items) != 2 || items[0].PriceID != "price_mug" || items[0].Quantity != 2 || items[1].Quantity != 99 {
			t.Fatalf("the checkout has line items %+v (error %v), want 2: price_mug x2 and the e-book capped at 99",
				items, err)
		}
		if location := h.post(res.body["url"].(string)+"/pay", nil); location != "https://shop.example.com/thanks" {
			t.Fatalf("paying redirected to %q, want https://shop.example.com/thanks", location)
		}
		if n := *inventory("mug"); n != 3 {
			t.Fatalf("mug inventory is %d after buying 2 of 5, want 3", n)
		}
		if inventory("ebook") != nil {
			t.Fatal("the e-book's inventory became a number after a sale, want none (unlimited)")
		}
		orders, err := h.db.Orders(context.Background(), env)
		if err != nil || len(orders) != 1 {
			t.Fatalf("the store has orders %+v (error %v), want exactly 1", orders, err)
		}
		if o := orders[0]; o.Email != "buyer@example.com" || o.AmountCents != 2*1200+99*900 || o.StripeSessionID != session || len(o.Items) != 2 {
			t.Fatalf("the order is %+v, want buyer@example.com, %d cents, session %s and 2 items",
				o, 2*1200+99*900, session)
		}
	})
	t.Run("SecretKeyWithStoreOverride", func(t *testing.T) {
		res := h.do("POST", "/api/cart/checkout", `{"items":[{"priceId":"price_ebook"}],"email":"b@example.com"}`,
			"Authorization", "Bearer "+h.saas.Test.SecretKey, "X-Publishable-Key", pk)
		if res.status != 200 {
			t.Fatalf("a cart checkout with a secret key and the store's publishable key answered %d %s, want 200",
				res.status, res.raw)
		}
	})
	t.Run("ProductsOfAnotherProjectAreUnknown", func(t *testing.T) {
		res := h.do("POST", "/api/cart/checkout", `{"items":[{"priceId":"price_mug"}]}`, "X-Publishable-Key", h.saas.Test.PublishableKey)
		expectError(t, res, 400, "Invalid item: price_mug", "")
	})
}

// signed posts payload to the webhook signed with secret at t.
func (h *harness) signed(payload, secret string, at time.Time) response {
	return h.do("POST", "/webhook/stripe", payload, "Stripe-Signature", billing.SignWebhook([]byte(payload), secret, at))
}

func TestWebhook(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	secret := h.payments.WebhookSecret()
	event := func(id, typ string, object any) string {
		b, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "livemode": false, "account": "acct_a",
			"created": time.Now().Unix(), "api_version": "2023-10-16", "data": map[string]any{"object": object}})
		return string(b)
	}
	sub := event("evt_sub", "customer.subscription.created", map[string]any{"id": "sub_1", "object": "subscription", "status": "active",
		"customer": "cus_1", "metadata": map[string]string{"userId": "user_9", "publishableKey": h.saas.Test.PublishableKey, "tier": "pro"},
		"items": map[string]any{"data": []any{map[string]any{"price": map[string]any{"id": "price_pro"}}}}})

	expectError(t, h.do("POST", "/webhook/stripe", sub), 400, "No signature", "")
	expectError(t, h.signed(sub, "whsec_wrong", time.Now()), 400, "Webhook signature verification failed", "")
	expectError(t, h.signed(sub, secret, time.Now().Add(-400*time.Second)), 400, "Webhook signature verification failed", "")
	expectError(t, h.signed(sub[:len(sub)-1], secret, time.Now()), 400, "Webhook signature verification failed", "")
	res := h.do("POST", "/webhook/stripe", sub+" ", "Stripe-Signature", billing.SignWebhook([]byte(sub), secret, time.Now()))
	expectError(t, res, 400, "Webhook signature verification failed", "")

	res = h.signed(sub, secret, time.Now())
	if res.status != 200 || res.body["received"] != true || res.body["result"] != "processed" {
		t.Fatalf("a signed subscription event answered %d %s, want 200 received and processed", res.status, res.raw)
	}
	res = h.signed(sub, secret, time.Now())
	if res.status != 200 || res.body["idempotent"] != true {
		t.Fatalf("the same event again answered %d %s, want 200 idempotent", res.status, res.raw)
	}
	tiers, _ := h.db.Tiers(context.Background(), h.saas.Test.EnvironmentID)
	state, _ := h.db.UserState(context.Background(), h.saas.Test.EnvironmentID, "user_9")
	if plan := dream.ResolvePlan(tiers, dream.PlanSources{Subscription: state.Subscription}); plan.Name != "pro" {
		t.Fatalf("after the subscription event user_9 is on plan %s, want pro", plan.Name)
	}
	for i, ignored := range []string{
		event("evt_unknown_type", "charge.refunded", map[string]any{"id": "ch_1"}),
		event("evt_unknown_project", "customer.subscription.created", map[string]any{"id": "sub_2",
			"metadata": map[string]string{"userId": "u", "publishableKey": dream.NewPublishableKey(dream.ModeTest)}}),
		event("evt_paid_elsewhere", "checkout.session.completed", map[string]any{"id": "cs_x", "mode": "payment", "payment_status": "paid",
			"metadata": map[string]string{"publishableKey": h.other.Test.PublishableKey}}),
	} {
		if res := h.signed(ignored, secret, time.Now()); res.status != 200 || res.body["result"] != "ignored" {
			t.Fatalf("ignorable event %d answered %d %s, want 200 ignored", i, res.status, res.raw)
		}
	}
	// An event whose object is not an object is no event at all.
	expectError(t, h.signed(event("evt_odd", "checkout.session.completed", []int{1}), secret, time.Now()), 400,
		"Webhook signature verification failed", "")
	if res := h.do("POST", "/webhook/stripe", strings.Repeat("x", 2<<20), "Stripe-Signature", "t=1,v1=00"); res.status != 413 {
		t.Fatalf("an event over the body size limit answered %d, want 413", res.status)
	}
}
