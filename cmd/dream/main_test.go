package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

// buildBinary builds dream once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dream")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// devProcess is a running `dream dev`.
type devProcess struct {
	cmd     *exec.Cmd
	baseURL string
	// banner is what dream printed on stdout up to the end of its banner.
	banner string
	stderr lockedBuffer
}

// lockedBuffer is a buffer the process writes while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listeningLine = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startDev starts `dream dev` on a free loopback port and waits for the
// end of its banner.
func startDev(t *testing.T, bin, dataDir string) *devProcess {
	t.Helper()
	p := &devProcess{cmd: exec.Command(bin, "dev", "--addr", "127.0.0.1:0", "--data", dataDir)}
	p.cmd.Env = append(os.Environ(), "DREAM_RATE_LIMIT_PER_MINUTE=1000")
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	banner := make(chan string, 1)
	go func() {
		var lines strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "-----") {
				banner <- lines.String()
				break
			}
		}
		close(banner)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case text, ok := <-banner:
		m := listeningLine.FindStringSubmatch(text)
		if !ok || m == nil {
			t.Fatalf("dream dev printed no banner:\n%s", p.stderr.String())
		}
		p.banner, p.baseURL = text, m[1]
	case <-time.After(30 * time.Second):
		t.Fatalf("dream dev did not start within 30 s:\n%s", p.stderr.String())
	}
	return p
}

// stop sends SIGTERM and expects a clean exit.
func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dream dev exited with %v:\n%s", err, p.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("dream dev did not stop within 15 s of SIGTERM")
	}
}

// call sends a JSON request and decodes the JSON answer.
func call(t *testing.T, method, url, body string, headers ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, url, raw)
	}
	return res.StatusCode, out
}

func readDevJSON(t *testing.T, dir string) devFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f devFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestBinary_Dev builds dream, runs it in dev mode and uses it over HTTP as
// a developer would after `make run`.
func TestBinary_Dev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	p := startDev(t, bin, data)

	f := readDevJSON(t, data)
	if len(f.Projects) != 3 || f.Projects[0].Type != "saas" || f.Projects[1].Type != "store" || f.Projects[2].Type != "membership" {
		t.Fatalf("dev.json: %+v", f)
	}
	info, err := os.Stat(filepath.Join(data, "dev.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("dev.json holds secret keys and must be private: %v %v", info.Mode(), err)
	}
	for _, proj := range f.Projects {
		for _, key := range []string{proj.PublishableKey, proj.SecretKey} {
			if !strings.Contains(p.banner, key) {
				t.Errorf("banner does not print %s", key)
			}
		}
	}
	if !strings.Contains(p.banner, "baseUrl: '"+p.baseURL+"'") {
		t.Errorf("banner has no SDK snippet:\n%s", p.banner)
	}
	saas, shop, membership := f.Projects[0], f.Projects[1], f.Projects[2]

	if status, body := call(t, "GET", p.baseURL+"/health", ""); status != 200 || body["status"] != "ok" {
		t.Fatalf("health: %d %v", status, body)
	}
	status, body := call(t, "GET", p.baseURL+"/api/tiers", "", "X-Publishable-Key", saas.PublishableKey)
	tiers, _ := body["tiers"].([]any)
	if status != 200 || len(tiers) != 3 {
		t.Fatalf("saas tiers: %d %v", status, body)
	}
	want := []struct {
		id    string
		price float64
		limit any
	}{{"free", 0, 100.0}, {"pro", 2900, 10000.0}, {"enterprise", 9900, "unlimited"}}
	for i, w := range want {
		tier := tiers[i].(map[string]any)
		if tier["id"] != w.id || tier["price"] != w.price || tier["limit"] != w.limit {
			t.Errorf("tier %d: %v", i, tier)
		}
	}
	status, body = call(t, "GET", p.baseURL+"/api/products", "", "Authorization", "Bearer "+shop.SecretKey)
	products, _ := body["products"].([]any)
	if status != 200 || len(products) != 3 {
		t.Fatalf("store products: %d %v", status, body)
	}
	stock := []any{5.0, 0.0, nil}
	for i, s := range stock {
		if products[i].(map[string]any)["inventory"] != s {
			t.Errorf("product %d: %v", i, products[i])
		}
	}
	_, body = call(t, "GET", p.baseURL+"/api/tiers", "", "X-Publishable-Key", membership.PublishableKey)
	member := body["tiers"].([]any)[1].(map[string]any)
	if member["id"] != "member" || member["price"] != 900.0 || member["limit"] != "unlimited" || member["trialDays"] != 7.0 {
		t.Errorf("member tier: %v", member)
	}

	status, body = call(t, "POST", p.baseURL+"/dev/tokens", `{"publishableKey":"`+saas.PublishableKey+`","email":"ada@example.com"}`)
	if status != 200 {
		t.Fatalf("dev token: %d %v", status, body)
	}
	token, userID := body["token"].(string), body["userId"].(string)
	for i := 1; i <= 3; i++ {
		status, body = call(t, "POST", p.baseURL+"/api/data", "", "X-Publishable-Key", saas.PublishableKey, "X-Clerk-Token", token)
		if status != 200 || body["usage"].(map[string]any)["count"] != float64(i) {
			t.Fatalf("track %d: %d %v", i, status, body)
		}
	}
	status, body = call(t, "GET", p.baseURL+"/api/usage", "", "Authorization", "Bearer "+saas.SecretKey, "X-Clerk-Token", token)
	if status != 200 || body["usageCount"] != 3.0 || body["remaining"] != 97.0 || body["userId"] != userID {
		t.Fatalf("usage: %d %v", status, body)
	}
	p.stop(t)

	t.Run("RestartKeepsKeysAndData", func(t *testing.T) {
		p := startDev(t, bin, data)
		if again := readDevJSON(t, data); again.Projects[0].SecretKey != saas.SecretKey {
			t.Fatal("a restart changed the demo keys")
		}
		status, body := call(t, "GET", p.baseURL+"/api/usage", "", "X-Publishable-Key", saas.PublishableKey, "X-Clerk-Token", token)
		if status != 200 || body["usageCount"] != 3.0 {
			t.Fatalf("after restart: %d %v", status, body)
		}
		p.stop(t)
	})
	t.Run("LostDevJSONRotatesSecretKeys", func(t *testing.T) {
		if err := os.Remove(filepath.Join(data, "dev.json")); err != nil {
			t.Fatal(err)
		}
		p := startDev(t, bin, data)
		fresh := readDevJSON(t, data)
		if len(fresh.Projects) != 3 || fresh.Projects[0].PublishableKey != saas.PublishableKey || fresh.Projects[0].SecretKey == saas.SecretKey {
			t.Fatalf("dev.json after loss: %+v", fresh)
		}
		if status, _ := call(t, "GET", p.baseURL+"/api/tiers", "", "Authorization", "Bearer "+saas.SecretKey); status != 401 {
			t.Fatalf("the lost secret key still works: %d", status)
		}
		if status, _ := call(t, "GET", p.baseURL+"/api/tiers", "", "Authorization", "Bearer "+fresh.Projects[0].SecretKey); status != 200 {
			t.Fatalf("the new secret key fails: %d", status)
		}
		p.stop(t)
	})
}

