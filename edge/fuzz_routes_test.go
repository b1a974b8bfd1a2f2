package edge_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/billing"
	"github.com/dream-api/dream/store/storetest"
)

// Handler-level fuzz targets, one per family of routes: each sends
// arbitrary bodies, forms, queries or headers through the real server and
// holds every answer to the contract of its family. No input gets a 5xx;
// the API answers JSON with an error code and a message, the browser's
// pages HTML or a redirect to where they may go; and a request refused
// with a 4xx leaves every table of the database as it was, so that no
// refusal is half a write.

// fuzzServer is a harness for handler-level fuzz targets. Usage units are
// decided by the primary, without an outbox, so that whatever a request
// writes is in the database when it answers.
type fuzzServer struct {
	*harness
	dumper *storetest.Dumper
	// developer is a developer signed in with a local account, who owns
	// saasProject and storeProject, connected to payments in test mode.
	developer                 developer
	saasProject, storeProject string
	// signUps numbers the developers signed up to replace one whose
	// sessions a fuzzed request ended.
	signUps int
}

func newFuzzServer(f *testing.F) *fuzzServer {
	h := newHarness(f, harnessOptions{noOutbox: true})
	z := &fuzzServer{harness: h, dumper: storetest.NewDumper(f, h.db), developer: h.signUp("fuzz@example.com")}
	z.saasProject, _, _ = h.createProject(z.developer, "Fuzzed SaaS", dream.ProjectSaaS)
	z.storeProject, _, _ = h.createProject(z.developer, "Fuzzed store", dream.ProjectStore)
	if rec := h.connect(z.developer, dream.ModeTest); rec.Code != http.StatusFound {
		f.Fatalf("connecting the fuzzed developer's payments answered %d %s, want 302", rec.Code, rec.Body.String())
	}
	return z
}

// serve sends req and holds its answer to what every route owes: no 5xx,
// and no change to the database when it refuses.
func (z *fuzzServer) serve(t *testing.T, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	before := z.dumper.Dump(t)
	rec := httptest.NewRecorder()
	z.current().ServeHTTP(rec, req)
	what := req.Method + " " + req.URL.RequestURI()
	if rec.Code >= 500 {
		t.Fatalf("%s answered %d %s, want a status below 500", what, rec.Code, rec.Body.String())
	}
	if rec.Code >= 400 {
		if after := z.dumper.Dump(t); after != before {
			t.Fatalf("%s was refused with %d %s, yet changed the database:\n%s", what, rec.Code, rec.Body.String(), diffLines(before, after))
		}
	}
	return rec
}

// diffLines is the lines only one of two dumps has, marked - and +.
func diffLines(before, after string) string {
	count := map[string]int{}
	for line := range strings.SplitSeq(before, "\n") {
		count[line]++
	}
	for line := range strings.SplitSeq(after, "\n") {
		count[line]--
	}
	var out strings.Builder
	for line, n := range count {
		switch {
		case n > 0:
			out.WriteString("- " + line + "\n")
		case n < 0:
			out.WriteString("+ " + line + "\n")
		}
	}
	return out.String()
}

// checkJSONAnswer holds an API answer to the API's form: a JSON object, and
// on an error its code and message.
func checkJSONAnswer(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code == http.StatusNoContent {
		return
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s answered %d with Content-Type %q, want application/json: %s", what, rec.Code, ct, rec.Body.String())
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s answered a body that is not a JSON object, want one: %s", what, rec.Body.String())
	}
	if rec.Code >= 400 {
		code, _ := out["error"].(string)
		_, message := out["message"].(string)
		if code == "" || !message {
			t.Fatalf("%s answered %d without an error code and a message, want both: %s", what, rec.Code, rec.Body.String())
		}
	}
}

// checkPage holds a browser's answer to its form: an HTML page, or a
// redirect to a path of this server or to the payments provider's pages.
func (z *fuzzServer) checkPage(t *testing.T, what string, rec *httptest.ResponseRecorder, elsewhere func(*url.URL) bool) {
	t.Helper()
	if rec.Code/100 == 3 {
		to := rec.Header().Get("Location")
		u, err := url.Parse(to)
		local := err == nil && u.Scheme == "" && u.Host == "" && strings.HasPrefix(to, "/") && !strings.HasPrefix(to, "//")
		if !local && !(err == nil && (strings.HasPrefix(to, z.baseURL+"/dev/") || elsewhere != nil && elsewhere(u))) {
			t.Fatalf("%s sent the browser to %q, want a page of this server or of payments", what, to)
		}
		return
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("%s answered %d with Content-Type %q, want a page: %s", what, rec.Code, ct, rec.Body.String())
	}
}

