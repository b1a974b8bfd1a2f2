package edge_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store/storetest"
)

// secret returns the headers of a backend call with a project's secret key.
func secret(sk string, more ...string) []string {
	return append([]string{"Authorization", "Bearer " + sk}, more...)
}

func TestCustomers(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	sk, pk, env := h.saas.Test.SecretKey, h.saas.Test.PublishableKey, h.saas.Test.EnvironmentID

	res := h.do("POST", "/api/customers", `{"email":"Grace@Example.com","firstName":"Grace","plan":"Pro Plan"}`, secret(sk)...)
	if res.status != 201 || res.body["success"] != true {
		t.Fatalf("creating a customer answered %d %s, want 201 with success true", res.status, res.raw)
	}
	created := res.body["customer"].(map[string]any)
	id, _ := created["id"].(string)
	if !strings.HasPrefix(id, "user_") || created["email"] != "Grace@Example.com" || created["firstName"] != "Grace" ||
		created["lastName"] != nil || created["plan"] != "pro" || created["publishableKey"] != pk || created["createdAt"].(float64) <= 0 {
		t.Fatalf("the created customer is %s, want a user_ id, email and first name as sent, no last name, "+
			"plan pro, the publishable key and a creation time", res.raw)
	}

	for _, tt := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"MissingEmail", `{"firstName":"x"}`, 400, "Missing required field"},
		{"InvalidJSON", `{"email":`, 400, "Invalid JSON body"},
		{"BadEmail", `{"email":"nobody"}`, 400, "Invalid email"},
		{"UnknownPlan", `{"email":"p@example.com","plan":"platinum"}`, 400, "Invalid plan"},
		{"DuplicateEmailAnyCase", `{"email":"grace@example.COM"}`, 409, "Customer already exists"},
	} {
		t.Run("Create"+tt.name, func(t *testing.T) {
			expectError(t, h.do("POST", "/api/customers", tt.body, secret(sk)...), tt.status, tt.code, "")
		})
	}
	t.Run("SameEmailInAnotherProject", func(t *testing.T) {
		if res := h.do("POST", "/api/customers", `{"email":"grace@example.com"}`, secret(h.shop.Test.SecretKey)...); res.status != 201 {
			t.Fatalf("creating the same email in another project answered %d %s, want 201", res.status, res.raw)
		}
	})

	t.Run("Get", func(t *testing.T) {
		res := h.do("GET", "/api/customers/"+id, "", secret(sk)...)
		c := res.body["customer"].(map[string]any)
		if res.status != 200 || c["id"] != id || c["plan"] != "pro" || c["email"] != "Grace@Example.com" || c["lastName"] != nil {
			t.Fatalf("getting customer %s answered %d %s, want 200 with plan pro and email Grace@Example.com",
				id, res.status, res.raw)
		}
	})
	t.Run("GetSignedUpButNeverSeen", func(t *testing.T) {
		// An end user the identity provider knows for this project, who never
		// called the API, is still the project's customer.
		_, userID, _ := h.issuer.IssueToken(pk, "quiet@example.com", "")
		res := h.do("GET", "/api/customers/"+userID, "", secret(sk)...)
		if res.status != 200 || res.body["customer"].(map[string]any)["email"] != "quiet@example.com" {
			t.Fatalf("getting an end user who signed up but never called the API answered %d %s, want 200 with their email",
				res.status, res.raw)
		}
		_, theirs, _ := h.issuer.IssueToken(h.other.Test.PublishableKey, "theirs@example.com", "")
		expectError(t, h.do("GET", "/api/customers/"+theirs, "", secret(sk)...), 404, "Not found", "")
	})
	for _, tt := range []struct {
		name    string
		method  string
		path    string
		headers []string
	}{
		{"OtherPlatform", "GET", "/api/customers/" + id, secret(h.other.Test.SecretKey)},
		{"OtherProjectSamePlatform", "GET", "/api/customers/" + id, secret(h.shop.Test.SecretKey)},
		{"OtherMode", "GET", "/api/customers/" + id, secret(h.saas.Live.SecretKey)},
		{"Unknown", "GET", "/api/customers/user_nope", secret(sk)},
		{"PatchOtherPlatform", "PATCH", "/api/customers/" + id, secret(h.other.Test.SecretKey)},
		{"DeleteOtherPlatform", "DELETE", "/api/customers/" + id, secret(h.other.Test.SecretKey)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "OtherMode" {
				h.activatePlatform()
			}
			expectError(t, h.do(tt.method, tt.path, `{"plan":"free"}`, tt.headers...), 404, "Not found", "")
		})
	}
	t.Run("PublishableKeyRefused", func(t *testing.T) {
		for _, call := range [][2]string{{"POST", "/api/customers"}, {"GET", "/api/customers/" + id}, {"PATCH", "/api/customers/" + id}, {"DELETE", "/api/customers/" + id}} {
			expectError(t, h.do(call[0], call[1], `{}`, "X-Publishable-Key", pk), 403, "Forbidden", "This endpoint requires a secret key (backend only)")
		}
	})

	t.Run("PatchKeepsUsage", func(t *testing.T) {
		// In dev mode a customer created through the API signs in by email:
		// the token is theirs.
		token := h.token(pk, "grace@example.com", "")
		res := h.do("POST", "/api/data", "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
		if res.status != 200 || res.body["usage"].(map[string]any)["plan"] != "pro" {
			t.Fatalf("a track as the created customer answered %d %s, want 200 on plan pro", res.status, res.raw)
		}
		res = h.do("PATCH", "/api/customers/"+id, `{"plan":"enterprise"}`, secret(sk)...)
		if res.status != 200 || res.body["success"] != true || res.body["customer"].(map[string]any)["plan"] != "enterprise" {
			t.Fatalf("patching the customer's plan to enterprise answered %d %s, want 200 with plan enterprise",
				res.status, res.raw)
		}
		h.ship()
		state, _ := h.db.UserState(context.Background(), env, id)
		if state.Counter == nil || state.Counter.Count != 1 || state.AssignedPlan != "enterprise" {
			t.Fatalf("after the plan patch the stored state is %+v, want usage count 1 and assigned plan enterprise", state)
		}
		identity, _ := h.issuer.User(context.Background(), dream.ModeTest, id)
		if identity.MetadataString("plan") != "enterprise" {
			t.Fatalf("after the plan patch the identity metadata is %+v, want plan enterprise", identity.PublicMetadata)
		}
		expectError(t, h.do("PATCH", "/api/customers/"+id, `{"plan":"gold"}`, secret(sk)...), 400, "Invalid plan", "")
		expectError(t, h.do("PATCH", "/api/customers/"+id, `{"plan":`, secret(sk)...), 400, "Invalid JSON body", "")
	})

	t.Run("Delete", func(t *testing.T) {
		res := h.do("DELETE", "/api/customers/"+id, "", secret(sk, "X-Publishable-Key", pk)...)
		if res.status != 200 || res.body["message"] != "Customer deleted successfully" ||
			res.body["deleted"].(map[string]any)["id"] != id || res.body["deleted"].(map[string]any)["email"] != "Grace@Example.com" {
			t.Fatalf("deleting customer %s answered %d %s, want 200 with the deleted customer's id and email",
				id, res.status, res.raw)
		}
		expectError(t, h.do("GET", "/api/customers/"+id, "", secret(sk)...), 404, "Not found", "")
		if state, _ := h.db.UserState(context.Background(), env, id); state.Counter != nil {
			t.Fatalf("after deletion the customer's usage counter is %+v, want none", state.Counter)
		}
		if _, err := h.issuer.User(context.Background(), dream.ModeTest, id); dream.ErrorKind(err) != dream.KindNotFound {
			t.Fatalf("after deletion looking up the customer's identity gave %v, want not found", err)
		}
		// The shop's customer with the same email is untouched.
		if customers, _ := h.db.Customers(context.Background(), h.shop.Test.EnvironmentID); len(customers) != 1 {
			t.Fatalf("the store project has %d customers after the deletion, want its 1 untouched", len(customers))
		}
	})
}

