// Package browser drives the hosted end-user pages in a real browser:
// Debian's Chromium through chromedp, against the binary in dev mode, with
// a test app on another origin that loads the published @dream-api/sdk
// 0.1.38 from e2e/sdk and sends its end user through the pages.
package browser_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// required skips a test that lacks what it needs on a developer's machine,
// and fails it in CI, where a skipped browser test would pass unseen.
func required(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (required under CI=true; make test installs it)", what)
	}
	t.Skip(what)
}

// chromium is the browser's path.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	required(t, "Debian's chromium is not installed (apt-get install chromium)")
	return ""
}

// sdkModule is the published SDK's ES module, installed by npm ci in
// e2e/sdk.
func sdkModule(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "sdk", "node_modules", "@dream-api", "sdk", "dist", "index.mjs"))
	if err != nil {
		required(t, "the SDK is not installed: run npm ci in e2e/sdk ("+err.Error()+")")
	}
	return b
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startDev builds dream and starts `dream dev` on a free loopback port, and
// returns its URL and the SaaS demo project's publishable key.
func startDev(t *testing.T) (base, pk string) {
	t.Helper()
	n := startDevNode(t)
	return n.base, n.pks[0]
}

// devNode is a running `dream dev`: its URL, every demo project's
// publishable and secret key, and the demo developer's sign-in.
type devNode struct {
	base            string
	pks, sks        []string
	email, password string
}