// request builds a request of a fuzzed path and body; ok is false for a
// request line net/http would not deliver.
func request(method, path string, body []byte, headers ...string) (*http.Request, bool) {
	if _, err := url.ParseRequestURI(path); err != nil || strings.ContainsAny(path, " \t\r\n#") {
		return nil, false
	}
	req := httptest.NewRequest(method, "http://dream.test"+path, strings.NewReader(string(body)))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req, true
}

// segment is a fuzzed path segment, or fallback when it is empty.
func segment(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return url.PathEscape(s)
}

// FuzzCustomerAPI sends the customer-facing API's JSON bodies, under the
// credentials each route takes: tracks with an Idempotency-Key, checkout
// and portal, cart checkout, the customers routes, uploads and dev
// tokens.
func FuzzCustomerAPI(f *testing.F) {
	z := newFuzzServer(f)
	pk, sk, shop := z.saas.Test.PublishableKey, z.saas.Test.SecretKey, z.shop.Test.PublishableKey
	token := z.token(pk, "fuzz@example.com", "")
	endUser := []string{"X-Publishable-Key", pk, "X-Clerk-Token", token}
	secret := []string{"Authorization", "Bearer " + sk}
	png := "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	routes := []struct {
		method string
		path   func(param string) string
		// header is the header the fuzzed parameter goes in, "" for the
		// path.
		header      string
		credentials []string
	}{
		{"POST", func(string) string { return "/api/data" }, "Idempotency-Key", endUser},
		{"POST", func(string) string { return "/api/create-checkout" }, "Origin", endUser},
		{"POST", func(string) string { return "/api/customer-portal" }, "Origin", endUser},
		{"POST", func(string) string { return "/api/cart/checkout" }, "Origin", []string{"X-Publishable-Key", shop}},
		{"POST", func(string) string { return "/api/customers" }, "X-Request-Id", secret},
		{"PATCH", func(p string) string { return "/api/customers/" + segment(p, "user_fuzz") }, "", secret},
		{"DELETE", func(p string) string { return "/api/customers/" + segment(p, "user_fuzz") }, "", secret},
		{"POST", func(string) string { return "/api/assets" }, "Content-Type", secret},
		{"POST", func(string) string { return "/dev/tokens" }, "X-Request-Id", nil},
	}
	for _, seed := range []struct {
		route       uint8
		param, body string
	}{
		{0, "", ``},
		{0, "retry-1", `{"ignored":true}`},
		{0, strings.Repeat("k", 300), ``},
		{1, "https://app.example.com", `{"tier":"pro","successUrl":"https://app.example.com/ok","cancelUrl":"https://app.example.com/no"}`},
		{1, "", `{"tier":"pro","tier":"free"}`},
		{1, "", `{"priceId":"price_pro"}`},
		{1, "", `{"tier":"nope","successUrl":"//evil.example"}`},
		{2, "", `{"returnUrl":"javascript:alert(1)"}`},
		{3, "", `{"items":[{"priceId":"price_mug","quantity":2},{"priceId":"price_ebook"}]}`},
		{3, "", `{"items":[{"priceId":"price_mug","quantity":6}]}`},
		{3, "", `{"items":[{"priceId":"price_poster"}]}`},
		{3, "", `{"items":[{"priceId":"price_mug","quantity":-1}],"successUrl":1}`},
		{4, "", `{"userId":"user_fuzz","email":"f@example.com","plan":"pro"}`},
		{4, "", `{"email":"not an email","plan":"gold"}`},
		{4, "", `{"email":"g@example.com","firstName":"` + strings.Repeat("x", 300) + `"}`},
		{5, "user_fuzz", `{"plan":"enterprise"}`},
		{5, "user_fuzz", `{"plan":"gold"}`},
		{5, "user_none", `{"plan":"free"}`},
		{6, "user_fuzz", ``},
		{6, "%zz", ``},
		{7, "", `{"filename":"a.png","data":"` + png + `"}`},
		{7, "", `{"filename":"../a.exe","data":"data:image/png;base64,` + png + `"}`},
		{7, "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n\x89PNG\r\n--x--\r\n"},
		{8, "", `{"publishableKey":"` + pk + `","email":"t@example.com","plan":"pro"}`},
		{8, "", `{"publishableKey":"` + pk + `","email":"` + strings.Repeat("e", 400) + `"}`},
	} {
		f.Add(seed.route, seed.param, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, which uint8, param string, body []byte) {
		route := routes[int(which)%len(routes)]
		path := route.path(param)
		headers := route.credentials
		if route.header != "" {
			headers = append(append([]string(nil), headers...), route.header, param)
		}
		req, ok := request(route.method, path, body, headers...)
		if !ok {
			return
		}
		rec := z.serve(t, req)
		checkJSONAnswer(t, route.method+" "+path, rec)
	})
}