// activatePlatform gives platform A a running subscription, so its live
// keys work.
func (h *harness) activatePlatform() {
	storetest.SetPlatformSubscription(h.t, h.db, h.saas.PlatformID, dream.StatusActive, time.Time{})
	h.refresh()
}

func TestDeleteCustomerCancelsSubscription(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	sk, pk, env := h.saas.Test.SecretKey, h.saas.Test.PublishableKey, h.saas.Test.EnvironmentID
	token := h.token(pk, "leaving@example.com", "")
	claims, _ := h.issuer.VerifyEndUserToken(context.Background(), dream.ModeTest, token)
	h.post(h.checkout(pk, token, "").body["url"].(string)+"/pay", nil)
	if res := h.do("DELETE", "/api/customers/"+claims.UserID, "", secret(sk)...); res.status != 200 {
		t.Fatalf("deleting a paying customer answered %d %s, want 200", res.status, res.raw)
	}
	// The emulator canceled at period end; past it, the deletion event must
	// not bring the customer back.
	if res := h.do("POST", "/dev/clock/advance", `{"days":40}`); res.status != 200 || !strings.Contains(res.raw, "customer.subscription.deleted") {
		t.Fatalf("advancing the payments clock 40 days answered %d %s, want 200 with customer.subscription.deleted",
			res.status, res.raw)
	}
	if user, _ := h.db.EndUser(context.Background(), env, claims.UserID); user != nil {
		t.Fatalf("after the subscription ended the deleted customer is back as %+v, want no end user", user)
	}
}

