// Package cluster tests Dream API on a real LiteFS cluster: one primary and
// two replicas on loopback with a static lease, each running `dream serve`
// under `litefs mount` with a config generated from the shipped litefs.yml.
// Identity is a local JWKS server and payments are signed fixtures, so no
// account with anyone is needed. It needs root, FUSE (/dev/fuse and
// fusermount3) and the litefs binary; without them it skips, except under
// CI=true, where it fails.
package cluster_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"gopkg.in/yaml.v3"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/billing"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

const (
	clusterSecret = "cluster-secret-for-tests"
	webhookSecret = "whsec_cluster_test"
	account       = "acct_cluster"
)

// requirements skips, or under CI fails, when the machine cannot run LiteFS.
func requirements(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the LiteFS cluster test cannot run: %s (make test installs fuse3 and litefs)", why)
		}
		t.Skipf("skipping the LiteFS cluster test: %s", why)
	}
	if os.Geteuid() != 0 {
		missing("FUSE mounts need root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		missing("/dev/fuse is missing")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		missing("fusermount3 is missing (Debian package fuse3)")
	}
	if path, err := exec.LookPath("litefs"); err == nil {
		return path
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	path := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "litefs")
	if _, err := os.Stat(path); err != nil {
		missing("the litefs binary is missing (go install github.com/superfly/litefs/cmd/litefs@v0.5.14)")
	}
	return path
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// node is one LiteFS node running dream.
type node struct {
	name      string
	dir       string
	config    string
	dreamPort int
	env       []string
	litefs    string
	log       *os.File
	cmd       *exec.Cmd
}

func (n *node) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", n.dreamPort, path)
}
func (n *node) db() string { return filepath.Join(n.dir, "mnt", "dream.db") }

