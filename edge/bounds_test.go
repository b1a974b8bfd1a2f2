package edge_test

import (
	"strings"
	"testing"
)

// TestFieldBounds sends every field the API takes past its bound, and
// bodies with a key twice: each is refused with 400, nothing is stored,
// and no answer quotes more than a short prefix of what it refuses.
func TestFieldBounds(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pk, sk := h.saas.Test.PublishableKey, h.saas.Test.SecretKey
	shop := h.shop.Test.PublishableKey
	token := h.token(pk, "bounds@example.com", "")
	long := func(n int) string { return strings.Repeat("a", n) }
	email := long(400_000) + "@example.com"
	enduser := []string{"X-Publishable-Key", pk, "X-Clerk-Token", token}
	for _, tt := range []struct {
		name, method, path, body string
		headers                  []string
	}{
		{"CustomerEmail", "POST", "/api/customers", `{"email":"` + email + `"}`, secret(sk)},
		{"CustomerFirstName", "POST", "/api/customers", `{"email":"n@example.com","firstName":"` + long(300) + `"}`, secret(sk)},
		{"CustomerLastName", "POST", "/api/customers", `{"email":"n@example.com","lastName":"` + long(300) + `"}`, secret(sk)},
		{"CustomerPassword", "POST", "/api/customers", `{"email":"n@example.com","password":"` + long(300) + `"}`, secret(sk)},
		{"CustomerPlan", "POST", "/api/customers", `{"email":"n@example.com","plan":"` + long(500_000) + `"}`, secret(sk)},
		{"AssignedPlan", "PATCH", "/api/customers/user_x", `{"plan":"` + long(500_000) + `"}`, secret(sk)},
		{"CustomerID", "GET", "/api/customers/user_" + long(300), "", secret(sk)},
		{"CheckoutTier", "POST", "/api/create-checkout", `{"tier":"` + long(500_000) + `"}`, enduser},
		{"CheckoutPrice", "POST", "/api/create-checkout", `{"priceId":"` + long(500_000) + `"}`, enduser},
		{"CheckoutSuccessURL", "POST", "/api/create-checkout", `{"successUrl":"https://example.com/` + long(5000) + `"}`, enduser},
		{"PortalReturnURL", "POST", "/api/customer-portal", `{"returnUrl":"https://example.com/` + long(5000) + `"}`, enduser},
		{"CartItemKey", "POST", "/api/cart/checkout", `{"items":[{"priceId":"` + long(500_000) + `"}]}`, []string{"X-Publishable-Key", shop}},
		{"CartEmail", "POST", "/api/cart/checkout", `{"items":[{"priceId":"price_ebook"}],"email":"` + email + `"}`, []string{"X-Publishable-Key", shop}},
		{"CartLines", "POST", "/api/cart/checkout", `{"items":[` + strings.Repeat(`{"priceId":"price_ebook"},`, 500) + `{"priceId":"price_ebook"}]}`, []string{"X-Publishable-Key", shop}},
		{"DevTokenEmail", "POST", "/dev/tokens", `{"publishableKey":"` + pk + `","email":"` + email + `"}`, nil},
		{"IdempotencyKey", "POST", "/api/data", "", append([]string{"Idempotency-Key", long(300)}, enduser...)},
		{"DuplicateKey", "PATCH", "/api/customers/user_x", `{"plan":"free","plan":"enterprise"}`, secret(sk)},
		{"DuplicateKeyNested", "POST", "/api/cart/checkout", `{"items":[{"priceId":"price_ebook","priceId":"price_mug"}]}`, []string{"X-Publishable-Key", shop}},
		{"DuplicateKeyOfOptionalBody", "POST", "/api/create-checkout", `{"tier":"free","tier":"pro"}`, enduser},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := h.do(tt.method, tt.path, tt.body, tt.headers...)
			if res.status != 400 {
				t.Fatalf("%s answered %d %.300s, want 400", tt.name, res.status, res.raw)
			}
			if len(res.raw) > 1000 {
				t.Fatalf("the refusal of %s is %d bytes long, want it to quote at most a short prefix: %.300s", tt.name, len(res.raw), res.raw)
			}
		})
	}
	if customers, err := h.db.Customers(t.Context(), h.saas.Test.EnvironmentID); err != nil || len(customers) != 0 {
		t.Fatalf("after the refusals the project has customers %+v (%v), want none", customers, err)
	}
}
