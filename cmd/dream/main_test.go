package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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
	"github.com/dream-api/dream/migrations"
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
		t.Fatalf("go build of dream failed with %v, want a binary; its output:\n%s", err, out)
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

// startDev starts `dream dev` on a free loopback port, with flags, and
// waits for the end of its banner.
func startDev(t *testing.T, bin, dataDir string, flags ...string) *devProcess {
	t.Helper()
	p := &devProcess{cmd: exec.Command(bin, append([]string{"dev", "--addr", "127.0.0.1:0", "--data", dataDir}, flags...)...)}
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
			t.Fatalf("dream dev printed no banner with a listening address, want one; its stderr:\n%s", p.stderr.String())
		}
		p.banner, p.baseURL = text, m[1]
	case <-time.After(30 * time.Second):
		t.Fatalf("dream dev printed no banner within 30 s, want it started; its stderr:\n%s", p.stderr.String())
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
			t.Fatalf("dream dev exited with %v after SIGTERM, want a clean exit; its stderr:\n%s", err, p.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("dream dev still ran 15 s after SIGTERM, want it stopped")
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
	if res.StatusCode == http.StatusNoContent {
		return res.StatusCode, nil
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("dream answered %s to %s %s, want a JSON object", raw, method, url)
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
		t.Fatalf("dev.json holds %+v, want three demo projects: saas, store and membership", f)
	}
	info, err := os.Stat(filepath.Join(data, "dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("dev.json has mode %v, want 0600: it holds secret keys", info.Mode())
	}
	for _, proj := range f.Projects {
		for _, key := range []string{proj.PublishableKey, proj.SecretKey} {
			if !strings.Contains(p.banner, key) {
				t.Errorf("the dev banner leaves out the key %s, want every demo project's keys printed", key)
			}
		}
	}
	if !strings.Contains(p.banner, "baseUrl: '"+p.baseURL+"'") {
		t.Errorf("the dev banner has no SDK snippet with baseUrl %s, want one; the banner:\n%s", p.baseURL, p.banner)
	}
	saas, shop, membership := f.Projects[0], f.Projects[1], f.Projects[2]
	if f.Developer.Email != "demo@localhost" || !strings.Contains(p.banner, f.Developer.Password) {
		t.Fatalf("dev.json holds developer %+v, want demo@localhost with a password the banner prints", f.Developer)
	}
	signIn := func(t *testing.T, baseURL string, d devDeveloper) int {
		t.Helper()
		status, _ := call(t, "POST", baseURL+"/v1/session", fmt.Sprintf(`{"email":%q,"password":%q}`, d.Email, d.Password))
		return status
	}
	if status := signIn(t, p.baseURL, f.Developer); status != 200 {
		t.Fatalf("signing in as the demo developer answered %d, want 200", status)
	}

	if status, body := call(t, "GET", p.baseURL+"/health", ""); status != 200 || body["status"] != "ok" {
		t.Fatalf("dream dev answered %d %v to /health, want 200 with status ok", status, body)
	}
	status, body := call(t, "GET", p.baseURL+"/api/tiers", "", "X-Publishable-Key", saas.PublishableKey)
	tiers, _ := body["tiers"].([]any)
	if status != 200 || len(tiers) != 3 {
		t.Fatalf("dream dev answered %d %v to /api/tiers of the saas project, want 200 with 3 tiers", status, body)
	}
	want := []struct {
		id    string
		price float64
		limit any
	}{{"free", 0, 100.0}, {"pro", 2900, 10000.0}, {"enterprise", 9900, "unlimited"}}
	for i, w := range want {
		tier := tiers[i].(map[string]any)
		if tier["id"] != w.id || tier["price"] != w.price || tier["limit"] != w.limit {
			t.Errorf("saas tier %d is %v, want %s at %v cents with limit %v", i, tier, w.id, w.price, w.limit)
		}
	}
	status, body = call(t, "GET", p.baseURL+"/api/products", "", "Authorization", "Bearer "+shop.SecretKey)
	products, _ := body["products"].([]any)
	if status != 200 || len(products) != 3 {
		t.Fatalf("dream dev answered %d %v to /api/products of the store project, want 200 with 3 products", status, body)
	}
	stock := []any{5.0, 0.0, nil}
	for i, s := range stock {
		if products[i].(map[string]any)["inventory"] != s {
			t.Errorf("store product %d is %v, want inventory %v", i, products[i], s)
		}
	}
	_, body = call(t, "GET", p.baseURL+"/api/tiers", "", "X-Publishable-Key", membership.PublishableKey)
	member := body["tiers"].([]any)[1].(map[string]any)
	if member["id"] != "member" || member["price"] != 900.0 || member["limit"] != "unlimited" || member["trialDays"] != 7.0 {
		t.Errorf("the membership project's second tier is %v, "+
			"want member at 900 cents, unlimited, with a 7-day trial", member)
	}

	status, body = call(t, "POST", p.baseURL+"/dev/tokens", `{"publishableKey":"`+saas.PublishableKey+`","email":"ada@example.com"}`)
	if status != 200 {
		t.Fatalf("dream dev answered %d %v to /dev/tokens, want 200 with an end user's token", status, body)
	}
	token, userID := body["token"].(string), body["userId"].(string)
	for i := 1; i <= 3; i++ {
		status, body = call(t, "POST", p.baseURL+"/api/data", "", "X-Publishable-Key", saas.PublishableKey, "X-Clerk-Token", token)
		if status != 200 || body["usage"].(map[string]any)["count"] != float64(i) {
			t.Fatalf("usage unit %d: dream dev answered %d %v to /api/data, want 200 with count %d", i, status, body, i)
		}
	}
	status, body = call(t, "GET", p.baseURL+"/api/usage", "", "Authorization", "Bearer "+saas.SecretKey, "X-Clerk-Token", token)
	if status != 200 || body["usageCount"] != 3.0 || body["remaining"] != 97.0 || body["userId"] != userID {
		t.Fatalf("dream dev answered %d %v to /api/usage, "+
			"want 200 with 3 units used and 97 remaining for end user %s", status, body, userID)
	}
	p.stop(t)

	t.Run("RestartKeepsKeysAndData", func(t *testing.T) {
		p := startDev(t, bin, data)
		if again := readDevJSON(t, data); again.Projects[0].SecretKey != saas.SecretKey || again.Developer != f.Developer {
			t.Fatal("after a restart dev.json holds a new saas secret key or password, want the demo's kept")
		}
		status, body := call(t, "GET", p.baseURL+"/api/usage", "", "X-Publishable-Key", saas.PublishableKey, "X-Clerk-Token", token)
		if status != 200 || body["usageCount"] != 3.0 {
			t.Fatalf("after a restart dream dev answered %d %v to /api/usage, want 200 with the 3 units kept", status, body)
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
			t.Fatalf("dev.json rewritten after its loss holds %+v, want the three projects "+
				"with their publishable keys and a new saas secret key", fresh)
		}
		if status, _ := call(t, "GET", p.baseURL+"/api/tiers", "", "Authorization", "Bearer "+saas.SecretKey); status != 401 {
			t.Fatalf("the saas secret key of the lost dev.json got %d from /api/tiers, want 401", status)
		}
		if status, _ := call(t, "GET", p.baseURL+"/api/tiers", "", "Authorization", "Bearer "+fresh.Projects[0].SecretKey); status != 200 {
			t.Fatalf("the new saas secret key got %d from /api/tiers, want 200", status)
		}
		if signIn(t, p.baseURL, f.Developer) != 401 || signIn(t, p.baseURL, fresh.Developer) != 200 {
			t.Fatalf("after dev.json was lost, want the old demo password refused and the new one %+v accepted", fresh.Developer)
		}
		p.stop(t)
	})
}

// TestBinary_Serve checks that production mode refuses to start without the
// settings it needs, naming each, instead of falling back to dev behaviour.
// TestBinary_SlowClients: a client that never finishes its headers loses
// the connection after --read-header-timeout, and one that is idle after
// its answer after --idle-timeout.
func TestBinary_SlowClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p := startDev(t, buildBinary(t), t.TempDir(), "--read-header-timeout", "1s", "--idle-timeout", "1s")
	host := strings.TrimPrefix(p.baseURL, "http://")
	for _, tt := range []struct{ name, sent string }{
		{"HeadersNeverEnd", "GET /health HTTP/1.1\r\nHost: " + host + "\r\n"},
		{"IdleAfterAnAnswer", "GET /health HTTP/1.1\r\nHost: " + host + "\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tt.sent); err != nil {
				t.Fatal(err)
			}
			// The server closes the connection long before this deadline;
			// reaching it means it kept the connection open.
			conn.SetReadDeadline(time.Now().Add(8 * time.Second))
			answer, err := io.ReadAll(conn)
			if err != nil {
				t.Fatalf("the connection was still open after 8 s (%v), want it closed by the timeout; read %q", err, answer)
			}
		})
	}
}

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
		t.Fatalf("serve without configuration ended with %v, want exit status 1; its stderr:\n%s", err, stderr.String())
	}
	for _, name := range []string{"DREAM_DB", "CLERK_SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("serve without configuration did not name the missing %s; its stderr:\n%s", name, stderr.String())
		}
	}

	t.Run("Migrate", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "dream.db")
		out, err := exec.Command(bin, "migrate", "--db", db).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "applied 0001_initial.sql") {
			t.Fatalf("the first migrate of a new database ended with %v, "+
				"want it to report applied 0001_initial.sql; its output:\n%s", err, out)
		}
		out, err = exec.Command(bin, "migrate", "--db", db).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "up to date") {
			t.Fatalf("the second migrate of the database ended with %v, "+
				"want it to report up to date; its output:\n%s", err, out)
		}
	})
	t.Run("StrictLimits", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "dream.db")
		db, project := migrateWithProject(t, bin, path)
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
				t.Fatalf("strict-limits --strict %s ended with %v, want the project's strict limits "+
					"set and reported as %s; its output:\n%s", on, err, on, out)
			}
		}
		out, err := exec.Command(bin, "strict-limits", "--db", path, "--project", "prj_missing", "--strict", "true").CombinedOutput()
		if err == nil || !strings.Contains(string(out), `no project "prj_missing"`) {
			t.Fatalf("strict-limits for an unknown project ended with %v, "+
				"want an error saying prj_missing not found; its output:\n%s", err, out)
		}
		out, err = exec.Command(bin, "strict-limits", "--db", path).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--project") || !strings.Contains(string(out), "--strict") {
			t.Fatalf("strict-limits without flags ended with %v, "+
				"want an error naming --project and --strict; its output:\n%s", err, out)
		}
	})
	t.Run("BackupAndRestore", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "dream.db")
		db, project := migrateWithProject(t, bin, path)
		last, err := db.LastChange(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		all, err := migrations.Schema.All()
		if err != nil {
			t.Fatal(err)
		}
		schema := all[len(all)-1].Name

		backup := filepath.Join(dir, "backups", "dream-1.db")
		os.Mkdir(filepath.Dir(backup), 0o700)
		out, err := exec.Command(bin, "backup", "--db", path, "--out", backup).Output()
		if err != nil || !strings.Contains(string(out), "written to "+backup) || !strings.Contains(string(out), "schema:      "+schema) ||
			!strings.Contains(string(out), fmt.Sprintf("change log:  up to entry %d\n", last)) {
			t.Fatalf("dream backup ended with %v, want it to say where it wrote the backup, its schema %s and change log entry %d; its output:\n%s",
				err, schema, last, out)
		}
		out, err = exec.Command(bin, "backup", "--db", path, "--out", backup).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--force") {
			t.Fatalf("a second backup to the same file ended with %v, want it refused, naming --force; its output:\n%s", err, out)
		}
		if out, err := exec.Command(bin, "backup", "--db", path, "--out", backup, "--force").CombinedOutput(); err != nil {
			t.Fatalf("a backup with --force over the last one ended with %v, want it replaced; its output:\n%s", err, out)
		}

		restored := filepath.Join(dir, "node", "dream.db")
		out, err = exec.Command(bin, "restore", "--from", backup, "--db", restored).Output()
		if err != nil || !strings.Contains(string(out), "restored "+backup) || !strings.Contains(string(out), fmt.Sprintf("up to entry %d\n", last)) {
			t.Fatalf("dream restore ended with %v, want it to say what it restored up to change log entry %d; its output:\n%s", err, last, out)
		}
		out, err = exec.Command(bin, "restore", "--from", backup, "--db", restored).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--force") {
			t.Fatalf("a restore over the restored database ended with %v, want it refused, naming --force; its output:\n%s", err, out)
		}
		rdb, err := store.Open(restored, true)
		if err != nil {
			t.Fatal(err)
		}
		defer rdb.Close()
		if env, err := rdb.EnvironmentByPublishableKey(context.Background(), project.Test.PublishableKey); err != nil || env == nil {
			t.Fatalf("the restored database found %v (error %v) for the project's test key, want its environment", env, err)
		}

		mount := filepath.Join(dir, "litefs")
		os.Mkdir(mount, 0o700)
		os.WriteFile(filepath.Join(mount, ".lag"), []byte("0"), 0o600)
		out, err = exec.Command(bin, "restore", "--from", backup, "--db", filepath.Join(mount, "dream.db")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "litefs import -name dream.db") {
			t.Fatalf("a restore onto a LiteFS mount ended with %v, want it refused, pointing at litefs import; its output:\n%s", err, out)
		}
	})
	t.Run("UnknownCommand", func(t *testing.T) {
		err := exec.Command(bin, "launch").Run()
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Fatalf("dream launch ended with %v, want exit status 2 for an unknown command", err)
		}
	})
}