func TestDashboard(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	pk, sk := h.saas.Test.PublishableKey, h.saas.Test.SecretKey
	payer := h.token(pk, "payer@example.com", "")
	h.post(h.checkout(pk, payer, "").body["url"].(string)+"/pay", nil)
	h.do("POST", "/api/data", "", "X-Publishable-Key", pk, "X-Clerk-Token", payer)
	canceler := h.token(pk, "canceler@example.com", "")
	h.post(h.checkout(pk, canceler, `{"tier":"enterprise"}`).body["url"].(string)+"/pay", nil)
	claims, _ := h.issuer.VerifyEndUserToken(context.Background(), dream.ModeTest, canceler)
	// Cancel at period end through the customer delete path's twin: the API.
	user, _ := h.db.EndUser(context.Background(), h.saas.Test.EnvironmentID, claims.UserID)
	state, _ := h.db.UserState(context.Background(), h.saas.Test.EnvironmentID, claims.UserID)
	if err := h.payments.CancelSubscription(context.Background(), dream.PaymentAccount{Mode: dream.ModeTest, AccountID: "acct_a"}, state.Subscription.ID, true); err != nil || user == nil {
		t.Fatalf("canceling the pro subscription at period end: error %v, end user %+v, want no error and an end user",
			err, user)
	}

	res := h.do("GET", "/api/dashboard", "", secret(sk)...)
	if res.status != 200 {
		t.Fatalf("the dashboard answered %d %s, want 200", res.status, res.raw)
	}
	metrics := res.body["metrics"].(map[string]any)
	if metrics["activeSubs"] != 2.0 || metrics["cancelingSubs"] != 1.0 || metrics["mrr"] != 2900.0+9900.0 || metrics["usageThisPeriod"] != 1.0 {
		t.Fatalf("the dashboard metrics are %v, want 2 active, 1 canceling, mrr 12800 and usage 1", metrics)
	}
	if res.body["activeSubscriptions"] != 2.0 || res.body["cancelingSubscriptions"] != 1.0 || res.body["mrr"] != 12800.0 || res.body["usageThisPeriod"] != 1.0 {
		t.Fatalf("the dashboard's SDK fields are %s, want activeSubscriptions 2, cancelingSubscriptions 1, "+
			"mrr 12800 and usageThisPeriod 1", res.raw)
	}
	customers := res.body["customers"].([]any)
	if len(customers) != 2 {
		t.Fatalf("the dashboard lists %d customers %v, want 2", len(customers), customers)
	}
	byEmail := map[string]map[string]any{}
	for _, c := range customers {
		m := c.(map[string]any)
		byEmail[m["email"].(string)] = m
	}
	if p := byEmail["payer@example.com"]; p["plan"] != "pro" || p["status"] != "active" || p["usage"] != 1.0 || p["limit"] != 10000.0 ||
		p["renewsAt"] == nil || p["amount"] != 2900.0 || p["id"] != p["userId"] {
		t.Fatalf("the paying customer is %v, want plan pro, active, usage 1 of limit 10000, a renewal date, "+
			"amount 2900 and id equal to userId", p)
	}
	if c := byEmail["canceler@example.com"]; c["status"] != "canceling" || c["renewsAt"] != nil || c["limit"] != "unlimited" {
		t.Fatalf("the canceling customer is %v, want status canceling, no renewal date and an unlimited limit", c)
	}
	if tiers := res.body["tiers"].([]any); len(tiers) != 3 || tiers[1].(map[string]any)["name"] != "pro" {
		t.Fatalf("the dashboard tiers are %v, want 3 with pro second", tiers)
	}
	keys := res.body["keys"].(map[string]any)
	if keys["secretKeyMasked"] != "********" || keys["publishableKey"] != pk || keys["stripeAccountId"] != "acct_a" ||
		len(keys["apiKeys"].([]any)) != 2 || strings.Contains(res.raw, sk) {
		t.Fatalf("the dashboard keys are %v, want a masked secret key, the publishable key, account acct_a, "+
			"2 API keys and no secret key in the body", keys)
	}
	status := res.body["webhookStatus"].(map[string]any)
	if events := status["recentEvents"].([]any); len(events) < 4 || status["lastEvent"] == nil || !strings.HasSuffix(status["url"].(string), "/webhook/stripe") {
		t.Fatalf("the webhook status is %v, want at least 4 recent events, a last event and a URL ending /webhook/stripe",
			status)
	}
	if webhook := res.body["webhook"].(map[string]any); webhook["lastEventAt"] == nil || len(webhook["recent"].([]any)) < 4 {
		t.Fatalf("the webhook summary is %v, want a last event time and at least 4 recent events", webhook)
	}
	if _, store := res.body["totalRevenue"]; store {
		t.Fatalf("a SaaS project's dashboard has totalRevenue %v, want no store figures", res.body["totalRevenue"])
	}
	expectError(t, h.do("GET", "/api/dashboard", "", "X-Publishable-Key", pk), 403, "Forbidden", "")

	t.Run("Store", func(t *testing.T) {
		shop := h.shop.Test.PublishableKey
		for i := 0; i < 2; i++ {
			res := h.do("POST", "/api/cart/checkout", `{"items":[{"priceId":"price_mug"}],"email":"buyer@example.com"}`, "X-Publishable-Key", shop)
			h.post(res.body["url"].(string)+"/pay", nil)
		}
		res := h.do("GET", "/api/dashboard", "", secret(h.saas.Test.SecretKey, "X-Publishable-Key", shop)...)
		if res.body["totalRevenue"] != 2400.0 || res.body["totalSales"] != 2.0 || res.body["avgOrderValue"] != 1200.0 {
			t.Fatalf("the store dashboard is %s, want totalRevenue 2400, totalSales 2 and avgOrderValue 1200", res.raw)
		}
		metrics := res.body["metrics"].(map[string]any)
		if metrics["storeSalesCount"] != 2.0 || metrics["storeTotalRevenue"] != 2400.0 || metrics["lowStockProducts"] != 1.0 || metrics["totalInventory"] != 3.0 {
			t.Fatalf("the store metrics are %v, want 2 sales, revenue 2400, 1 low-stock product and inventory 3", metrics)
		}
		orders := res.body["orders"].([]any)
		if o := orders[0].(map[string]any); len(orders) != 2 || o["email"] != "buyer@example.com" || o["amount"] != 1200.0 || o["paymentId"] == "" {
			t.Fatalf("the store orders are %v, want 2, the first by buyer@example.com for 1200 with a payment id", orders)
		}
		if products := res.body["products"].([]any); len(products) != 3 {
			t.Fatalf("the store dashboard lists %d products %v, want 3", len(products), products)
		}
	})

	t.Run("Totals", func(t *testing.T) {
		h.activatePlatform()
		livePK := h.saas.Live.PublishableKey
		token := h.token(livePK, "live@example.com", "")
		res := h.checkout(livePK, token, "")
		if res.status != 200 {
			t.Fatalf("a live-mode checkout answered %d %s, want 200", res.status, res.raw)
		}
		h.post(res.body["url"].(string)+"/pay", nil)
		// A test secret key gets the platform's live totals.
		res = h.do("GET", "/api/dashboard/totals", "", secret(sk)...)
		totals := res.body["totals"].(map[string]any)
		if res.status != 200 || totals["mrr"] != 2900.0 || totals["activeSubs"] != 1.0 || totals["liveProjects"] != 2.0 ||
			totals["totalProducts"] != 6.0 || res.body["totalMRR"] != 2900.0 || res.body["totalCustomers"] != 1.0 ||
			res.body["totalRevenue"] != 0.0 || res.body["platformId"] != h.saas.PlatformID {
			t.Fatalf("the platform totals answered %d %s, want 200 with live mrr 2900, 1 active subscription, "+
				"2 live projects, 6 products, 1 customer and no revenue", res.status, res.raw)
		}
		other := h.do("GET", "/api/dashboard/totals", "", secret(h.other.Test.SecretKey)...)
		if other.body["totals"].(map[string]any)["mrr"] != 0.0 {
			t.Fatalf("another platform's totals are %s, want mrr 0", other.raw)
		}
	})
}