// start mounts LiteFS, which runs dream once the node is in the cluster.
func (n *node) start(t *testing.T) {
	t.Helper()
	n.cmd = exec.Command(n.litefs, "mount", "-config", n.config)
	n.cmd.Env = n.env
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// stop stops LiteFS and dream with it, as a deploy or a crash of the
// machine would.
func (n *node) stop(t *testing.T) {
	t.Helper()
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	n.cmd = nil
	// A mount left behind by a killed LiteFS would stop the next one.
	exec.Command("fusermount3", "-uz", filepath.Join(n.dir, "mnt")).Run()
}

// cluster is three nodes, the first the static primary, with a local
// identity provider.
type cluster struct {
	t       *testing.T
	nodes   []*node
	signer  jose.Signer
	project storetest.Project
}

// newCluster generates each node's litefs.yml from the shipped one: the
// same keys, with the lease made static and paths and ports local.
func newCluster(t *testing.T) *cluster {
	litefs := requirements(t)
	root := t.TempDir()
	bin := filepath.Join(root, "dream")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/dream").CombinedOutput(); err != nil {
		t.Fatalf("building dream: %v\n%s", err, out)
	}
	shipped, err := os.ReadFile("../../litefs.yml")
	if err != nil {
		t.Fatal(err)
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "cluster-test", Algorithm: "RS256", Use: "sig"}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	}))
	t.Cleanup(jwks.Close)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "cluster-test"))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, signer: signer}

	litefsPorts := []int{freePort(t), freePort(t), freePort(t)}
	dreamPorts := []int{freePort(t), freePort(t), freePort(t)}
	for i, name := range []string{"primary", "replica-1", "replica-2"} {
		dir := filepath.Join(root, name)
		for _, sub := range []string{"mnt", "data"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		var config map[string]any
		if err := yaml.Unmarshal(shipped, &config); err != nil {
			t.Fatalf("the shipped litefs.yml: %v", err)
		}
		set := func(section, key string, value any) {
			m, ok := config[section].(map[string]any)
			if !ok {
				t.Fatalf("the shipped litefs.yml has no %s section", section)
			}
			m[key] = value
		}
		set("fuse", "dir", filepath.Join(dir, "mnt"))
		set("data", "dir", filepath.Join(dir, "data"))
		set("http", "addr", fmt.Sprintf("127.0.0.1:%d", litefsPorts[i]))
		// A static lease names the primary for everyone; its hostname
		// carries dream's port, since all nodes share one host here.
		config["lease"] = map[string]any{
			"type":          "static",
			"hostname":      fmt.Sprintf("127.0.0.1:%d", dreamPorts[0]),
			"advertise-url": fmt.Sprintf("http://127.0.0.1:%d", litefsPorts[0]),
			"candidate":     i == 0,
		}
		config["exec"] = []map[string]any{{"cmd": bin + " serve"}}
		// A test wants a failed start to end the process, not to wait.
		config["exit-on-error"] = true
		out, err := yaml.Marshal(config)
		if err != nil {
			t.Fatal(err)
		}
		configPath := filepath.Join(dir, "litefs.yml")
		if err := os.WriteFile(configPath, out, 0o644); err != nil {
			t.Fatal(err)
		}
		log, err := os.Create(filepath.Join(dir, "log"))
		if err != nil {
			t.Fatal(err)
		}
		n := &node{name: name, dir: dir, config: configPath, dreamPort: dreamPorts[i], litefs: litefs, log: log,
			env: append(os.Environ(),
				"DREAM_DB="+filepath.Join(dir, "mnt", "dream.db"),
				fmt.Sprintf("DREAM_ADDR=127.0.0.1:%d", dreamPorts[i]),
				"DREAM_CLUSTER_SECRET="+clusterSecret,
				"DREAM_RATE_LIMIT_PER_MINUTE=0",
				"CLERK_SECRET_KEY=sk_test_cluster",
				"CLERK_API_URL="+jwks.URL+"/v1",
				"STRIPE_SECRET_KEY=sk_test_cluster",
				"STRIPE_WEBHOOK_SECRET="+webhookSecret,
				"STRIPE_API_URL=http://127.0.0.1:1",
			)}
		c.nodes = append(c.nodes, n)
	}
	t.Cleanup(func() {
		for i := len(c.nodes) - 1; i >= 0; i-- {
			c.nodes[i].stop(t)
			c.nodes[i].log.Close()
		}
		if t.Failed() {
			for _, n := range c.nodes {
				b, _ := os.ReadFile(n.log.Name())
				t.Logf("---- %s log ----\n%s", n.name, lastLines(string(b), 60))
			}
		}
	})
	return c
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// eventually retries check until it passes or the bound runs out.
func eventually(t *testing.T, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: still failing after %s: %v", what, within, err)
}

// ready waits for a node's /readyz.
func (c *cluster) ready(n *node) {
	c.t.Helper()
	eventually(c.t, 60*time.Second, n.name+" ready", func() error {
		res, err := http.Get(n.url("/readyz"))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			b, _ := io.ReadAll(res.Body)
			return fmt.Errorf("%d %s", res.StatusCode, b)
		}
		return nil
	})
}