// FuzzManagementAPI sends the management API's JSON bodies with a
// developer's session: projects, key rotation, tiers and products,
// accounts, sessions and passwords, billing and uploads.
func FuzzManagementAPI(f *testing.F) {
	z := newFuzzServer(f)
	routes := []struct {
		method string
		path   func(z *fuzzServer, param string) string
	}{
		{"POST", func(*fuzzServer, string) string { return "/v1/projects" }},
		{"PATCH", func(z *fuzzServer, _ string) string { return "/v1/projects/" + z.saasProject }},
		{"DELETE", func(z *fuzzServer, _ string) string { return "/v1/projects/" + z.saasProject }},
		{"POST", func(z *fuzzServer, p string) string {
			return "/v1/projects/" + z.saasProject + "/environments/" + segment(p, "test") + "/rotate"
		}},
		{"POST", func(z *fuzzServer, _ string) string {
			return "/v1/projects/" + z.saasProject + "/environments/test/tiers"
		}},
		{"PATCH", func(z *fuzzServer, p string) string {
			return "/v1/projects/" + z.saasProject + "/environments/test/tiers/" + segment(p, "pro")
		}},
		{"POST", func(z *fuzzServer, _ string) string {
			return "/v1/projects/" + z.storeProject + "/environments/test/products"
		}},
		{"PATCH", func(z *fuzzServer, p string) string {
			return "/v1/projects/" + z.storeProject + "/environments/test/products/" + segment(p, "mug")
		}},
		{"POST", func(*fuzzServer, string) string { return "/v1/account/password" }},
		{"POST", func(*fuzzServer, string) string { return "/v1/session" }},
		{"POST", func(*fuzzServer, string) string { return "/v1/accounts" }},
		{"POST", func(*fuzzServer, string) string { return "/v1/billing/portal" }},
		{"POST", func(*fuzzServer, string) string { return "/v1/assets" }},
	}
	for _, seed := range []struct {
		route       uint8
		param, body string
	}{
		{0, "", `{"name":"New","type":"store","allowedOrigins":["https://shop.example"]}`},
		{0, "", `{"name":"","type":"blog","allowedOrigins":["https://a.example/path"]}`},
		{1, "", `{"name":"Renamed","rateLimitPerMinute":60,"strictLimits":true,"allowedOrigins":[]}`},
		{1, "", `{"rateLimitPerMinute":-5,"allowedOrigins":null,"enableTax":"yes"}`},
		{2, "", `{"confirm":"wrong name"}`},
		{2, "", `{"confirm":{}}`},
		{3, "test", `{"overlapSeconds":3600}`},
		{3, "live", `{"overlapSeconds":1e300}`},
		{3, "demo", ``},
		{4, "", `{"name":"team","displayName":"Team","price":4900,"limit":50000,"features":["a","b"],"trialDays":7}`},
		{4, "", `{"name":"Bad Name!","price":-1,"limit":"lots"}`},
		{5, "pro", `{"displayName":"Pro+","limit":"unlimited","popular":true}`},
		{5, "none", `{"price":100}`},
		{6, "", `{"name":"cap","displayName":"Cap","price":1500,"inventory":10,"imageUrl":"/api/assets/x"}`},
		{6, "", `{"name":"cap","price":1500,"inventory":-3,"imageUrl":"javascript:alert(1)"}`},
		{7, "mug", `{"inventory":null}`},
		{7, "mug", `{"inventory":3,"price":1e30}`},
		{8, "", `{"currentPassword":"wrong","newPassword":"short"}`},
		{9, "", `{"email":"fuzz@example.com","password":"wrong password"}`},
		{10, "", `{"email":"new@example.com","password":"correct horse battery"}`},
		{10, "", `{"email":"fuzz@example.com","password":"correct horse battery"}`},
		{11, "", `{"returnUrl":"https://evil.example"}`},
		{12, "", `{"filename":"a.gif","data":"R0lGODlhAQABAAAAACw="}`},
	} {
		f.Add(seed.route, seed.param, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, which uint8, param string, body []byte) {
		route := routes[int(which)%len(routes)]
		path := route.path(z, param)
		req, ok := request(route.method, path, body, z.developer.bearer()...)
		if !ok {
			return
		}
		rec := z.serve(t, req)
		checkJSONAnswer(t, route.method+" "+path, rec)
		if rec.Code/100 == 2 {
			z.replaceWhatEnded(t)
		}
	})
}