// pngImage is a small valid PNG.
func pngImage(t *testing.T) []byte {
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAssets(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	sk := h.saas.Test.SecretKey
	upload := func(body string) response { return h.do("POST", "/api/assets", body, secret(sk)...) }
	data := pngImage(t)
	encoded := base64.StdEncoding.EncodeToString(data)

	res := upload(`{"filename":"my logo (1).png","contentType":"text/html","data":"` + encoded + `"}`)
	if res.status != 200 {
		t.Fatalf("uploading a PNG answered %d %s, want 200", res.status, res.raw)
	}
	key := res.body["key"].(string)
	if !strings.HasPrefix(key, h.saas.PlatformID+"/") || !strings.HasSuffix(key, "-my_logo__1_.png") || res.body["url"] != "/api/assets/"+key {
		t.Fatalf("the uploaded asset has key %q and url %v, want a key under the platform ending "+
			"-my_logo__1_.png and url /api/assets/{key}", key, res.body["url"])
	}
	req := httptest.NewRequest("GET", "/api/assets/"+key, nil)
	rec := httptest.NewRecorder()
	h.server.ServeHTTP(rec, req)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), data) || rec.Header().Get("Content-Type") != "image/png" ||
		rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("serving the asset answered %d with headers %v, want 200 with the PNG as image/png, "+
			"nosniff and an immutable year-long cache", rec.Code, rec.Header())
	}
	if res := upload(`{"filename":"x.png","data":"data:image/png;base64,` + encoded + `"}`); res.status != 200 {
		t.Fatalf("uploading a PNG as a data URL answered %d %s, want 200", res.status, res.raw)
	}

	html := base64.StdEncoding.EncodeToString([]byte("<html><script>alert(1)</script></html>"))
	big := base64.StdEncoding.EncodeToString(append(data, make([]byte, 5<<20)...))
	for _, tt := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"NotAnImage", `{"filename":"x.png","contentType":"image/png","data":"` + html + `"}`, 400, "Unsupported file type"},
		{"TooLarge", `{"filename":"x.png","data":"` + big + `"}`, 413, "File too large"},
		{"BadBase64", `{"filename":"x.png","data":"%%%"}`, 400, "Invalid base64 data"},
		{"NoData", `{"filename":"x.png"}`, 400, "Missing filename or data"},
		{"NoFilename", `{"data":"` + encoded + `"}`, 400, "Missing filename or data"},
	} {
		t.Run(tt.name, func(t *testing.T) { expectError(t, upload(tt.body), tt.status, tt.code, "") })
	}
	t.Run("ConcurrentUploadsNeverCollide", func(t *testing.T) {
		// The harness's clock stands still: every upload falls in the same
		// millisecond, with the same file name.
		const n = 50
		keys := make(chan string, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := upload(`{"filename":"same.png","data":"` + encoded + `"}`)
				if res.status != 200 {
					t.Errorf("one of %d concurrent uploads of same.png answered %d %s, want 200", n, res.status, res.raw)
					return
				}
				keys <- res.body["key"].(string)
			}()
		}
		wg.Wait()
		close(keys)
		seen := map[string]bool{}
		for k := range keys {
			seen[k] = true
		}
		if len(seen) != n {
			t.Fatalf("%d concurrent uploads of same.png got %d distinct keys, want %d", n, len(seen), n)
		}
	})
	t.Run("Multipart", func(t *testing.T) {
		var jpg, body bytes.Buffer
		jpeg.Encode(&jpg, image.NewRGBA(image.Rect(0, 0, 2, 2)), nil)
		form := multipart.NewWriter(&body)
		part, _ := form.CreateFormFile("file", "photo.jpg")
		part.Write(jpg.Bytes())
		form.Close()
		res := h.do("POST", "/api/assets", body.String(), secret(sk, "Content-Type", form.FormDataContentType())...)
		if res.status != 200 {
			t.Fatalf("a multipart JPEG upload answered %d %s, want 200", res.status, res.raw)
		}
		req := httptest.NewRequest("GET", res.body["url"].(string), nil)
		rec := httptest.NewRecorder()
		h.server.ServeHTTP(rec, req)
		if rec.Header().Get("Content-Type") != "image/jpeg" {
			t.Fatalf("the uploaded JPEG is served as %q, want image/jpeg", rec.Header().Get("Content-Type"))
		}
		var empty bytes.Buffer
		form = multipart.NewWriter(&empty)
		form.WriteField("note", "no file")
		form.Close()
		expectError(t, h.do("POST", "/api/assets", empty.String(), secret(sk, "Content-Type", form.FormDataContentType())...), 400, "Missing filename or data", "")
	})
	expectError(t, h.do("GET", "/api/assets/"+h.saas.PlatformID+"/nope.png", ""), 404, "Not found", "")
	expectError(t, h.do("POST", "/api/assets", `{}`, "X-Publishable-Key", h.saas.Test.PublishableKey), 403, "Forbidden", "")
}

