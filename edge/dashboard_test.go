package edge_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/auth"
	"github.com/dream-api/dream/store/storetest"
	"golang.org/x/net/html"
)

// dashboardPage fetches a dashboard page with a developer's cookie.
func (h *harness) dashboardPage(d developer, method, path string, form url.Values) *httptest.ResponseRecorder {
	h.t.Helper()
	var body string
	if form != nil {
		form.Set("csrf", d.csrf)
		body = form.Encode()
	}
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if d.token != "" {
		req.AddCookie(&http.Cookie{Name: "dream_session", Value: d.token})
	}
	rec := httptest.NewRecorder()
	h.current().ServeHTTP(rec, req)
	return rec
}

// tidyKnows filters what HTML Tidy 5.6 reports of valid HTML it predates:
// the inputmode and minlength attributes, and ARIA attributes other than
// the few it knows.
var tidyKnows = regexp.MustCompile(`proprietary attribute "(inputmode|minlength|aria-[a-z]+)"`)

// validateHTML has HTML Tidy check a page and fails the test on anything
// it reports but tidyKnows. Without tidy it skips, but under CI=true.
func validateHTML(t *testing.T, path, body string) {
	t.Helper()
	tidy, err := exec.LookPath("tidy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tidy is required under CI=true: make test installs it")
		}
		return
	}
	cmd := exec.Command(tidy, "-q", "-e", "-utf8")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running tidy: %v", err)
	}
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !tidyKnows.MatchString(line) {
			problems = append(problems, line)
		}
	}
	if len(problems) > 0 {
		t.Errorf("%s does not validate:\n%s", path, strings.Join(problems, "\n"))
	}
}