// TestBinary_Serve checks that production mode refuses to start without the
// settings it needs, naming each, instead of falling back to dev behaviour.
func TestBinary_Serve(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("serve without configuration: %v\n%s", err, stderr.String())
	}
	for _, name := range []string{"DREAM_DB", "CLERK_SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("stderr does not name %s:\n%s", name, stderr.String())
		}
	}

	t.Run("Migrate", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "dream.db")
		out, err := exec.Command(bin, "migrate", "--db", db).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "applied 0001_initial.sql") {
			t.Fatalf("first migrate: %v\n%s", err, out)
		}
		out, err = exec.Command(bin, "migrate", "--db", db).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "up to date") {
			t.Fatalf("second migrate: %v\n%s", err, out)
		}
	})
	t.Run("StrictLimits", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "dream.db")
		if out, err := exec.Command(bin, "migrate", "--db", path).CombinedOutput(); err != nil {
			t.Fatalf("migrate: %v\n%s", err, out)
		}
		db, err := store.Open(path, false)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		p := primary.New(db, time.Now)
		defer p.Close()
		project := storetest.CreateProject(t, db, p, storetest.Platform(t, p), dream.ProjectSaaS, storetest.SaaSTiers())
		strict := func() bool {
			env, err := db.EnvironmentByPublishableKey(context.Background(), project.Test.PublishableKey)
			if err != nil {
				t.Fatal(err)
			}
			return env.Project.StrictLimits
		}
		for _, on := range []string{"true", "false"} {
			out, err := exec.Command(bin, "strict-limits", "--db", path, "--project", project.ID, "--strict", on).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "strict limits "+on) || strict() != (on == "true") {
				t.Fatalf("--strict %s: %v\n%s", on, err, out)
			}
		}
		out, err := exec.Command(bin, "strict-limits", "--db", path, "--project", "prj_missing", "--strict", "true").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "prj_missing not found") {
			t.Fatalf("an unknown project: %v\n%s", err, out)
		}
		out, err = exec.Command(bin, "strict-limits", "--db", path).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--project") || !strings.Contains(string(out), "--strict") {
			t.Fatalf("missing flags: %v\n%s", err, out)
		}
	})
	t.Run("UnknownCommand", func(t *testing.T) {
		err := exec.Command(bin, "launch").Run()
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Fatalf("got %v", err)
		}
	})
}

// browser follows no redirects, so a test sees where a page sends it.
var browser = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// submit posts an emulator form and returns the redirect's target.
func submit(t *testing.T, link string) string {
	t.Helper()
	res, err := browser.PostForm(link, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST %s: %d %s", link, res.StatusCode, body)
	}
	return res.Header.Get("Location")
}

func fetch(t *testing.T, link string) string {
	t.Helper()
	res, err := browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", link, res.StatusCode, body)
	}
	return string(body)
}