// replaceWhatEnded signs up another developer when a fuzzed request ended
// the developer's sessions, and makes the projects again when it deleted
// them, so that the next inputs reach past authentication.
func (z *fuzzServer) replaceWhatEnded(t *testing.T) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/v1/projects", nil)
	req.Header.Set("Authorization", "Bearer "+z.developer.token)
	z.current().ServeHTTP(rec, req)
	if rec.Code == http.StatusUnauthorized {
		z.signUps++
		email := fmt.Sprintf("fuzz%d@example.com", z.signUps)
		body := fmt.Sprintf(`{"email":%q,"password":"correct horse battery"}`, email)
		res := z.must(t, "POST", "/v1/accounts", body, http.StatusCreated)
		z.developer = developer{platformID: res["platformId"].(string), token: res["token"].(string), csrf: res["csrfToken"].(string), email: email}
	}
	for _, project := range []*string{&z.saasProject, &z.storeProject} {
		req := httptest.NewRequest("GET", "/v1/projects/"+*project, nil)
		req.Header.Set("Authorization", "Bearer "+z.developer.token)
		rec := httptest.NewRecorder()
		z.current().ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			continue
		}
		typ := dream.ProjectSaaS
		if project == &z.storeProject {
			typ = dream.ProjectStore
		}
		res := z.must(t, "POST", "/v1/projects", fmt.Sprintf(`{"name":"Again","type":%q}`, typ), http.StatusCreated)
		*project = res["id"].(string)
	}
}

// must sends a management request of the fuzz target's own and fails the
// input unless it answers status.
func (z *fuzzServer) must(t *testing.T, method, path, body string, status int) map[string]any {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+z.developer.token)
	rec := httptest.NewRecorder()
	z.current().ServeHTTP(rec, req)
	var out map[string]any
	if rec.Code != status || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
		t.Fatalf("%s %s answered %d %s, want %d", method, path, rec.Code, rec.Body.String(), status)
	}
	return out
}