// checkHTML holds a page to what every dashboard page must be: valid, a
// whole document with one main, unique ids, a label for every field, and
// the session's CSRF token in every form that writes.
func checkHTML(t *testing.T, path, body, csrf string) {
	t.Helper()
	validateHTML(t, path, body)
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: not HTML: %v", path, err)
	}
	ids, labels := map[string]bool{}, map[string]bool{}
	var fields []string
	mains := 0
	var walk func(n *html.Node, form *html.Node)
	formsWithoutToken := 0
	walk = func(n *html.Node, form *html.Node) {
		attr := func(key string) string {
			for _, a := range n.Attr {
				if a.Key == key {
					return a.Val
				}
			}
			return ""
		}
		if n.Type == html.ElementNode {
			if id := attr("id"); id != "" {
				if ids[id] {
					t.Errorf("%s: the id %q appears twice", path, id)
				}
				ids[id] = true
			}
			switch n.Data {
			case "main":
				mains++
			case "label":
				if f := attr("for"); f != "" {
					labels[f] = true
				}
			case "input", "select", "textarea":
				if typ := attr("type"); typ != "hidden" && typ != "checkbox" && typ != "radio" {
					fields = append(fields, attr("id"))
				}
			case "form":
				if attr("method") == "post" && !strings.HasPrefix(attr("action"), "/dashboard/sign") {
					token := false
					var find func(*html.Node)
					find = func(c *html.Node) {
						for ; c != nil; c = c.NextSibling {
							if c.Type == html.ElementNode && c.Data == "input" {
								name, value := "", ""
								for _, a := range c.Attr {
									switch a.Key {
									case "name":
										name = a.Val
									case "value":
										value = a.Val
									}
								}
								if name == "csrf" && value == csrf {
									token = true
								}
							}
							find(c.FirstChild)
						}
					}
					find(n.FirstChild)
					if !token {
						formsWithoutToken++
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, form)
		}
	}
	walk(doc, nil)
	if mains != 1 {
		t.Errorf("%s: %d main elements, want 1", path, mains)
	}
	for _, id := range fields {
		if id == "" || !labels[id] {
			t.Errorf("%s: a field (id %q) has no label", path, id)
		}
	}
	if formsWithoutToken > 0 {
		t.Errorf("%s: %d forms that write carry no CSRF token of the session", path, formsWithoutToken)
	}
}

func TestDashboard_Pages(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d, stranger := h.signUp("dash@example.com"), h.signUp("dash-stranger@example.com")
	saas, pk, _ := h.createProject(d, "Dash SaaS", dream.ProjectSaaS)
	shop, _, _ := h.createProject(d, "Dash Shop", dream.ProjectStore)
	h.do("POST", "/v1/projects/"+saas+"/environments/test/tiers", `{"name":"free","displayName":"Free","price":0,"limit":5}`, d.bearer()...)
	h.do("POST", "/v1/projects/"+shop+"/environments/test/products", `{"name":"mug","displayName":"Mug","price":1200,"inventory":3}`, d.bearer()...)
	token := h.token(pk, "buyer@example.com", "")
	h.do("POST", "/api/data", "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
	// The unit reaches the database, and the end user the customers list,
	// once the node ships it.
	if err := h.current().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	userID := h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", token).body["userId"].(string)

	pages := []string{
		"/dashboard",
		"/dashboard/billing",
		"/dashboard/projects/" + saas,
		"/dashboard/projects/" + saas + "?mode=live",
		"/dashboard/projects/" + saas + "/catalogue",
		"/dashboard/projects/" + shop + "/catalogue",
		"/dashboard/projects/" + saas + "/customers",
		"/dashboard/projects/" + saas + "/customers?q=buyer",
		"/dashboard/projects/" + saas + "/customers/" + userID,
		"/dashboard/projects/" + saas + "/events",
		"/dashboard/projects/" + saas + "/metrics",
		"/dashboard/projects/" + shop + "/metrics",
	}
	for _, path := range pages {
		t.Run(path, func(t *testing.T) {
			rec := h.dashboardPage(d, "GET", path, nil)
			if rec.Code != 200 {
				t.Fatalf("signed in: %d, want 200: %s", rec.Code, rec.Body)
			}
			checkHTML(t, path, rec.Body.String(), d.csrf)
			if out := h.dashboardPage(developer{}, "GET", path, nil); out.Code != http.StatusSeeOther ||
				!strings.HasPrefix(out.Header().Get("Location"), "/dashboard/signin?") {
				t.Errorf("signed out: %d to %q, want the sign-in page", out.Code, out.Header().Get("Location"))
			}
			if strings.Contains(path, "/projects/") {
				if other := h.dashboardPage(stranger, "GET", path, nil); other.Code != 404 {
					t.Errorf("another developer: %d, want 404", other.Code)
				}
			}
		})
	}
	// A day of figures draws its bars.
	env, err := h.db.EnvironmentByPublishableKey(context.Background(), pk)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Exec(t, h.db, `INSERT INTO daily_figures (environment_id, day, usage_this_period, mrr_cents, active_subscriptions,
		revenue_cents, orders) VALUES (?, '2025-01-14', 7, 2900, 1, 0, 0)`, env.ID)
	if body := h.dashboardPage(d, "GET", "/dashboard/projects/"+saas+"/metrics", nil).Body.String(); strings.Count(body, "<rect") != 2 ||
		!strings.Contains(body, "2025-01-14: $29.00") {
		t.Errorf("the metrics page with a day of figures draws no bars of it:\n%s", body)
	}
	for _, path := range []string{"/dashboard/signin", "/dashboard/signup"} {
		rec := h.dashboardPage(developer{}, "GET", path, nil)
		if rec.Code != 200 {
			t.Fatalf("%s: %d", path, rec.Code)
		}
		checkHTML(t, path, rec.Body.String(), "")
	}
	if body := h.dashboardPage(d, "GET", "/dashboard/projects/"+saas+"/customers", nil).Body.String(); !strings.Contains(body, "buyer@example.com") {
		t.Errorf("the customers page does not list the end user who used the API:\n%s", body)
	}
}

func TestDashboard_Forms(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	// Sign up through the page.
	rec := h.dashboardPage(developer{}, "POST", "/dashboard/signup", url.Values{"email": {"form@example.com"}, "password": {"correct horse battery"}})
	var cookie string
	for _, c := range rec.Result().Cookies() {
		if c.Name == "dream_session" {
			cookie = c.Value
		}
	}
	if rec.Code != http.StatusSeeOther || cookie == "" {
		t.Fatalf("signing up on the page answered %d without a session", rec.Code)
	}
	d := developer{token: cookie, csrf: dream.CSRFToken(cookie)}

	// A write without the session's token is refused.
	req := httptest.NewRequest("POST", "/dashboard/projects", strings.NewReader("name=x&type=saas&csrf=wrong"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "dream_session", Value: cookie})
	forged := httptest.NewRecorder()
	h.current().ServeHTTP(forged, req)
	if forged.Code != http.StatusForbidden {
		t.Fatalf("a form without the CSRF token answered %d, want 403", forged.Code)
	}

	// A failed form shows the error and keeps what was typed.
	rec = h.dashboardPage(d, "POST", "/dashboard/projects", url.Values{"name": {"Typed name"}, "type": {"shop"}})
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `value="Typed name"`) || !fieldError(rec.Body.String(), "type", "saas, store or membership") {
		t.Fatalf("a project of an unknown type answered %d, want the form with the error beside the type and the name kept:\n%s", rec.Code, rec.Body)
	}
	// Creating shows the secret key once.
	rec = h.dashboardPage(d, "POST", "/dashboard/projects", url.Values{"name": {"Form app"}, "type": {"saas"}, "origins": {"https://app.example.com"}})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "sk_test_") {
		t.Fatalf("creating a project answered %d without the secret key shown once", rec.Code)
	}
	projects := h.do("GET", "/v1/projects", "", d.bearer()...).body["projects"].([]any)
	id := projects[0].(map[string]any)["id"].(string)
	if again := h.dashboardPage(d, "GET", "/dashboard/projects/"+id, nil); strings.Contains(again.Body.String(), "sk_test_") {
		t.Fatal("the project page shows a secret key again")
	}

	// Tiers: a price in dollars, a bad one refused with the form kept.
	rec = h.dashboardPage(d, "POST", "/dashboard/projects/"+id+"/catalogue?mode=test", url.Values{"name": {"pro"}, "displayName": {"Pro"},
		"price": {"19.99"}, "limit": {"1000"}, "features": {"Email support\nPriority"}, "popular": {"on"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("adding a tier answered %d: %s", rec.Code, rec.Body)
	}
	tiers := h.do("GET", "/v1/projects/"+id+"/environments/test/tiers", "", d.bearer()...).body["tiers"].([]any)
	pro := tiers[0].(map[string]any)
	if pro["price"] != 1999.0 || pro["limit"] != 1000.0 || len(pro["features"].([]any)) != 2 || pro["popular"] != true {
		t.Fatalf("the tier added on the page is %v, want $19.99, 1000, two features, popular", pro)
	}
	rec = h.dashboardPage(d, "POST", "/dashboard/projects/"+id+"/catalogue?mode=test", url.Values{"name": {"team"}, "displayName": {"Team"}, "price": {"ten"}})
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `value="Team"`) || !fieldError(rec.Body.String(), "new-price", "amount in dollars") {
		t.Fatalf("a bad price answered %d, want the form with the error beside the price and the values kept:\n%s", rec.Code, rec.Body)
	}
	// The service's own refusal lands beside its field too.
	rec = h.dashboardPage(d, "POST", "/dashboard/projects/"+id+"/catalogue?mode=test", url.Values{"name": {"team"}, "displayName": {"Team"}, "price": {"10"}, "trialDays": {"1000"}})
	if rec.Code != 400 || !fieldError(rec.Body.String(), "new-trial", "trialDays is 0 to") || !strings.Contains(rec.Body.String(), `value="1000"`) {
		t.Fatalf("a trial too long answered %d, want the error beside the trial and the value kept:\n%s", rec.Code, rec.Body)
	}
	checkHTML(t, "the failed tier form", rec.Body.String(), d.csrf)
	rec = h.dashboardPage(d, "POST", "/dashboard/projects/"+id+"/catalogue/pro?mode=test", url.Values{"displayName": {"Pro plan"},
		"price": {"29"}, "limit": {"unlimited"}, "trialDays": {"7"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("editing the tier answered %d: %s", rec.Code, rec.Body)
	}
	pro = h.do("GET", "/v1/projects/"+id+"/environments/test/tiers", "", d.bearer()...).body["tiers"].([]any)[0].(map[string]any)
	if pro["price"] != 2900.0 || pro["limit"] != "unlimited" || pro["trialDays"] != 7.0 || pro["displayName"] != "Pro plan" {
		t.Fatalf("the edited tier is %v", pro)
	}

	// Settings: a bad origin is shown beside the origins, with what was typed kept.
	rec = h.dashboardPage(d, "POST", "/dashboard/projects/"+id+"/settings?mode=test", url.Values{"name": {"Typed rename"},
		"origins": {"https://app.example.com\nnot an origin"}, "rateLimit": {"30"}})
	if body := rec.Body.String(); rec.Code != 400 || !fieldError(body, "origins", "is not an origin") || !strings.Contains(body, `value="Typed rename"`) ||
		!strings.Contains(body, "not an origin</textarea>") {
		t.Fatalf("a bad origin answered %d, want the error beside the origins and the form as typed:\n%s", rec.Code, body)
	}
	checkHTML(t, "the failed settings form", rec.Body.String(), d.csrf)

	// Settings and rotation.
	rec = h.dashboardPage(d, "POST", "/dashboard/projects/"+id+"/settings?mode=test", url.Values{"name": {"Renamed"},
		"origins": {"https://app.example.com\nhttp://localhost:5173"}, "rateLimit": {"30"}, "enableTax": {"on"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("saving settings answered %d: %s", rec.Code, rec.Body)
	}
	p := h.do("GET", "/v1/projects/"+id, "", d.bearer()...).body
	if p["name"] != "Renamed" || len(p["allowedOrigins"].([]any)) != 2 || p["rateLimitPerMinute"] != 30.0 || p["enableTax"] != true {
		t.Fatalf("after saving settings the project is %v", p)
	}
	if rec := h.dashboardPage(d, "POST", "/dashboard/projects/"+id+"/rotate?mode=test", url.Values{"overlapHours": {"1"}}); rec.Code != 200 ||
		!strings.Contains(rec.Body.String(), "sk_test_") {
		t.Fatalf("rotating answered %d without the new key", rec.Code)
	}

	// Deleting needs the name.
	if rec := h.dashboardPage(d, "POST", "/dashboard/projects/"+id+"/delete", url.Values{"confirm": {"nope"}}); rec.Code != 400 ||
		!fieldError(rec.Body.String(), "confirm", "confirm the deletion") {
		t.Fatalf("deleting with the wrong name answered %d, want 400 with the error beside the confirmation", rec.Code)
	}
	if rec := h.dashboardPage(d, "POST", "/dashboard/projects/"+id+"/delete", url.Values{"confirm": {"Renamed"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("deleting answered %d", rec.Code)
	}
	// Signing out ends the session.
	h.dashboardPage(d, "POST", "/dashboard/signout", url.Values{})
	if rec := h.dashboardPage(d, "GET", "/dashboard", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("after signing out the dashboard answered %d, want the sign-in page", rec.Code)
	}
}

// fieldError reports whether page shows an error containing message beside
// the field of id: the field marked invalid and described by the error.
func fieldError(page, id, message string) bool {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return false
	}
	var field, shown bool
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
			}
			if (attrs["id"] == id || n.Data == "fieldset" && id == "type") && attrs["aria-invalid"] == "true" && attrs["aria-describedby"] == id+"-error" {
				field = true
			}
			if attrs["id"] == id+"-error" && n.FirstChild != nil && strings.Contains(n.FirstChild.Data, message) {
				shown = true
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return field && shown
}

// onePixelPNG is a 1×1 PNG.
var onePixelPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

// dashboardUpload posts a multipart form with a file, as a browser does
// for the products editor.
func (h *harness) dashboardUpload(d developer, path string, fields map[string]string, filename string, data []byte) *httptest.ResponseRecorder {
	h.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", d.csrf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	part, err := mw.CreateFormFile("image", filename)
	if err != nil {
		h.t.Fatal(err)
	}
	part.Write(data)
	mw.Close()
	req := httptest.NewRequest("POST", path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(&http.Cookie{Name: "dream_session", Value: d.token})
	rec := httptest.NewRecorder()
	h.current().ServeHTTP(rec, req)
	return rec
}

func TestDashboard_ProductImage(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	d := h.signUp("images@example.com")
	shop, _, _ := h.createProject(d, "Image Shop", dream.ProjectStore)
	catalogue := "/dashboard/projects/" + shop + "/catalogue?mode=test"
	// A page cursor that is not one is refused, not read as the first page.
	for _, param := range []string{"after", "before"} {
		if rec := h.dashboardPage(d, "GET", "/dashboard/projects/"+shop+"/customers?mode=test&"+param+"=nope", nil); rec.Code != 400 ||
			!strings.Contains(rec.Body.String(), "a page cursor is") {
			t.Fatalf("a bad %s cursor answered %d", param, rec.Code)
		}
	}

	// A file that is not an image is refused, with what was typed kept
	// and nothing stored.
	rec := h.dashboardUpload(d, catalogue, map[string]string{"name": "mug", "displayName": "Kept mug", "price": "12"}, "mug.png", []byte("<script>alert(1)</script>"))
	if rec.Code != http.StatusBadRequest || !fieldError(rec.Body.String(), "new-upload", "Only PNG, JPEG, WebP and GIF") ||
		!strings.Contains(rec.Body.String(), `value="Kept mug"`) {
		t.Fatalf("a script as the image answered %d, want the form with the error and the values kept:\n%s", rec.Code, rec.Body)
	}
	if n := storetest.Count(t, h.db, `SELECT count(*) FROM assets`); n != 0 {
		t.Fatalf("a refused upload stored %d assets", n)
	}

	// An image is stored and becomes the product's image, served from
	// this origin, and previewed on the page.
	rec = h.dashboardUpload(d, catalogue, map[string]string{"name": "mug", "displayName": "Mug", "price": "12", "inventory": "3"}, "mug photo.png", onePixelPNG)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("adding a product with an image answered %d: %s", rec.Code, rec.Body)
	}
	mug := h.do("GET", "/v1/projects/"+shop+"/environments/test/products", "", d.bearer()...).body["products"].([]any)[0].(map[string]any)
	image, _ := mug["imageUrl"].(string)
	if !strings.HasPrefix(image, dream.AssetPath) || mug["inventory"] != 3.0 {
		t.Fatalf("the product added with an image is %v", mug)
	}
	served := httptest.NewRecorder()
	h.current().ServeHTTP(served, httptest.NewRequest("GET", image, nil))
	if served.Code != 200 || served.Header().Get("Content-Type") != "image/png" || !bytes.Equal(served.Body.Bytes(), onePixelPNG) {
		t.Fatalf("the uploaded image is served as %d %q", served.Code, served.Header().Get("Content-Type"))
	}
	page := h.dashboardPage(d, "GET", catalogue, nil)
	if !strings.Contains(page.Body.String(), `class="preview" alt="Image preview" src="`+image+`"`) {
		t.Fatal("the products editor does not preview the product's image")
	}
	checkHTML(t, catalogue, page.Body.String(), d.csrf)

	// Editing without choosing a file keeps the image; choosing one
	// replaces it.
	edit := "/dashboard/projects/" + shop + "/catalogue/mug?mode=test"
	if rec := h.dashboardUpload(d, edit, map[string]string{"displayName": "Mug", "price": "14", "inventory": "3", "imageUrl": image}, "", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("editing the product answered %d: %s", rec.Code, rec.Body)
	}
	mug = h.do("GET", "/v1/projects/"+shop+"/environments/test/products", "", d.bearer()...).body["products"].([]any)[0].(map[string]any)
	if mug["imageUrl"] != image || mug["price"] != 1400.0 {
		t.Fatalf("after an edit without a file the product is %v, want the image kept", mug)
	}
	if rec := h.dashboardUpload(d, edit, map[string]string{"displayName": "Mug", "price": "14", "imageUrl": image}, "new.png", onePixelPNG); rec.Code != http.StatusSeeOther {
		t.Fatalf("replacing the image answered %d: %s", rec.Code, rec.Body)
	}
	mug = h.do("GET", "/v1/projects/"+shop+"/environments/test/products", "", d.bearer()...).body["products"].([]any)[0].(map[string]any)
	if next, _ := mug["imageUrl"].(string); next == image || !strings.HasSuffix(next, "-new.png") {
		t.Fatalf("after choosing a new file the image is %v, want the new upload", mug["imageUrl"])
	}
}

func TestDashboard_Admin(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	admin, someone := h.signUp("admin@example.com"), h.signUp("someone@example.com")
	storetest.SetPlatformSubscription(t, h.db, someone.platformID, dream.StatusActive, time.Time{})
	if rec := h.dashboardPage(someone, "GET", "/admin", nil); rec.Code != 404 {
		t.Fatalf("a developer who is not an admin got /admin with %d, want 404", rec.Code)
	}
	if rec := h.dashboardPage(developer{}, "GET", "/admin", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("signed out, /admin answered %d, want the sign-in page", rec.Code)
	}
	rec := h.dashboardPage(admin, "GET", "/admin", nil)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "someone@example.com") || !strings.Contains(body, "$19.00") {
		t.Fatalf("an admin got /admin with %d, want the developers and an MRR of one active developer at $19: %s", rec.Code, body)
	}
	checkHTML(t, "/admin", body, admin.csrf)
	if rec := h.dashboardPage(admin, "GET", "/admin?q=admin", nil); strings.Contains(rec.Body.String(), "someone@example.com") {
		t.Fatal("searching admin@ listed someone@")
	}
}

// TestDashboard_Clerk signs a developer in with the platform's Clerk
// application, against a stand-in for Clerk: the sign-in page mounts
// Clerk's form under a policy that lets its script run, Clerk's session
// cookie opens the dashboard, forms carry a CSRF token of their own that
// outlives Clerk's one-minute tokens, an expired token goes back through
// sign-in, and signing out hands over to Clerk's script.
func TestDashboard_Clerk(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	clerk := newFakeClerk(t)
	o := h.options
	console := *o.Console
	console.Passwords, console.Attempts = nil, nil
	console.Identity = auth.NewClerkDevelopers(auth.ClerkInstance{SecretKey: "sk_live_platform", APIURL: clerk.server.URL + "/v1"},
		time.Now, nil, slog.New(slog.DiscardHandler))
	o.Console = &console
	o.DashboardClerkKey = "pk_live_Y2xlcmsuZXhhbXBsZS50ZXN0JA" // clerk.example.test
	server := h.serverWith(o)
	send := func(method, path string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		server.ServeHTTP(rec, req)
		return rec
	}
	session := func(expires time.Time) *http.Cookie {
		return &http.Cookie{Name: "__session", Value: clerk.token(t, clerk.key, "user_dev", expires)}
	}

	// The sign-in page mounts Clerk's form, and may run Clerk's script.
	rec := send("GET", "/dashboard/signin?next=%2Fdashboard%2Fbilling", nil)
	policy := rec.Header().Get("Content-Security-Policy")
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, `src="https://clerk.example.test/npm/@clerk/clerk-js@5/dist/clerk.browser.js"`) ||
		!strings.Contains(body, `data-clerk-publishable-key="pk_live_Y2xlcmsuZXhhbXBsZS50ZXN0JA"`) ||
		!strings.Contains(body, `id="clerk-auth" data-page="signin" data-next="/dashboard/billing"`) || strings.Contains(body, `name="password"`) ||
		!strings.Contains(policy, "script-src 'self' https://clerk.example.test") || !strings.Contains(policy, "connect-src 'self' https://clerk.example.test") {
		t.Fatalf("the Clerk sign-in page answered %d with policy %q:\n%s", rec.Code, policy, body)
	}
	validateHTML(t, "the Clerk sign-in page", rec.Body.String())

	// Clerk's session cookie opens the dashboard, and makes the platform.
	rec = send("GET", "/dashboard", nil, session(time.Now().Add(time.Minute)))
	var csrf *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "dream_csrf" {
			csrf = c
		}
	}
	if rec.Code != 200 || csrf == nil || !csrf.HttpOnly || csrf.SameSite != http.SameSiteStrictMode ||
		!strings.Contains(rec.Body.String(), `name="csrf" value="`+csrf.Value+`"`) {
		t.Fatalf("the dashboard with Clerk's session answered %d, want the page with forms carrying a CSRF cookie's token:\n%s", rec.Code, rec.Body)
	}
	// A form works with a token Clerk refreshed since the page was made.
	create := url.Values{"name": {"Clerk app"}, "type": {"saas"}, "csrf": {csrf.Value}}
	if rec := send("POST", "/dashboard/projects", create, session(time.Now().Add(2*time.Minute)), csrf); rec.Code != 200 ||
		!strings.Contains(rec.Body.String(), "sk_test_") {
		t.Fatalf("creating a project with Clerk's session answered %d:\n%s", rec.Code, rec.Body)
	}
	// Without the CSRF cookie, or with another token, a form is refused.
	if rec := send("POST", "/dashboard/projects", create, session(time.Now().Add(time.Minute))); rec.Code != http.StatusForbidden {
		t.Fatalf("a form without the CSRF cookie answered %d, want 403", rec.Code)
	}
	forged := url.Values{"name": {"Forged"}, "type": {"saas"}, "csrf": {strings.Repeat("0", 32)}}
	if rec := send("POST", "/dashboard/projects", forged, session(time.Now().Add(time.Minute)), csrf); rec.Code != http.StatusForbidden {
		t.Fatalf("a form with another CSRF token answered %d, want 403", rec.Code)
	}
	if rec := send("GET", "/dashboard", nil, session(time.Now().Add(time.Minute)), csrf); !strings.Contains(rec.Body.String(), "Clerk app") ||
		strings.Contains(rec.Body.String(), "Forged") {
		t.Fatal("the projects page does not list exactly the project the valid form created")
	}

	// An expired token (past the verifier's minute of clock skew) goes
	// through sign-in, where Clerk's script refreshes it.
	if rec := send("GET", "/dashboard/billing", nil, session(time.Now().Add(-2*time.Minute)), csrf); rec.Code != http.StatusSeeOther ||
		rec.Header().Get("Location") != "/dashboard/signin?next=%2Fdashboard%2Fbilling" {
		t.Fatalf("an expired Clerk token answered %d to %q, want the sign-in page", rec.Code, rec.Header().Get("Location"))
	}

	// Signing out drops the cookies and has Clerk's script end the session.
	rec = send("POST", "/dashboard/signout", url.Values{"csrf": {csrf.Value}}, session(time.Now().Add(time.Minute)), csrf)
	cleared := map[string]bool{}
	for _, c := range rec.Result().Cookies() {
		cleared[c.Name] = c.MaxAge < 0
	}
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/dashboard/signedout" || !cleared["__session"] || !cleared["dream_csrf"] {
		t.Fatalf("signing out answered %d to %q, clearing %v", rec.Code, rec.Header().Get("Location"), cleared)
	}
	if rec := send("GET", "/dashboard/signedout", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="clerk-signout"`) {
		t.Fatalf("the signed-out page answered %d without Clerk's sign-out", rec.Code)
	} else {
		validateHTML(t, "the signed-out page", rec.Body.String())
	}
}