// migrateWithProject migrates a new database at path with dream migrate
// and creates a SaaS project in it; the database is closed when the test
// ends.
func migrateWithProject(t *testing.T, bin, path string) (*store.DB, storetest.Project) {
	t.Helper()
	if out, err := exec.Command(bin, "migrate", "--db", path).CombinedOutput(); err != nil {
		t.Fatalf("migrate of a new database failed with %v, want success; its output:\n%s", err, out)
	}
	db, err := store.Open(path, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := primary.New(db, time.Now, nil)
	t.Cleanup(func() { p.Close() })
	return db, storetest.CreateProject(t, db, p, storetest.Platform(t, p), dream.ProjectSaaS, storetest.SaaSTiers())
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
		t.Fatalf("POST %s answered %d %s, want 303 See Other", link, res.StatusCode, body)
	}
	return res.Header.Get("Location")
}

func fetch(t *testing.T, link string) string {
	t.Helper()
	status, body := get(t, link)
	if status != http.StatusOK {
		t.Fatalf("GET %s answered %d %s, want 200", link, status, body)
	}
	return body
}

// get answers a GET of link, without following redirects, with its status
// and body.
func get(t *testing.T, link string) (int, string) {
	t.Helper()
	res, err := browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
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
				t.Fatalf("usage unit %d of the free plan's 100: dream dev answered %d %v to /api/data, want 200",
					i, status, body)
			}
		}
		if status, body := track(); status != 403 || body["error"] != "Tier limit reached" {
			t.Fatalf("usage unit 101 on the free plan: dream dev answered %d %v, want 403 Tier limit reached", status, body)
		}

		status, body := call(t, "POST", p.baseURL+"/api/create-checkout", `{"tier":"pro","successUrl":"/welcome"}`, append(user, "Origin", "http://localhost:5173")...)
		if status != 200 {
			t.Fatalf("dream dev answered %d %v to /api/create-checkout for pro, want 200 with a checkout URL", status, body)
		}
		if page := fetch(t, body["url"].(string)); !strings.Contains(page, "Pro") || !strings.Contains(page, "29.00") {
			t.Fatalf("the checkout page does not show Pro at 29.00, want it to; the page:\n%s", page)
		}
		if location := submit(t, body["url"].(string)+"/pay"); location != "http://localhost:5173/welcome" {
			t.Fatalf("after paying, the checkout redirected to %q, want http://localhost:5173/welcome", location)
		}
		// The very next call, with the token from before paying.
		if status, body := track(); status != 200 || body["usage"].(map[string]any)["plan"] != "pro" || body["usage"].(map[string]any)["limit"] != 10000.0 {
			t.Fatalf("after upgrading to pro: dream dev answered %d %v to /api/data, "+
				"want 200 on plan pro with limit 10000", status, body)
		}

		status, body = call(t, "POST", p.baseURL+"/api/customer-portal", `{"returnUrl":"http://localhost:5173/account"}`, user...)
		if status != 200 {
			t.Fatalf("dream dev answered %d %v to /api/customer-portal, want 200 with a portal URL", status, body)
		}
		portal := body["url"].(string)
		cancel := regexp.MustCompile(`action="(/dev/portal/[^"]+/cancel)"`).FindStringSubmatch(fetch(t, portal))
		if cancel == nil {
			t.Fatal("the customer portal page has no cancel form, want one for the pro subscription")
		}
		submit(t, p.baseURL+cancel[1])
		if page := fetch(t, portal); !strings.Contains(page, "canceling") {
			t.Fatalf("after cancel the customer portal does not say canceling, want it to; the page:\n%s", page)
		}
		if _, body := call(t, "GET", p.baseURL+"/api/usage", "", user...); body["plan"] != "pro" {
			t.Fatalf("right after canceling /api/usage reports %v, want plan pro until the period ends", body)
		}

		status, body = call(t, "POST", p.baseURL+"/dev/clock/advance", `{"days":32}`)
		if status != 200 || !strings.Contains(fmt.Sprint(body["events"]), "customer.subscription.deleted") {
			t.Fatalf("advancing the dev clock 32 days answered %d %v, "+
				"want 200 with a customer.subscription.deleted event", status, body)
		}
		if status, body := track(); status != 403 || body["limit"] != 100.0 {
			t.Fatalf("after the pro subscription ended: dream dev answered %d %v to /api/data, "+
				"want 403 at the free limit of 100", status, body)
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
			t.Fatalf("dream dev answered %d %v to /api/cart/checkout, want 200 with a checkout URL", status, body)
		}
		if location := submit(t, body["url"].(string)+"/pay"); location != "http://localhost:5173/thanks" {
			t.Fatalf("after paying for the cart, the checkout redirected to %q, want http://localhost:5173/thanks", location)
		}
		if after := stock(); after != before-2 {
			t.Fatalf("the first product's inventory is %v after buying 2 of %v, want %v", after, before, before-2)
		}
		db, err := store.Open(filepath.Join(data, "dream.db"), true)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		env, err := db.EnvironmentByPublishableKey(context.Background(), shop.PublishableKey)
		if err != nil || env == nil {
			t.Fatalf("the store project's publishable key found environment %+v (error %v), want its environment", env, err)
		}
		orders, err := db.Orders(context.Background(), env.ID)
		if err != nil || len(orders) != 1 || orders[0].Email != "buyer@example.com" || orders[0].Items[0].Quantity != 2 {
			t.Fatalf("the store project's orders are %+v (error %v), want one order of 2 for buyer@example.com", orders, err)
		}
	})
}

