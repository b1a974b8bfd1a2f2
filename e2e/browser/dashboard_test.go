package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// screenshots is where the dashboard tests save their full-page
// screenshots: $DREAM_SCREENSHOTS (make docs-screenshots points it at
// docs/dashboard), else a directory of the test.
func screenshots(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("DREAM_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// consoleErrors collects the console errors, uncaught exceptions and
// failed loads of the pages of base, which fail the test; the test app's
// own (the SDK trying to load Clerk, offline) are not the dashboard's.
func consoleErrors(ctx context.Context, base string) func() []string {
	var mu sync.Mutex
	var found []string
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException) && strings.HasPrefix(m.URL, base) {
				mu.Lock()
				found = append(found, m.String()+" at "+m.URL)
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), found...)
	}
}

// TestBrowser_DashboardJourney drives the dashboard as a new developer
// would: sign up, subscribe through the emulator (trial), create a saas
// project and copy its secret key, connect test mode, add a tier, see an
// end user driven by the SDK appear with usage, rotate the key, connect
// live and promote, and delete the project. It saves a full-page
// screenshot of each step and fails on any console error or failed load.
func TestBrowser_DashboardJourney(t *testing.T) {
	browser := chromium(t)
	sdk := sdkModule(t)
	base, _ := startDev(t)
	ctx := newBrowser(t, browser)
	errs := consoleErrors(ctx, base)
	shots := screenshots(t)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	value := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return v
	}
	click := func(what, sel string) { t.Helper(); do(what, chromedp.Click(chromedp.CSS(sel))) }

	do("opening the dashboard", chromedp.Navigate(base+"/dashboard"), chromedp.WaitVisible(chromedp.ID("email")))
	shot("01-sign-in")
	click("going to sign-up", `a[href="/dashboard/signup"]`)
	do("signing up", chromedp.WaitVisible(chromedp.ID("password")), chromedp.SendKeys(chromedp.ID("email"), "maker@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery"), chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("name")))
	shot("02-projects")

	// Subscribe: the emulator's checkout, with the trial.
	click("opening billing", `a[href="/dashboard/billing"]`)
	click("subscribing", `form[action="/dashboard/billing/checkout"] button`)
	do("paying", chromedp.WaitVisible(chromedp.CSS(`form[action$="/pay"] button`)))
	shot("03-plan-checkout")
	click("paying", `form[action$="/pay"] button`)
	click("opening billing", `a[href="/dashboard/billing"]`)
	if status := text(".card .badge"); status != "trialing" {
		t.Fatalf("after paying the billing page shows %q, want trialing", status)
	}
	shot("04-billing")

	// A saas project; its secret key is shown once.
	click("going home", `a.brand`)
	do("creating a project", chromedp.SendKeys(chromedp.ID("name"), "Maker SaaS"), chromedp.Click(chromedp.CSS(`form[action="/dashboard/projects"] button`)),
		chromedp.WaitVisible(chromedp.ID("secret-key")))
	secret := value("#secret-key")
	if !strings.HasPrefix(secret, "sk_test_") {
		t.Fatalf("the new project shows secret key %q, want a test secret key", secret)
	}
	pk := value("#pk")
	shot("05-project-created")

	// Connect test mode through the emulator's Connect page.
	click("connecting Stripe", `form[action="/dashboard/connect/test"] button`)
	do("connecting", chromedp.WaitVisible(chromedp.CSS(`button[value=allow]`)), chromedp.Click(chromedp.CSS(`button[value=allow]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if n := text(".notice"); !strings.Contains(n, "connected in test mode") {
		t.Fatalf("after Connect the dashboard says %q", n)
	}

	// A tier.
	do("opening the project", chromedp.Navigate(base+"/dashboard"), chromedp.Click(chromedp.CSS(".projects a")),
		chromedp.WaitVisible(chromedp.ID("pk")))
	click("opening the tiers", `nav.tabs a[href*="/catalogue"]`)
	do("adding a tier", chromedp.WaitVisible(chromedp.ID("new-name")), chromedp.SendKeys(chromedp.ID("new-name"), "free"),
		chromedp.SendKeys(chromedp.ID("new-display"), "Free"), chromedp.SendKeys(chromedp.ID("new-price"), "0"),
		chromedp.SendKeys(chromedp.ID("new-limit"), "100"), chromedp.Click(chromedp.CSS(`form[action*="/catalogue?"] > button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("table")))
	shot("06-tiers")

	// An end user of the SDK, on a test app, tracks once.
	token := devToken(t, base, pk, "reader@example.com")
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sdk.mjs" {
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(sdk)
			return
		}
		cfg, _ := json.Marshal(map[string]string{"pk": pk, "base": base})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, appPage, cfg)
	}))
	defer app.Close()
	do("opening the app", chromedp.Navigate(app.URL+"/"), chromedp.WaitVisible(chromedp.ID("app")))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](`(async () => { await window.ready; api.setUserToken(`+
		jsString(token)+`); return await api.usage.track(); })()`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("tracking through the SDK: %v", err)
	}
	// The customer appears with their usage once the node ships it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		do("opening the customers", chromedp.Navigate(base+"/dashboard"), chromedp.Click(chromedp.CSS(".projects a")),
			chromedp.WaitVisible(chromedp.ID("pk")), chromedp.Click(chromedp.CSS(`nav.tabs a[href*="/customers"]`)),
			chromedp.WaitVisible(chromedp.ID("q")))
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		if strings.Contains(body, "reader@example.com") && strings.Contains(body, "1 / 100") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the end user never appeared with their usage on the customers page:\n%s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	shot("07-customers")

	// Rotate the key, keeping the old one an hour.
	click("opening the overview", `nav.tabs a`)
	do("rotating", chromedp.WaitVisible(chromedp.ID("overlap")), chromedp.SetValue(chromedp.ID("overlap"), "1"),
		chromedp.Click(chromedp.CSS(`form[action*="/rotate"] button`)), chromedp.WaitVisible(chromedp.ID("secret-key")))
	if rotated := value("#secret-key"); rotated == secret || !strings.HasPrefix(rotated, "sk_test_") {
		t.Fatalf("rotating showed %q, want a new test secret key", rotated)
	}
	shot("08-rotated")

	// Live: connect live mode, then promote.
	click("switching to live", `.modes a[href$="?mode=live"]`)
	click("connecting live", `form[action="/dashboard/connect/live"] button`)
	do("connecting live", chromedp.WaitVisible(chromedp.CSS(`button[value=allow]`)), chromedp.Click(chromedp.CSS(`button[value=allow]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	do("opening the project", chromedp.Click(chromedp.CSS(".projects a")), chromedp.WaitVisible(chromedp.ID("pk")),
		chromedp.Click(chromedp.CSS(`.modes a[href$="?mode=live"]`)), chromedp.WaitVisible(chromedp.CSS(`form[action$="/promote"] button`)))
	shot("09-promote")
	click("promoting", `form[action$="/promote"] button`)
	do("promoted", chromedp.WaitVisible(chromedp.ID("secret-key")))
	if live := value("#secret-key"); !strings.HasPrefix(live, "sk_live_") {
		t.Fatalf("promoting showed %q, want a live secret key", live)
	}
	shot("10-live")

	// Delete after typing the name, and saying yes to the confirmation.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)); err != nil {
		t.Fatal(err)
	}
	do("deleting", chromedp.SendKeys(chromedp.ID("confirm"), "Maker SaaS"), chromedp.Click(chromedp.CSS(`form[action$="/delete"] button`)),
		chromedp.WaitVisible(chromedp.ID("name")))
	if body := text("main"); strings.Contains(body, "Maker SaaS") {
		t.Fatalf("after deleting, the projects page still lists the project:\n%s", body)
	}
	shot("11-deleted")
	if found := errs(); len(found) > 0 {
		t.Fatalf("the pages logged errors:\n%s", strings.Join(found, "\n"))
	}
}

// devToken is an end-user token of the dev issuer.
func devToken(t *testing.T, base, pk, email string) string {
	t.Helper()
	res, err := http.Post(base+"/dev/tokens", "application/json", strings.NewReader(`{"publishableKey":"`+pk+`","email":"`+email+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.Token == "" {
		t.Fatalf("POST /dev/tokens: %v", err)
	}
	return body.Token
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