// FuzzWebhooks sends the payment and platform webhooks arbitrary payloads
// with an arbitrary Stripe-Signature, or signed with the provider's
// secret, now or long ago: a payload the verifier refuses, or an event the
// server cannot apply, writes nothing.
func FuzzWebhooks(f *testing.F) {
	z := newFuzzServer(f)
	secret := z.payments.WebhookSecret()
	event := func(typ string, object string) string {
		return `{"id":"evt_fuzz","object":"event","type":"` + typ + `","livemode":false,"account":"acct_a","created":1736931600,` +
			`"api_version":"2023-10-16","data":{"object":` + object + `}}`
	}
	for _, seed := range []struct {
		platform  bool
		how       uint8
		signature string
		payload   string
	}{
		{false, 1, "", event("customer.subscription.created", `{"id":"sub_1","object":"subscription","status":"active","metadata":{"publishableKey":"`+z.saas.Test.PublishableKey+`","userId":"user_1"},"items":{"data":[{"price":{"id":"price_pro"}}]}}`)},
		{false, 1, "", event("checkout.session.completed", `{"id":"cs_1","object":"checkout.session","mode":"payment","metadata":{"publishableKey":"`+z.shop.Test.PublishableKey+`"}}`)},
		{false, 1, "", event("invoice.payment_failed", `{"id":"in_1","subscription":"sub_1"}`)},
		{false, 1, "", event("account.application.deauthorized", `{}`)},
		{true, 1, "", event("customer.subscription.updated", `{"id":"sub_p","status":"past_due","customer":"cus_1","metadata":{"platformId":"nope"}}`)},
		{false, 1, "", `{"id":"evt_x","type":"x","data":{"object":[]}}`},
		{false, 2, "", event("customer.subscription.deleted", `{"id":"sub_1"}`)},
		{false, 0, "t=1,v1=00", event("customer.subscription.deleted", `{"id":"sub_1"}`)},
		{true, 0, "", `not json`},
	} {
		f.Add(seed.platform, seed.how, seed.signature, []byte(seed.payload))
	}
	f.Fuzz(func(t *testing.T, platform bool, how uint8, signature string, payload []byte) {
		path := "/webhook/stripe"
		if platform {
			path = "/webhook/platform"
		}
		switch how % 3 {
		case 1:
			signature = billing.SignWebhook(payload, secret, time.Now())
		case 2:
			signature = billing.SignWebhook(payload, secret, time.Now().Add(-time.Hour))
		}
		req, _ := request("POST", path, payload, "Stripe-Signature", signature)
		rec := z.serve(t, req)
		checkJSONAnswer(t, "POST "+path, rec)
	})
}