// TestBinary_DeveloperJourney drives a developer's whole way over HTTP
// against the binary in dev mode: sign up, a SaaS project and its keys,
// Connect through the emulator, tiers, an end user who tracks and
// upgrades, a key rotated with overlap, promotion refused and then made,
// and deletion.
func TestBinary_DeveloperJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	p := startDev(t, bin, data)
	defer p.stop(t)
	redirect := func(method, path, form string, headers ...string) string {
		t.Helper()
		return p.redirect(t, method, path, form, headers...)
	}

	status, body := call(t, "POST", p.baseURL+"/v1/accounts", `{"email":"jo@example.com","password":"correct horse battery"}`)
	if status != 201 {
		t.Fatalf("signing up answered %d %v, want 201", status, body)
	}
	platformID, auth := body["platformId"].(string), "Bearer "+body["token"].(string)
	status, body = call(t, "POST", p.baseURL+"/v1/projects", `{"name":"Jo's app","type":"saas"}`, "Authorization", auth)
	if status != 201 {
		t.Fatalf("creating a project answered %d %v, want 201", status, body)
	}
	id := body["id"].(string)
	keys := body["environments"].(map[string]any)["test"].(map[string]any)
	pk, sk := keys["publishableKey"].(string), keys["secretKey"].(string)

	connect := func(mode string) { t.Helper(); p.connect(t, auth, mode) }
	connect("test")
	for _, tier := range []string{`{"name":"free","displayName":"Free","price":0,"limit":3}`, `{"name":"pro","displayName":"Pro","price":2900,"limit":1000}`} {
		if status, body := call(t, "POST", p.baseURL+"/v1/projects/"+id+"/environments/test/tiers", tier, "Authorization", auth); status != 201 {
			t.Fatalf("adding tier %s answered %d %v, want 201", tier, status, body)
		}
	}

	// An end user runs into the free limit and upgrades through the emulator.
	_, body = call(t, "POST", p.baseURL+"/dev/tokens", `{"publishableKey":"`+pk+`","email":"user@example.com"}`)
	token := body["token"].(string)
	for i := 1; i <= 4; i++ {
		status, _ := call(t, "POST", p.baseURL+"/api/data", "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
		if want := map[bool]int{true: 200, false: 403}[i <= 3]; status != want {
			t.Fatalf("track %d on the free tier answered %d, want %d", i, status, want)
		}
	}
	status, body = call(t, "POST", p.baseURL+"/api/create-checkout", `{"tier":"pro"}`, "X-Publishable-Key", pk, "X-Clerk-Token", token)
	if status != 200 {
		t.Fatalf("the upgrade checkout answered %d %v, want 200", status, body)
	}
	redirect("POST", pathOf(t, body["url"].(string))+"/pay", "")
	if status, body := call(t, "POST", p.baseURL+"/api/data", "", "X-Publishable-Key", pk, "X-Clerk-Token", token); status != 200 ||
		body["usage"].(map[string]any)["plan"] != "pro" {
		t.Fatalf("after paying, a track answered %d %v, want 200 on pro", status, body)
	}

	// Rotation with a two-second overlap.
	status, body = call(t, "POST", p.baseURL+"/v1/projects/"+id+"/environments/test/rotate", `{"overlapSeconds":2}`, "Authorization", auth)
	if status != 200 {
		t.Fatalf("rotating answered %d %v, want 200", status, body)
	}
	fresh := body["secretKey"].(string)
	if status, _ := call(t, "GET", p.baseURL+"/api/tiers", "", "Authorization", "Bearer "+sk); status != 200 {
		t.Fatalf("the old key during the overlap answered %d, want 200", status)
	}
	time.Sleep(2100 * time.Millisecond)
	if status, _ := call(t, "GET", p.baseURL+"/api/tiers", "", "Authorization", "Bearer "+sk); status != 401 {
		t.Fatalf("the old key after the overlap answered %d, want 401", status)
	}
	if status, _ := call(t, "GET", p.baseURL+"/api/tiers", "", "Authorization", "Bearer "+fresh); status != 200 {
		t.Fatalf("the new key answered %d, want 200", status)
	}

	// Promotion: refused without a platform subscription, made with one.
	if status, body := call(t, "POST", p.baseURL+"/v1/projects/"+id+"/promote", "", "Authorization", auth); status != 403 ||
		body["error"] != "platform_subscription_required" {
		t.Fatalf("promoting without a subscription answered %d %v, want 403 platform_subscription_required", status, body)
	}
	db, err := store.Open(filepath.Join(data, "dream.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.SetPlatformSubscription(t, db, platformID, dream.StatusTrialing, time.Time{})
	connect("live")
	status, body = call(t, "POST", p.baseURL+"/v1/projects/"+id+"/promote", "", "Authorization", auth)
	if status != 200 {
		t.Fatalf("promoting with a subscription answered %d %v, want 200", status, body)
	}
	live := body["environments"].(map[string]any)["live"].(map[string]any)
	status, body = call(t, "GET", p.baseURL+"/api/tiers", "", "Authorization", "Bearer "+live["secretKey"].(string))
	if status != 200 || len(body["tiers"].([]any)) != 2 {
		t.Fatalf("the live key read the tiers as %d %v, want the two tiers", status, body)
	}

	// Deletion ends every key.
	if status, body := call(t, "DELETE", p.baseURL+"/v1/projects/"+id, `{"confirm":"Jo's app"}`, "Authorization", auth); status != 204 {
		t.Fatalf("deleting answered %d %v, want 204", status, body)
	}
	for _, key := range []string{fresh, live["secretKey"].(string)} {
		if status, _ := call(t, "GET", p.baseURL+"/api/tiers", "", "Authorization", "Bearer "+key); status != 401 {
			t.Fatalf("a key of the deleted project answered %d, want 401", status)
		}
	}
}

// redirect sends a request to the server whose answer is a redirect, and
// returns where to.
func (p *devProcess) redirect(t *testing.T, method, path, form string, headers ...string) string {
	t.Helper()
	req, _ := http.NewRequest(method, p.baseURL+path, strings.NewReader(form))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 3 {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("%s %s answered %d %s, want a redirect", method, path, res.StatusCode, body)
	}
	return res.Header.Get("Location")
}

// pathOf is the path and query of an absolute URL.
func pathOf(t *testing.T, location string) string {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// connect connects the developer's account of mode through the emulator's
// Connect page, as their browser would.
func (p *devProcess) connect(t *testing.T, auth, mode string) {
	t.Helper()
	page := p.redirect(t, "GET", "/v1/connect/"+mode+"/authorize", "", "Authorization", auth)
	u, _ := url.Parse(page)
	back := p.redirect(t, "POST", "/dev/connect/authorize", url.Values{"mode": {mode}, "state": {u.Query().Get("state")}, "decision": {"allow"}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded")
	if done := p.redirect(t, "GET", pathOf(t, back), ""); done != "/dashboard?mode="+mode+"&stripe=connected" {
		t.Fatalf("the Connect callback sent the browser to %s, want the dashboard told %s mode connected", done, mode)
	}
}

// TestBinary_PlatformLifecycle watches a developer's platform subscription
// in dev mode through the emulator and its clock: trial, active,
// canceled, grace, blocked and deleted, with a live key's answer at each
// step, and checks the purge deleted exactly that developer's rows.
func TestBinary_PlatformLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	p := startDev(t, bin, data)
	defer p.stop(t)
	db, err := store.Open(filepath.Join(data, "dream.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The demo developer's data, which nothing here may touch.
	demo := readDevJSON(t, data)
	demoEnv, err := db.EnvironmentByPublishableKey(context.Background(), demo.Projects[0].PublishableKey)
	if err != nil {
		t.Fatal(err)
	}
	demoRows := func() string { return storetest.PlatformRows(t, db, demoEnv.Project.PlatformID) }

	status, body := call(t, "POST", p.baseURL+"/v1/accounts", `{"email":"lapse@example.com","password":"correct horse battery"}`)
	if status != 201 {
		t.Fatalf("signing up answered %d %v", status, body)
	}
	platformID, auth := body["platformId"].(string), "Bearer "+body["token"].(string)
	_, body = call(t, "POST", p.baseURL+"/v1/projects", `{"name":"Lapsing","type":"saas"}`, "Authorization", auth)
	id := body["id"].(string)
	p.connect(t, auth, "test")
	p.connect(t, auth, "live")
	call(t, "POST", p.baseURL+"/v1/projects/"+id+"/environments/test/tiers", `{"name":"free","displayName":"Free","price":0,"limit":10}`, "Authorization", auth)

	billing := func() map[string]any {
		t.Helper()
		_, body := call(t, "GET", p.baseURL+"/v1/billing", "", "Authorization", auth)
		return body
	}
	// Subscribe: the emulator's checkout of the plan, with the trial.
	_, body = call(t, "POST", p.baseURL+"/v1/billing/checkout", "", "Authorization", auth)
	page := body["url"].(string)
	if html := fetch(t, page); !strings.Contains(html, "19.00") || !strings.Contains(html, "Free for 14 days") {
		t.Fatalf("the plan's checkout page does not show $19 after a 14-day trial:\n%s", html)
	}
	submit(t, page+"/pay")
	if b := billing(); b["status"] != "trialing" {
		t.Fatalf("after paying the billing reads %v, want trialing", b)
	}
	status, body = call(t, "POST", p.baseURL+"/v1/projects/"+id+"/promote", "", "Authorization", auth)
	if status != 200 {
		t.Fatalf("promoting during the trial answered %d %v, want 200", status, body)
	}
	liveKey := body["environments"].(map[string]any)["live"].(map[string]any)["secretKey"].(string)
	liveAnswer := func() (int, any) {
		t.Helper()
		status, body := call(t, "GET", p.baseURL+"/api/tiers", "", "Authorization", "Bearer "+liveKey)
		return status, body["error"]
	}
	before := demoRows()
	advance := func(days int) {
		t.Helper()
		if status, body := call(t, "POST", p.baseURL+"/dev/clock/advance", fmt.Sprintf(`{"days":%d}`, days)); status != 200 {
			t.Fatalf("advancing the clock %d days answered %d %v", days, status, body)
		}
	}
	step := func(name, wantStatus string, wantLive int) {
		t.Helper()
		if b := billing(); b["status"] != wantStatus {
			t.Fatalf("%s: the billing reads %v, want %s", name, b, wantStatus)
		}
		if status, code := liveAnswer(); status != wantLive {
			t.Fatalf("%s: the live key answered %d %v, want %d", name, status, code, wantLive)
		}
	}
	step("trial", "trialing", 200)

	advance(15)
	step("after the trial", "active", 200)
	meter := fetch(t, p.baseURL+"/dev/meter-events")
	if !strings.Contains(meter, platformID+"-") {
		t.Fatalf("after 15 days the meter events page shows no report of %s:\n%s", platformID, meter)
	}

	// Cancel now in the portal: the grace period begins.
	_, body = call(t, "POST", p.baseURL+"/v1/billing/portal", "", "Authorization", auth)
	portal := body["url"].(string)
	html := fetch(t, portal)
	cancel := regexp.MustCompile(`action="(/dev/portal/[^"]+/cancel-now)"`).FindStringSubmatch(html)
	if cancel == nil {
		t.Fatalf("the portal page has no cancel-now form:\n%s", html)
	}
	submit(t, p.baseURL+cancel[1])
	step("canceled, in grace", "canceled", 200)

	advance(8)
	step("grace over", "canceled", 403)
	if _, code := liveAnswer(); code != "subscription_expired" {
		t.Fatalf("after the grace period the live key answered %v, want subscription_expired", code)
	}
	if n := storetest.Count(t, db, `SELECT count(*) FROM projects WHERE platform_id = ?`, platformID); n != 1 {
		t.Fatalf("before the retention period ended %d projects remain, want the developer's 1", n)
	}

	advance(23)
	if n := storetest.Count(t, db, `SELECT count(*) FROM projects WHERE platform_id = ?`, platformID); n != 0 {
		t.Fatalf("31 days after the subscription ended %d projects remain, want them deleted", n)
	}
	// The purge reaches the node's caches as its change watcher next looks.
	deadline := time.Now().Add(5 * time.Second)
	for status, _ := liveAnswer(); status != 401; status, _ = liveAnswer() {
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the purge the live key answered %d, want 401: its project is gone", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b := billing(); b["status"] != "canceled" {
		t.Fatalf("after the purge the billing reads %v, want the platform kept as canceled", b)
	}
	if after := demoRows(); after != before {
		t.Fatalf("the purge changed another developer's rows:\nbefore %s\nafter  %s", before, after)
	}
}