// TestCustomersStayInTheKeysEnvironment tries every customers route with a
// secret key whose X-Publishable-Key names another project of the same
// developer and mode, in both orders of the two projects: the other
// project's customer is not found, and nothing of it changes.
func TestCustomersStayInTheKeysEnvironment(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, tt := range []struct {
		name       string
		key, owner storetest.Keys
		ownerEnv   int64
	}{
		{"SaaSKeyStoreCustomer", h.saas.Test, h.shop.Test, h.shop.Test.EnvironmentID},
		{"StoreKeySaaSCustomer", h.shop.Test, h.saas.Test, h.saas.Test.EnvironmentID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := h.do("POST", "/api/customers", `{"email":"`+strings.ToLower(tt.name)+`@example.com"}`, secret(tt.owner.SecretKey)...)
			if res.status != 201 {
				t.Fatalf("creating the owner's customer answered %d %s, want 201", res.status, res.raw)
			}
			id := res.body["customer"].(map[string]any)["id"].(string)
			headers := secret(tt.key.SecretKey, "X-Publishable-Key", tt.owner.PublishableKey)
			for _, call := range [][2]string{{"GET", ""}, {"PATCH", `{"plan":"free"}`}, {"DELETE", ""}} {
				res := h.do(call[0], "/api/customers/"+id, call[1], headers...)
				expectError(t, res, 404, "Not found", "")
			}
			if user, err := h.db.EndUser(context.Background(), tt.ownerEnv, id); err != nil || user == nil {
				t.Fatalf("after the calls with another project's key the customer is %+v (%v), want them still there", user, err)
			}
			if _, err := h.issuer.User(context.Background(), dream.ModeTest, id); err != nil {
				t.Fatalf("after the calls with another project's key the customer's identity gives %v, want it still there", err)
			}
			// Creating with the override makes a customer of the key's own
			// project, never of the other.
			res = h.do("POST", "/api/customers", `{"email":"made-`+strings.ToLower(tt.name)+`@example.com"}`, headers...)
			if res.status != 201 || res.body["customer"].(map[string]any)["publishableKey"] != tt.key.PublishableKey {
				t.Fatalf("creating a customer with the other project's publishable key answered %d %s, want 201 in the key's own project",
					res.status, res.raw)
			}
			if user, _ := h.db.EndUser(context.Background(), tt.ownerEnv, res.body["customer"].(map[string]any)["id"].(string)); user != nil {
				t.Fatalf("a customer created with the other project's publishable key is in that project: %+v, want it absent", user)
			}
			// The override does not move the key's own customers either.
			if res := h.do("GET", "/api/customers/"+id, "", secret(tt.owner.SecretKey, "X-Publishable-Key", tt.key.PublishableKey)...); res.status != 200 {
				t.Fatalf("the owner's key with the other project's publishable key gets its customer with %d %s, want 200", res.status, res.raw)
			}
		})
	}
}