// TestBinary_DevPayments runs the whole offline payment flow of dev mode
// over HTTP: a SaaS upgrade from the free limit to pro and back, and a store
// order, all through the payments emulator and its signed webhooks.
func TestBinary_DevPayments(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	p := startDev(t, bin, data)
	defer p.stop(t)
	f := readDevJSON(t, data)
	saas, shop := f.Projects[0], f.Projects[1]

	t.Run("SaaS", func(t *testing.T) {
		_, body := call(t, "POST", p.baseURL+"/dev/tokens", `{"publishableKey":"`+saas.PublishableKey+`","email":"payer@example.com"}`)
		token := body["token"].(string)
		user := []string{"X-Publishable-Key", saas.PublishableKey, "X-Clerk-Token", token}
		track := func() (int, map[string]any) { return call(t, "POST", p.baseURL+"/api/data", "", user...) }
		for i := 1; i <= 100; i++ {
			if status, body := track(); status != 200 {
				t.Fatalf("track %d: %d %v", i, status, body)
			}
		}
		if status, body := track(); status != 403 || body["error"] != "Tier limit reached" {
			t.Fatalf("over the free limit: %d %v", status, body)
		}

		status, body := call(t, "POST", p.baseURL+"/api/create-checkout", `{"tier":"pro","successUrl":"/welcome"}`, append(user, "Origin", "http://localhost:5173")...)
		if status != 200 {
			t.Fatalf("checkout: %d %v", status, body)
		}
		if page := fetch(t, body["url"].(string)); !strings.Contains(page, "Pro") || !strings.Contains(page, "29.00") {
			t.Fatalf("checkout page:\n%s", page)
		}
		if location := submit(t, body["url"].(string)+"/pay"); location != "http://localhost:5173/welcome" {
			t.Fatalf("after paying, redirected to %q", location)
		}
		// The very next call, with the token from before paying.
		if status, body := track(); status != 200 || body["usage"].(map[string]any)["plan"] != "pro" || body["usage"].(map[string]any)["limit"] != 10000.0 {
			t.Fatalf("after upgrading: %d %v", status, body)
		}

		status, body = call(t, "POST", p.baseURL+"/api/customer-portal", `{"returnUrl":"http://localhost:5173/account"}`, user...)
		if status != 200 {
			t.Fatalf("portal: %d %v", status, body)
		}
		portal := body["url"].(string)
		cancel := regexp.MustCompile(`action="(/dev/portal/[^"]+/cancel)"`).FindStringSubmatch(fetch(t, portal))
		if cancel == nil {
			t.Fatal("the portal has no cancel form")
		}
		submit(t, p.baseURL+cancel[1])
		if page := fetch(t, portal); !strings.Contains(page, "canceling") {
			t.Fatalf("portal after cancel:\n%s", page)
		}
		if _, body := call(t, "GET", p.baseURL+"/api/usage", "", user...); body["plan"] != "pro" {
			t.Fatalf("canceling already ended the plan: %v", body)
		}

		status, body = call(t, "POST", p.baseURL+"/dev/clock/advance", `{"days":32}`)
		if status != 200 || !strings.Contains(fmt.Sprint(body["events"]), "customer.subscription.deleted") {
			t.Fatalf("clock: %d %v", status, body)
		}
		if status, body := track(); status != 403 || body["limit"] != 100.0 {
			t.Fatalf("after the subscription ended: %d %v", status, body)
		}
	})

	t.Run("Store", func(t *testing.T) {
		stock := func() float64 {
			_, body := call(t, "GET", p.baseURL+"/api/products", "", "X-Publishable-Key", shop.PublishableKey)
			return body["products"].([]any)[0].(map[string]any)["inventory"].(float64)
		}
		before := stock()
		_, body := call(t, "GET", p.baseURL+"/api/products", "", "X-Publishable-Key", shop.PublishableKey)
		price := body["products"].([]any)[0].(map[string]any)["priceId"].(string)
		status, body := call(t, "POST", p.baseURL+"/api/cart/checkout",
			`{"items":[{"priceId":"`+price+`","quantity":2}],"email":"buyer@example.com","successUrl":"http://localhost:5173/thanks"}`,
			"X-Publishable-Key", shop.PublishableKey)
		if status != 200 {
			t.Fatalf("cart: %d %v", status, body)
		}
		if location := submit(t, body["url"].(string)+"/pay"); location != "http://localhost:5173/thanks" {
			t.Fatalf("redirect to %q", location)
		}
		if after := stock(); after != before-2 {
			t.Fatalf("inventory %v after buying 2 of %v", after, before)
		}
		db, err := store.Open(filepath.Join(data, "dream.db"), true)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		env, err := db.EnvironmentByPublishableKey(context.Background(), shop.PublishableKey)
		if err != nil || env == nil {
			t.Fatal(err)
		}
		orders, err := db.Orders(context.Background(), env.ID)
		if err != nil || len(orders) != 1 || orders[0].Email != "buyer@example.com" || orders[0].Items[0].Quantity != 2 {
			t.Fatalf("orders: %+v, %v", orders, err)
		}
	})
}