// FuzzDashboardForms posts the dashboard's forms arbitrary fields, in
// either encoding, with and without the session's CSRF token: projects,
// settings, rotation, tiers and products, customers' plans, billing, and
// the sign-in and sign-up forms.
func FuzzDashboardForms(f *testing.F) {
	z := newFuzzServer(f)
	forms := []func(z *fuzzServer, param string) string{
		func(*fuzzServer, string) string { return "/dashboard/projects" },
		func(z *fuzzServer, _ string) string { return "/dashboard/projects/" + z.saasProject + "/settings" },
		func(z *fuzzServer, _ string) string { return "/dashboard/projects/" + z.saasProject + "/delete" },
		func(z *fuzzServer, _ string) string { return "/dashboard/projects/" + z.saasProject + "/rotate" },
		func(z *fuzzServer, _ string) string { return "/dashboard/projects/" + z.saasProject + "/catalogue" },
		func(z *fuzzServer, p string) string {
			return "/dashboard/projects/" + z.saasProject + "/catalogue/" + segment(p, "pro")
		},
		func(z *fuzzServer, p string) string {
			return "/dashboard/projects/" + z.saasProject + "/catalogue/" + segment(p, "pro") + "/delete"
		},
		func(z *fuzzServer, _ string) string { return "/dashboard/projects/" + z.storeProject + "/catalogue" },
		func(z *fuzzServer, p string) string {
			return "/dashboard/projects/" + z.storeProject + "/catalogue/" + segment(p, "mug")
		},
		func(z *fuzzServer, p string) string {
			return "/dashboard/projects/" + z.saasProject + "/customers/" + segment(p, "user_fuzz") + "/plan"
		},
		func(*fuzzServer, string) string { return "/dashboard/billing/portal" },
		func(*fuzzServer, string) string { return "/dashboard/signin" },
		func(*fuzzServer, string) string { return "/dashboard/signup" },
	}
	for _, seed := range []struct {
		form      uint8
		encoding  uint8
		csrf      bool
		param     string
		fields    string
		modeQuery string
	}{
		{0, 0, true, "", "name=Shop&type=store&origins=https://shop.example+https://b.example", ""},
		{0, 0, true, "", "name=&type=blog&origins=javascript:x", ""},
		{0, 0, false, "", "name=NoToken&type=saas", ""},
		{1, 0, true, "", "name=Renamed&origins=https://a.example&rateLimit=60&strictLimits=on", "mode=live"},
		{1, 0, true, "", "name=&rateLimit=many&origins=%zz", ""},
		{2, 0, true, "", "confirm=wrong", ""},
		{3, 0, true, "", "overlapHours=24", "mode=test"},
		{3, 0, true, "", "overlapHours=-1", "mode=live"},
		{4, 0, true, "", "name=team&displayName=Team&price=49.99&limit=50000&trialDays=7&features=a%0Ab", ""},
		{4, 0, true, "", "name=Bad!&price=1.-5&limit=-3&trialDays=x", ""},
		{5, 0, true, "pro", "displayName=Pro&price=$29&limit=unlimited&popular=on", ""},
		{6, 0, true, "free", "", ""},
		{7, 0, true, "", "name=cap&displayName=Cap&price=15&inventory=10", ""},
		{7, 1, true, "", "name=cap&price=15", ""},
		{8, 0, true, "mug", "displayName=Mug&price=12&inventory=", ""},
		{9, 0, true, "user_fuzz", "plan=enterprise", ""},
		{9, 0, true, "user_none", "plan=gold", ""},
		{10, 0, true, "", "", ""},
		{11, 0, false, "", "email=fuzz@example.com&password=wrong&next=//evil.example", ""},
		{12, 0, false, "", "email=new@example.com&password=correct+horse+battery", ""},
		{12, 2, false, "", "email=x", ""},
	} {
		f.Add(seed.form, seed.encoding, seed.csrf, seed.param, seed.fields, seed.modeQuery)
	}
	f.Fuzz(func(t *testing.T, which, encoding uint8, csrf bool, param, fields, query string) {
		path := forms[int(which)%len(forms)](z, param)
		if query != "" {
			path += "?" + query
		}
		var body, contentType string
		switch encoding % 3 {
		case 0:
			body, contentType = fields, "application/x-www-form-urlencoded"
			if csrf {
				body += "&csrf=" + z.developer.csrf
			}
		case 1:
			// The fields as the parts of a multipart form.
			values, _ := url.ParseQuery(fields)
			if csrf {
				values.Set("csrf", z.developer.csrf)
			}
			var b strings.Builder
			for name, vs := range values {
				for _, v := range vs {
					fmt.Fprintf(&b, "--fuzz\r\nContent-Disposition: form-data; name=%q\r\n\r\n%s\r\n", name, v)
				}
			}
			b.WriteString("--fuzz--\r\n")
			body, contentType = b.String(), "multipart/form-data; boundary=fuzz"
		default:
			body = fields
		}
		req, ok := request("POST", path, []byte(body), "Content-Type", contentType)
		if !ok {
			return
		}
		req.AddCookie(&http.Cookie{Name: dream.SessionCookie, Value: z.developer.token})
		rec := z.serve(t, req)
		z.checkPage(t, "POST "+path, rec, func(u *url.URL) bool { return strings.HasPrefix(u.String(), z.baseURL+"/dev/") })
		if rec.Code/100 == 3 {
			z.replaceWhatEnded(t)
		}
	})
}