// startDevNode is startDev with all it seeded.
func startDevNode(t *testing.T) devNode {
	t.Helper()
	var base string
	dir := t.TempDir()
	bin := filepath.Join(dir, "dream")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/dream").CombinedOutput(); err != nil {
		t.Fatalf("building dream: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "dev", "--addr", "127.0.0.1:0", "--data", data)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
			if strings.HasPrefix(sc.Text(), "-----") {
				close(found)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case base = <-found:
	case <-time.After(30 * time.Second):
		t.Fatalf("dream dev printed no banner in 30 s; its stderr:\n%s", stderr.String())
	}
	for range found {
	}
	raw, err := os.ReadFile(filepath.Join(data, "dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dev struct {
		Developer struct{ Email, Password string }
		Projects  []struct{ Type, PublishableKey, SecretKey string }
	}
	if err := json.Unmarshal(raw, &dev); err != nil {
		t.Fatal(err)
	}
	n := devNode{base: base, email: dev.Developer.Email, password: dev.Developer.Password}
	for _, p := range dev.Projects {
		n.pks, n.sks = append(n.pks, p.PublishableKey), append(n.sks, p.SecretKey)
	}
	return n
}

// appPage is the test app: the SDK pointed at dream for both the API and
// the hosted pages. Its #app shows once the SDK has started, so a test
// that waits for it finds window.api and window.ready defined.
const appPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>Test app</title></head>
<body><div id="app" hidden>Test app</div>
<script id="cfg" type="application/json">%s</script>
<script type="module">
import { DreamAPI } from '/sdk.mjs';
const cfg = JSON.parse(document.getElementById('cfg').textContent);
window.api = new DreamAPI({ publishableKey: cfg.pk, baseUrl: cfg.base, signupUrl: cfg.base });
window.ready = api.auth.init().then(() => true);
document.getElementById('app').hidden = false;
</script></body></html>`

// startApp serves the test app of the SDK module sdk, with the project of
// pk on the dream node at base, on a loopback port of its own origin.
func startApp(t *testing.T, sdk []byte, pk, base string) *httptest.Server {
	t.Helper()
	cfg, _ := json.Marshal(map[string]string{"pk": pk, "base": base})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sdk.mjs" {
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(sdk)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, appPage, cfg)
	}))
	t.Cleanup(app.Close)
	return app
}

// newBrowser starts Chromium headless, as the project's rules launch it,
// and returns the context of its tab, bound to two minutes.
func newBrowser(t *testing.T, browser string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.WindowSize(1280, 900))
	allocator, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	browserCtx, cancel := chromedp.NewContext(allocator)
	t.Cleanup(cancel)
	// The first action starts the browser, which lives as long as its
	// context: the bound on the whole test comes after.
	if err := chromedp.Do(browserCtx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", browser, err)
	}
	ctx, cancel := context.WithTimeout(browserCtx, 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestBrowser_EndUserJourney(t *testing.T) {
	browser := chromium(t)
	sdk := sdkModule(t)
	base, pk := startDev(t)
	app := startApp(t, sdk, pk, base)

	ctx := newBrowser(t, browser)

	// eval runs an async expression in the app once its SDK is ready,
	// and decodes its value into out.
	eval := func(what, expression string, out any) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("app"))); err != nil {
			t.Fatalf("%s: the app did not show: %v", what, err)
		}
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](
			`(async () => { await window.ready; return (`+expression+`); })()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: %s: %v", what, raw, err)
		}
	}
	// open goes to a URL the SDK made.
	open := func(what, expression string) {
		t.Helper()
		var to string
		eval(what, expression, &to)
		if err := chromedp.Do(ctx, chromedp.Navigate(to)); err != nil {
			t.Fatalf("%s: opening %s: %v", what, to, err)
		}
	}
	// fill submits the hosted form with the end user's email and password.
	fill := func(what string) {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("email")),
			chromedp.SendKeys(chromedp.ID("email"), "grace@example.com"), chromedp.SendKeys(chromedp.ID("password"), "correct horse"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+"/")); err != nil {
		t.Fatal(err)
	}
	open("the sign-up URL", `api.auth.getSignUpUrl({ redirect: location.href })`)
	fill("signing up")

	var usage struct {
		Plan       string `json:"plan"`
		UsageCount int    `json:"usageCount"`
		Limit      any    `json:"limit"`
	}
	eval("tracking as the new end user", `api.usage.track().then(() => api.usage.check())`, &usage)
	if usage.Plan != "free" || usage.UsageCount != 1 {
		t.Fatalf("after signing up and one track the usage is %+v, want 1 unit on free", usage)
	}

	// Upgrade through the emulator's checkout, with /refresh as the success URL.
	open("the upgrade checkout", `api.billing.createCheckout({ tier: 'pro', successUrl: api.auth.getRefreshUrl({ redirect: location.origin + '/' }), cancelUrl: location.origin + '/' }).then(r => r.url)`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[action$="/pay"] button`))); err != nil {
		t.Fatalf("paying: %v", err)
	}
	var user struct {
		Email string `json:"email"`
		Plan  string `json:"plan"`
	}
	eval("the user after the upgrade", `api.auth.getUser()`, &user)
	eval("the usage after the upgrade", `api.usage.check()`, &usage)
	if user.Plan != "pro" || usage.Plan != "pro" || usage.Limit != float64(10000) {
		t.Fatalf("after paying, getUser() is %+v and the usage %+v, want pro with a limit of 10,000", user, usage)
	}

	// Sign out on the account page, then in again.
	open("the account page", `api.auth.getCustomerPortalUrl({ returnUrl: location.origin + '/' })`)
	account, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil || !strings.Contains(account, "grace@example.com") {
		t.Fatalf("the account page shows %q (%v), want the end user's email", account, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[action="/account/signout"] button`))); err != nil {
		t.Fatalf("signing out: %v", err)
	}
	eval("signing out of the SDK", `api.auth.signOut().then(() => api.auth.isSignedIn())`, new(bool))
	open("the sign-in URL", `api.auth.getSignInUrl({ redirect: location.origin + '/' })`)
	fill("signing in")
	eval("the user after signing in", `api.auth.getUser()`, &user)
	if user.Email != "grace@example.com" || user.Plan != "pro" {
		t.Fatalf("after signing in again getUser() is %+v, want grace on pro", user)
	}

	// The account page and back.
	open("the account page", `api.auth.getCustomerPortalUrl({ returnUrl: location.origin + '/' })`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`main a`)), chromedp.WaitVisible(chromedp.ID("app"))); err != nil {
		t.Fatalf("leaving the account page: %v", err)
	}
	if location, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasPrefix(location, app.URL) {
		t.Fatalf("leaving the account page ended at %q (%v), want the app", location, err)
	}
}