// token signs an end-user token as the Clerk instance would, claiming plan
// when it is not "".
func (c *cluster) token(userID, plan string) string {
	c.t.Helper()
	now := time.Now()
	tok, err := jwt.Signed(c.signer).Claims(jwt.Claims{
		Issuer: "https://clerk.cluster.test", Subject: userID,
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
	}).Claims(map[string]any{"publishableKey": c.project.Test.PublishableKey, "plan": plan}).CompactSerialize()
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

// call sends a request and decodes its JSON answer.
func call(method, url, body string, headers ...string) (int, map[string]any, http.Header, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{Timeout: 20 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return res.StatusCode, nil, res.Header, fmt.Errorf("%d: not JSON: %s", res.StatusCode, raw)
	}
	return res.StatusCode, out, res.Header, nil
}

// seed creates a developer with a SaaS project through the store on the
// primary's mount, as the management API will.
func (c *cluster) seed() {
	c.t.Helper()
	db, err := store.Open(c.nodes[0].db(), false)
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	w := primary.New(db, time.Now)
	defer w.Close()
	platform := storetest.Platform(c.t, w)
	c.project = storetest.CreateProject(c.t, db, w, platform, dream.ProjectSaaS, storetest.SaaSTiers())
	if err := w.ConnectPaymentAccount(context.Background(), dream.ConnectPaymentAccount{PlatformID: platform, Mode: dream.ModeTest, AccountID: account}); err != nil {
		c.t.Fatal(err)
	}
}

// rotateKey revokes the project's test secret key on the primary.
func (c *cluster) rotateKey() string {
	c.t.Helper()
	db, err := store.Open(c.nodes[0].db(), false)
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	w := primary.New(db, time.Now)
	defer w.Close()
	sk, hash := dream.NewSecretKey(dream.ModeTest)
	if err := w.RotateSecretKey(context.Background(), dream.RotateSecretKey{EnvironmentID: c.project.Test.EnvironmentID, NewHash: hash}); err != nil {
		c.t.Fatal(err)
	}
	return sk
}

func TestCluster(t *testing.T) {
	c := newCluster(t)
	primaryNode, replica1, replica2 := c.nodes[0], c.nodes[1], c.nodes[2]
	primaryNode.start(t)
	c.ready(primaryNode)
	c.seed()
	replica1.start(t)
	replica2.start(t)
	c.ready(replica1)
	c.ready(replica2)
	pk := c.project.Test.PublishableKey

	t.Run("ReadsAtReplicas", func(t *testing.T) {
		for _, n := range c.nodes {
			status, body, _, err := call("GET", n.url("/api/tiers"), "", "X-Publishable-Key", pk)
			if err != nil || status != 200 || len(body["tiers"].([]any)) != 3 {
				t.Fatalf("%s: %d %v %v", n.name, status, body, err)
			}
		}
		if _, err := os.Stat(filepath.Join(replica1.dir, "mnt", ".primary")); err != nil {
			t.Fatalf("replica-1 does not know the primary: %v", err)
		}
	})

	t.Run("WritesForwardedAndReadYourWrites", func(t *testing.T) {
		token := c.token("user_ryw", "")
		for i := 1; i <= 5; i++ {
			status, body, _, err := call("POST", replica1.url("/api/data"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
			if err != nil || status != 200 || body["usage"].(map[string]any)["count"] != float64(i) {
				t.Fatalf("track %d at replica-1: %d %v %v", i, status, body, err)
			}
			// The very next read at the same replica sees the write.
			status, body, _, err = call("GET", replica1.url("/api/usage"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
			if err != nil || status != 200 || body["usageCount"] != float64(i) {
				t.Fatalf("read %d at replica-1: %d %v %v", i, status, body, err)
			}
		}
	})

	t.Run("WebhookAtReplica", func(t *testing.T) {
		event, _ := json.Marshal(map[string]any{"id": "evt_cluster_1", "object": "event", "type": "customer.subscription.created",
			"livemode": false, "account": account, "created": time.Now().Unix(), "api_version": "2023-10-16",
			"data": map[string]any{"object": map[string]any{"id": "sub_cluster", "object": "subscription", "status": "active", "customer": "cus_1",
				"metadata": map[string]string{"userId": "user_payer", "publishableKey": pk, "tier": "pro"},
				"items":    map[string]any{"data": []any{map[string]any{"price": map[string]any{"id": "price_enterprise"}}}}}}})
		status, body, _, err := call("POST", replica2.url("/webhook/stripe"), string(event),
			"Stripe-Signature", billing.SignWebhook(event, webhookSecret, time.Now()))
		if err != nil || status != 200 || body["result"] != "processed" {
			t.Fatalf("webhook at replica-2: %d %v %v", status, body, err)
		}
		token := c.token("user_payer", "")
		for _, n := range c.nodes {
			eventually(t, 5*time.Second, "plan at "+n.name, func() error {
				_, body, _, err := call("GET", n.url("/api/usage"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
				if err != nil || body["plan"] != "enterprise" {
					return fmt.Errorf("%v %v", body, err)
				}
				return nil
			})
		}
	})

	t.Run("RevokedKeyRefusedEverywhere", func(t *testing.T) {
		old := c.project.Test.SecretKey
		for _, n := range c.nodes {
			if status, _, _, err := call("GET", n.url("/api/tiers"), "", "Authorization", "Bearer "+old); err != nil || status != 200 {
				t.Fatalf("%s before rotation: %d %v", n.name, status, err)
			}
		}
		fresh := c.rotateKey()
		for _, n := range c.nodes {
			eventually(t, 5*time.Second, "old key refused at "+n.name, func() error {
				status, _, _, err := call("GET", n.url("/api/tiers"), "", "Authorization", "Bearer "+old)
				if err != nil || status != 401 {
					return fmt.Errorf("%d %v", status, err)
				}
				return nil
			})
			eventually(t, 5*time.Second, "new key at "+n.name, func() error {
				status, _, _, err := call("GET", n.url("/api/tiers"), "", "Authorization", "Bearer "+fresh)
				if err != nil || status != 200 {
					return fmt.Errorf("%d %v", status, err)
				}
				return nil
			})
		}
	})

	t.Run("PrimaryDownAndBackWithNoWriteLostOrDoubled", func(t *testing.T) {
		token := c.token("user_counted", "enterprise")
		var acknowledged atomic.Int64
		var unavailable atomic.Int64
		stopTracking := make(chan struct{})
		var trackers sync.WaitGroup
		// Trackers at both replicas: every track has its own idempotency
		// key and is retried with it until acknowledged, as a careful
		// client does, bounded in count and time.
		for _, n := range []*node{replica1, replica2} {
			for k := 0; k < 2; k++ {
				trackers.Add(1)
				go func() {
					defer trackers.Done()
					for i := 0; i < 400; i++ {
						select {
						case <-stopTracking:
							return
						default:
						}
						key := fmt.Sprintf("%s-%d-%d", n.name, k, i)
						for attempt := 0; attempt < 600; attempt++ {
							status, _, _, err := call("POST", n.url("/api/data"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token, "Idempotency-Key", key)
							if err == nil && status == 200 {
								acknowledged.Add(1)
								break
							}
							if status == 503 {
								unavailable.Add(1)
							}
							time.Sleep(50 * time.Millisecond)
						}
						time.Sleep(5 * time.Millisecond)
					}
				}()
			}
		}
		time.Sleep(500 * time.Millisecond)

		primaryNode.stop(t)
		// Writes answer 503 with Retry-After; reads keep working.
		eventually(t, 10*time.Second, "a write at a replica while the primary is down", func() error {
			status, body, header, err := call("POST", replica1.url("/api/data"), "", "X-Publishable-Key", pk, "X-Clerk-Token", c.token("user_probe", "enterprise"))
			if err != nil || status != 503 || body["error"] != "primary_unavailable" || header.Get("Retry-After") == "" {
				return fmt.Errorf("%d %v %v", status, body, err)
			}
			return nil
		})
		for _, n := range []*node{replica1, replica2} {
			status, _, _, err := call("GET", n.url("/api/tiers"), "", "X-Publishable-Key", pk)
			if err != nil || status != 200 {
				t.Fatalf("a read at %s while the primary is down: %d %v", n.name, status, err)
			}
			status, _, _, err = call("GET", n.url("/api/usage"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
			if err != nil || status != 200 {
				t.Fatalf("a usage read at %s while the primary is down: %d %v", n.name, status, err)
			}
		}
		time.Sleep(500 * time.Millisecond)

		primaryNode.start(t)
		c.ready(primaryNode)
		eventually(t, 30*time.Second, "writes resume at replica-2", func() error {
			status, body, _, err := call("POST", replica2.url("/api/data"), "", "X-Publishable-Key", pk, "X-Clerk-Token", c.token("user_probe", "enterprise"))
			if err != nil || status != 200 {
				return fmt.Errorf("%d %v %v", status, body, err)
			}
			return nil
		})
		time.Sleep(500 * time.Millisecond)
		close(stopTracking)
		trackers.Wait()
		if unavailable.Load() == 0 {
			t.Fatal("no tracker ever met the primary down: the scenario did not happen")
		}

		// Every acknowledged track counted once, no more, no less.
		_, body, _, err := call("GET", primaryNode.url("/api/usage"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := body["usageCount"], float64(acknowledged.Load()); got != want {
			t.Fatalf("the primary counted %v units for %v acknowledged tracks", got, want)
		}
		t.Logf("%d tracks acknowledged, %d answers of 503 while the primary was down", acknowledged.Load(), unavailable.Load())
	})
}