// FuzzHostedForms posts the hosted end-user pages' forms arbitrary fields
// with and without the form's CSRF cookie: a refusal is a page, and a
// redirect goes only back to the project's own front end or on to sign in.
func FuzzHostedForms(f *testing.F) {
	z := newFuzzServer(f)
	pk := z.saas.Test.PublishableKey
	const csrf = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	pages := []string{"/signup", "/signin", "/account/signout", "/account/portal"}
	for _, seed := range []struct {
		page   uint8
		csrf   bool
		fields string
	}{
		{0, true, "email=new@example.com&password=correct+horse+battery&pk=" + pk + "&redirect=http://localhost:3000/"},
		{0, true, "email=not-an-email&password=x&pk=" + pk + "&redirect=http://localhost:3000/"},
		{1, true, "email=new@example.com&password=wrong&pk=" + pk + "&redirect=http://localhost:3000/"},
		{1, false, "email=new@example.com&password=correct+horse+battery&pk=" + pk + "&redirect=http://localhost:3000/"},
		{1, true, "pk=" + pk + "&redirect=//evil.example"},
		{2, true, "pk=" + pk + "&redirect=http://localhost:3000/&next=/signin"},
		{3, true, "pk=pk_test_zz&redirect=http://localhost:3000/"},
		{3, true, "pk=" + pk + "&redirect=http://localhost:3000/&pk=" + z.other.Test.PublishableKey},
	} {
		f.Add(seed.page, seed.csrf, seed.fields)
	}
	f.Fuzz(func(t *testing.T, which uint8, withCSRF bool, fields string) {
		page := pages[int(which)%len(pages)]
		body := fields
		if withCSRF {
			body += "&csrf=" + csrf
		}
		req, _ := request("POST", page, []byte(body), "Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "dream_form", Value: csrf})
		rec := z.serve(t, req)
		z.checkPage(t, "POST "+page, rec, func(u *url.URL) bool {
			return u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1")
		})
		if body := rec.Body.String(); strings.Contains(body, "<script>alert") || strings.Contains(body, "onerror=") {
			t.Fatalf("POST %s echoed markup unescaped: %s", page, body)
		}
	})
}

// FuzzQueries sends the pages and routes that read a query string
// arbitrary ones: the dashboard's customers list with its cursors, offset
// and search, its other pages and the operator's, the Connect callback,
// and the API's reads. A read writes nothing, whatever it is asked.
func FuzzQueries(f *testing.F) {
	z := newFuzzServer(f)
	admin := z.signUp("admin@example.com")
	pk := z.saas.Test.PublishableKey
	endUser := []string{"X-Publishable-Key", pk, "X-Clerk-Token", z.token(pk, "fuzz@example.com", "")}
	sk := z.saas.Test.SecretKey
	for i := range 3 {
		req := httptest.NewRequest("POST", "/api/customers", strings.NewReader(fmt.Sprintf(`{"email":"c%d@example.com"}`, i)))
		req.Header.Set("Authorization", "Bearer "+sk)
		rec := httptest.NewRecorder()
		z.current().ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			f.Fatalf("creating a customer answered %d %s, want 201", rec.Code, rec.Body.String())
		}
	}
	// The saas project of the harness is another developer's: the
	// dashboard lists the fuzzed developer's own.
	reads := []struct {
		path string
		// cookie is the dashboard session the read is made with, "" for
		// none; headers are the API's credentials.
		cookie  string
		headers []string
		json    bool
	}{
		{"/dashboard/projects/" + z.saasProject + "/customers", z.developer.token, nil, false},
		{"/dashboard/projects/" + z.saasProject, z.developer.token, nil, false},
		{"/dashboard/projects/" + z.saasProject + "/metrics", z.developer.token, nil, false},
		{"/dashboard/projects/" + z.saasProject + "/events", z.developer.token, nil, false},
		{"/dashboard/projects/" + z.storeProject + "/catalogue", z.developer.token, nil, false},
		{"/dashboard", z.developer.token, nil, false},
		{"/admin", admin.token, nil, false},
		{"/dashboard/signin", "", nil, false},
		{"/v1/connect/test/callback", "", nil, false},
		{"/api/usage", "", endUser, true},
		{"/api/tiers", "", []string{"X-Publishable-Key", pk}, true},
		{"/api/dashboard", "", []string{"Authorization", "Bearer " + sk}, true},
	}
	for _, seed := range []struct {
		read  uint8
		query string
	}{
		{0, "after=1736931600000.user_x"},
		{0, "before=9223372036854775807.u&mode=live"},
		{0, "after=-1.x&before=1.y"},
		{0, "q=c1@&offset=9223372036854775807"},
		{0, "q=" + strings.Repeat("a", 400) + "&offset=-5"},
		{0, "after=abc"},
		{1, "mode=live&notice=<script>alert(1)</script>"},
		{2, "mode=demo"},
		{5, "stripe=connected&mode=live&billing=success"},
		{6, "q=fuzz&offset=50"},
		{6, "offset=-9223372036854775808"},
		{7, "next=//evil.example"},
		{8, "state=st_unknown&code=ac_1"},
		{8, "error=access_denied"},
		{9, "userId=someone_else"},
		{10, "%zz"},
		{11, "from=2025-01-01&to=x"},
	} {
		f.Add(seed.read, seed.query)
	}
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		read := reads[int(which)%len(reads)]
		path := read.path
		if query != "" {
			path += "?" + query
		}
		req, ok := request("GET", path, nil, read.headers...)
		if !ok {
			return
		}
		if read.cookie != "" {
			req.AddCookie(&http.Cookie{Name: dream.SessionCookie, Value: read.cookie})
		}
		before := z.dumper.Dump(t)
		rec := z.serve(t, req)
		if after := z.dumper.Dump(t); after != before {
			t.Fatalf("GET %s answered %d and changed the database:\n%s", path, rec.Code, diffLines(before, after))
		}
		if read.json {
			checkJSONAnswer(t, "GET "+path, rec)
		} else {
			z.checkPage(t, "GET "+path, rec, nil)
		}
	})
}

// FuzzHeaders sends arbitrary credentials and pipeline headers to routes
// of each kind of access: keyed, end-user, secret-only, the management
// API by Bearer token and by cookie with its CSRF header, and the
// dashboard. Besides the contract of every route, CORS echoes only a valid
// Origin and the request id only a safe one.
func FuzzHeaders(f *testing.F) {
	z := newFuzzServer(f)
	pk, sk := z.saas.Test.PublishableKey, z.saas.Test.SecretKey
	token := z.token(pk, "fuzz@example.com", "")
	routes := []struct {
		method, path, body string
		json               bool
	}{
		{"GET", "/api/tiers", "", true},
		{"POST", "/api/data", "", true},
		{"GET", "/api/customers/user_x", "", true},
		{"GET", "/v1/account", "", true},
		{"POST", "/v1/projects", `{"name":"Headers","type":"saas"}`, true},
		{"GET", "/dashboard", "", false},
	}
	for _, seed := range []struct {
		route                                       uint8
		authorization, publishable, endUser, cookie string
		csrf, origin, requestID                     string
	}{
		{0, "", pk, "", "", "", "https://app.example.com", "req-1"},
		{1, "", pk, token, "", "", "http://localhost:3000", ""},
		{1, "Bearer " + sk, z.shop.Test.PublishableKey, token, "", "", "null", "a b"},
		{1, "Bearer " + sk, z.other.Test.PublishableKey, token, "", "", "", ""},
		{2, "Bearer " + sk, "", "", "", "", "https://evil.example", strings.Repeat("x", 65)},
		{2, "Bearer " + strings.ToUpper(sk), "", "", "", "", "", ""},
		{2, "Basic " + sk, pk, "", "", "", "", ""},
		{3, "Bearer " + z.developer.token, "", "", "", "", "", ""},
		{3, "Bearer " + token, "", "", "", "", "", ""},
		{4, "", "", "", "dream_session=" + z.developer.token, z.developer.csrf, "", ""},
		{4, "", "", "", "dream_session=" + z.developer.token, "wrong", "", ""},
		{4, "", "", "", "__session=" + token, "", "", ""},
		{5, "", "", "", "dream_session=" + z.developer.token + "; dream_session=other", "", "", ""},
		{5, "", "", "", "dream_session=\"quoted\"", "", "", ""},
	} {
		f.Add(seed.route, seed.authorization, seed.publishable, seed.endUser, seed.cookie, seed.csrf, seed.origin, seed.requestID)
	}
	f.Fuzz(func(t *testing.T, which uint8, authorization, publishable, endUser, cookie, csrf, origin, requestID string) {
		route := routes[int(which)%len(routes)]
		req, _ := request(route.method, route.path, []byte(route.body))
		for name, value := range map[string]string{"Authorization": authorization, "X-Publishable-Key": publishable,
			"X-Clerk-Token": endUser, "Cookie": cookie, "X-CSRF-Token": csrf, "Origin": origin, "X-Request-Id": requestID} {
			if value != "" {
				req.Header[name] = []string{value}
			}
		}
		rec := z.serve(t, req)
		what := route.method + " " + route.path
		if route.json {
			checkJSONAnswer(t, what, rec)
		} else {
			z.checkPage(t, what, rec, nil)
		}
		if allow := rec.Header().Get("Access-Control-Allow-Origin"); allow != "*" && (allow != origin || !dream.ValidOrigin(origin)) {
			t.Fatalf("%s with Origin %q answered Access-Control-Allow-Origin %q, want the origin only when valid, else *", what, origin, allow)
		}
		if id := rec.Header().Get("X-Request-Id"); id != requestID && !strings.HasPrefix(id, "req_") {
			t.Fatalf("%s with X-Request-Id %q answered the id %q, want it or one of our own", what, requestID, id)
		}
		if rec.Code/100 == 2 {
			z.replaceWhatEnded(t)
		}
	})
}
