// Package cluster tests Dream API on a real LiteFS cluster (package
// e2e/harness): one primary and replicas on loopback with a static lease,
// each running `dream serve` under `litefs mount` with a config generated
// from the shipped litefs.yml. Identity is a local JWKS server and payments
// are signed fixtures, so no account with anyone is needed. It needs root,
// FUSE (/dev/fuse and fusermount3) and the litefs binary; without them it
// skips, except under CI=true, where it fails.
package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/billing"
	"github.com/dream-api/dream/e2e/harness"
	"github.com/dream-api/dream/metrics/metricstest"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
)

// cluster is a harness.Cluster whose helpers fail the test, with the
// project seeded on it.
type cluster struct {
	*harness.Cluster
	t       *testing.T
	project harness.Project
	// bin is the dream binary the nodes run.
	bin string
}

// newCluster builds dream with tags and the cluster cfg describes (its
// directory and binaries filled in), none of its nodes started yet, all
// stopped when the test ends. It skips, or under CI fails, when the
// machine cannot run LiteFS.
func newCluster(t *testing.T, cfg harness.Config, tags ...string) *cluster {
	litefs, err := harness.Requirements()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the LiteFS cluster test cannot run: %v (make test installs fuse3 and litefs)", err)
		}
		t.Skipf("skipping the LiteFS cluster test: %v", err)
	}
	root := t.TempDir()
	bin, err := harness.Build(root, tags...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir, cfg.Dream, cfg.LiteFS = root, bin, litefs
	hc, err := harness.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := hc.Close(); err != nil {
			t.Errorf("stopping the cluster: %v, want every node stopped cleanly", err)
		}
		if t.Failed() {
			for _, n := range hc.Nodes {
				t.Logf("---- %s log ----\n%s", n.Name, n.LogTail(60))
			}
		}
	})
	return &cluster{Cluster: hc, t: t, bin: bin}
}

// start starts a node.
func (c *cluster) start(n *harness.Node) {
	c.t.Helper()
	if err := n.Start(); err != nil {
		c.t.Fatal(err)
	}
}

// stop stops LiteFS and dream with it, as a deploy would.
func (c *cluster) stop(n *harness.Node) {
	c.t.Helper()
	if err := n.Stop(); err != nil {
		c.t.Fatal(err)
	}
}

// ready waits for a node's /readyz.
func (c *cluster) ready(n *harness.Node) {
	c.t.Helper()
	if err := c.Ready(n, 60*time.Second); err != nil {
		c.t.Fatal(err)
	}
}

// token signs an end-user token of the seeded project's test environment,
// claiming plan when it is not "".
func (c *cluster) token(userID, plan string) string {
	c.t.Helper()
	tok, err := c.Token(c.project.Test.PublishableKey, userID, plan)
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

// endUsers names n end users user_<name>_00, user_<name>_01, ... and signs
// each a token of the seeded project's test environment claiming the
// enterprise plan, which has no limit.
func (c *cluster) endUsers(name string, n int) ([]string, map[string]string) {
	users := make([]string, n)
	tokens := make(map[string]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("user_%s_%02d", name, i)
		tokens[users[i]] = c.token(users[i], "enterprise")
	}
	return users, tokens
}

// strictUser seeds a project of its own with strict limits and returns
// its test publishable key and a token of userID there, claiming plan
// when it is not "".
func (c *cluster) strictUser(t *testing.T, userID, plan string) (publishableKey, token string) {
	t.Helper()
	strict, err := c.Seed(harness.SeedOptions{StrictLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	token, err = c.Token(strict.Test.PublishableKey, userID, plan)
	if err != nil {
		t.Fatal(err)
	}
	return strict.Test.PublishableKey, token
}

// seed creates a developer with a project through the store on the
// primary's mount, as the management API will.
func (c *cluster) seed(opts harness.SeedOptions) {
	c.t.Helper()
	p, err := c.Seed(opts)
	if err != nil {
		c.t.Fatal(err)
	}
	c.project = p
}

// startSeeded starts the primary, seeds the project on it with opts, then
// starts the other nodes and waits until every one is ready.
func (c *cluster) startSeeded(opts harness.SeedOptions) {
	c.t.Helper()
	c.start(c.Nodes[0])
	c.ready(c.Nodes[0])
	c.seed(opts)
	for _, n := range c.Nodes[1:] {
		c.start(n)
	}
	for _, n := range c.Nodes[1:] {
		c.ready(n)
	}
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
	t.Fatalf("after %s, want %s; the last check found %v", within, what, err)
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

// rotateKey revokes the project's test secret key on the primary.
func (c *cluster) rotateKey() string {
	c.t.Helper()
	db, err := store.Open(c.Nodes[0].DB(), false)
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	w := primary.New(db, time.Now, nil)
	defer w.Close()
	sk, hash := dream.NewSecretKey(dream.ModeTest)
	if err := w.Write(context.Background(), dream.RotateSecretKey{EnvironmentID: c.project.Test.EnvironmentID, NewHash: hash}, nil); err != nil {
		c.t.Fatal(err)
	}
	return sk
}

func TestCluster(t *testing.T) {
	c := newCluster(t, harness.Config{Nodes: 3})
	primaryNode, replica1, replica2 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	c.startSeeded(harness.SeedOptions{})
	pk := c.project.Test.PublishableKey

	t.Run("ReadsAtReplicas", func(t *testing.T) {
		for _, n := range c.Nodes {
			status, body, _, err := call("GET", n.URL("/api/tiers"), "", "X-Publishable-Key", pk)
			if err != nil || status != 200 || len(body["tiers"].([]any)) != 3 {
				t.Fatalf("the tiers read at %s: status %d, body %v, error %v; want 200 with 3 tiers", n.Name, status, body, err)
			}
		}
		if _, err := os.Stat(filepath.Join(replica1.Dir, "mnt", ".primary")); err != nil {
			t.Fatalf("replica-1 has no .primary file in its mount: %v, want it to name the primary", err)
		}
	})

	t.Run("WritesForwardedAndReadYourWrites", func(t *testing.T) {
		token := c.token("user_ryw", "")
		for i := 1; i <= 5; i++ {
			status, body, _, err := call("POST", replica1.URL("/api/data"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
			if err != nil || status != 200 || body["usage"].(map[string]any)["count"] != float64(i) {
				t.Fatalf("track %d at replica-1: status %d, body %v, error %v; want 200 with usage count %d", i, status, body, err, i)
			}
			// The very next read at the same replica sees the write.
			status, body, _, err = call("GET", replica1.URL("/api/usage"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
			if err != nil || status != 200 || body["usageCount"] != float64(i) {
				t.Fatalf("the usage read after track %d at replica-1: status %d, body %v, error %v; want 200 with usageCount %d",
					i, status, body, err, i)
			}
		}
	})

	t.Run("MetricsOfEachNode", func(t *testing.T) {
		scrape := func(n *harness.Node) metricstest.Scrape {
			t.Helper()
			res, err := http.Get(n.MetricsURL())
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("the metrics of %s answered %d, want 200", n.Name, res.StatusCode)
			}
			return metricstest.Parse(t, res.Body)
		}
		p, r := scrape(primaryNode), scrape(replica1)
		if p.Value("dream_node_primary") != 1 || r.Value("dream_node_primary") != 0 {
			t.Fatalf("dream_node_primary is %v on the primary and %v on replica-1, want 1 and 0",
				p.Value("dream_node_primary"), r.Value("dream_node_primary"))
		}
		if len(r.Series("dream_replication_lag_seconds")) != 1 || r.Value("dream_replication_position") <= 0 {
			t.Fatalf("replica-1 reports lag %v and position %v, want both from its mount",
				r.Series("dream_replication_lag_seconds"), r.Value("dream_replication_position"))
		}
		if len(p.Series("dream_replication_lag_seconds")) != 1 || p.Value("dream_replication_lag_seconds") != 0 {
			t.Fatalf("the primary reports a lag of %v, want 0", p.Series("dream_replication_lag_seconds"))
		}

		// Units acknowledged at a replica are counted by the primary once
		// each, by the time the replica's outbox is empty again.
		emptied := func() {
			t.Helper()
			eventually(t, 10*time.Second, "replica-1's outbox empty", func() error {
				s := scrape(replica1)
				if len(s.Series("dream_outbox_units")) != 1 || s.Value("dream_outbox_units") != 0 {
					return fmt.Errorf("its outbox gauge is %v", s.Series("dream_outbox_units"))
				}
				return nil
			})
		}
		applied := func() float64 {
			return scrape(primaryNode).Value("dream_usage_units_applied_total", "decided_by", "node")
		}
		emptied()
		before := applied()
		token := c.token("user_metrics", "")
		const tracks = 12
		for i := range tracks {
			if status, body, _, err := call("POST", replica1.URL("/api/data"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token); err != nil || status != 200 {
				t.Fatalf("track %d at replica-1: status %d, body %v, error %v; want 200", i+1, status, body, err)
			}
		}
		emptied()
		if got := applied() - before; got != tracks {
			t.Fatalf("the primary applied %v units by its metrics, want the %d tracked at replica-1", got, tracks)
		}
		if got := scrape(replica1).Value("dream_usage_ship_duration_seconds", "outcome", "ok"); got < 1 {
			t.Fatalf("replica-1 shipped %v batches by its metrics, want at least one", got)
		}
	})

	t.Run("WebhookAtReplica", func(t *testing.T) {
		event, _ := json.Marshal(map[string]any{"id": "evt_cluster_1", "object": "event", "type": "customer.subscription.created",
			"livemode": false, "account": harness.Account, "created": time.Now().Unix(), "api_version": "2023-10-16",
			"data": map[string]any{"object": map[string]any{"id": "sub_cluster", "object": "subscription", "status": "active", "customer": "cus_1",
				"metadata": map[string]string{"userId": "user_payer", "publishableKey": pk, "tier": "pro"},
				"items":    map[string]any{"data": []any{map[string]any{"price": map[string]any{"id": "price_enterprise"}}}}}}})
		status, body, _, err := call("POST", replica2.URL("/webhook/stripe"), string(event),
			"Stripe-Signature", billing.SignWebhook(event, harness.WebhookSecret, time.Now()))
		if err != nil || status != 200 || body["result"] != "processed" {
			t.Fatalf("a payment event at replica-2: status %d, body %v, error %v; want 200, processed", status, body, err)
		}
		token := c.token("user_payer", "")
		for _, n := range c.Nodes {
			eventually(t, 5*time.Second, "user_payer on enterprise at "+n.Name, func() error {
				_, body, _, err := call("GET", n.URL("/api/usage"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
				if err != nil || body["plan"] != "enterprise" {
					return fmt.Errorf("the usage read %v, error %v", body, err)
				}
				return nil
			})
		}
	})

	t.Run("StrictLimitsAdmitExactlyTheLimitFromEveryNode", func(t *testing.T) {
		strictKey, token := c.strictUser(t, "user_strict_race", "")
		// Free tier, limit 100: 150 tracks race from all three nodes at
		// once, 50 each; exactly 100 are admitted.
		var admitted, refused atomic.Int64
		var wg sync.WaitGroup
		for _, n := range c.Nodes {
			for w := 0; w < 5; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 10; i++ {
						status, body, _, err := call("POST", n.URL("/api/data"), "", "X-Publishable-Key", strictKey, "X-Clerk-Token", token)
						switch {
						case err == nil && status == 200:
							admitted.Add(1)
						case err == nil && status == 403 && body["error"] == "Tier limit reached":
							refused.Add(1)
						default:
							t.Errorf("a racing track at %s: status %d, body %v, error %v; want 200 or 403 Tier limit reached",
								n.Name, status, body, err)
						}
					}
				}()
			}
		}
		wg.Wait()
		if admitted.Load() != 100 || refused.Load() != 50 {
			t.Fatalf("of 150 racing tracks on the free plan %d were admitted and %d refused, want 100 and 50",
				admitted.Load(), refused.Load())
		}
	})

	t.Run("RevokedKeyRefusedEverywhere", func(t *testing.T) {
		old := c.project.Test.SecretKey
		for _, n := range c.Nodes {
			if status, _, _, err := call("GET", n.URL("/api/tiers"), "", "Authorization", "Bearer "+old); err != nil || status != 200 {
				t.Fatalf("the old secret key at %s before rotation: status %d, error %v; want 200", n.Name, status, err)
			}
		}
		fresh := c.rotateKey()
		for _, n := range c.Nodes {
			eventually(t, 5*time.Second, "the old secret key refused with 401 at "+n.Name, func() error {
				status, _, _, err := call("GET", n.URL("/api/tiers"), "", "Authorization", "Bearer "+old)
				if err != nil || status != 401 {
					return fmt.Errorf("status %d, error %v", status, err)
				}
				return nil
			})
			eventually(t, 5*time.Second, "the new secret key accepted with 200 at "+n.Name, func() error {
				status, _, _, err := call("GET", n.URL("/api/tiers"), "", "Authorization", "Bearer "+fresh)
				if err != nil || status != 200 {
					return fmt.Errorf("status %d, error %v", status, err)
				}
				return nil
			})
		}
	})

	t.Run("ManagementThroughReplicas", func(t *testing.T) {
		// A developer signs up and creates a project at a replica, and
		// rotates its key at the other: each write is forwarded to the
		// primary and read back at once where it was made.
		status, body, _, err := call("POST", replica1.URL("/v1/accounts"), `{"email":"cluster@example.com","password":"correct horse battery"}`)
		if err != nil || status != 201 {
			t.Fatalf("signing up at replica-1: status %d, body %v, error %v; want 201", status, body, err)
		}
		session := "Bearer " + body["token"].(string)
		status, body, _, err = call("POST", replica1.URL("/v1/projects"), `{"name":"Edge project","type":"saas"}`, "Authorization", session)
		if err != nil || status != 201 {
			t.Fatalf("creating a project at replica-1: status %d, body %v, error %v; want 201", status, body, err)
		}
		id := body["id"].(string)
		old := body["environments"].(map[string]any)["test"].(map[string]any)["secretKey"].(string)
		if status, _, _, err := call("GET", replica1.URL("/api/tiers"), "", "Authorization", "Bearer "+old); err != nil || status != 200 {
			t.Fatalf("the new key at replica-1, right after creating it there: status %d, error %v; want 200", status, err)
		}
		for _, n := range c.Nodes {
			eventually(t, 5*time.Second, "the new project's key accepted at "+n.Name, func() error {
				status, _, _, err := call("GET", n.URL("/api/tiers"), "", "Authorization", "Bearer "+old)
				if err != nil || status != 200 {
					return fmt.Errorf("status %d, error %v", status, err)
				}
				return nil
			})
		}
		start := time.Now()
		status, body, _, err = call("POST", replica2.URL("/v1/projects/"+id+"/environments/test/rotate"), "", "Authorization", session)
		if err != nil || status != 200 {
			t.Fatalf("rotating at replica-2: status %d, body %v, error %v; want 200", status, body, err)
		}
		answered := time.Since(start)
		// Every node refuses the old key within the replication lag; the
		// time it took is logged for docs/BENCHMARKS.md.
		var slowest time.Duration
		for _, n := range c.Nodes {
			eventually(t, 5*time.Second, "the rotated key refused with 401 at "+n.Name, func() error {
				status, _, _, err := call("GET", n.URL("/api/tiers"), "", "Authorization", "Bearer "+old)
				if err != nil || status != 401 {
					return fmt.Errorf("status %d, error %v", status, err)
				}
				return nil
			})
			slowest = max(slowest, time.Since(start))
		}
		t.Logf("rotation at replica-2 answered in %s; the old key was refused at every node %s after the call began", answered, slowest)
	})

	t.Run("PrimaryDownAndBackWithNoUnitLostOrDoubled", func(t *testing.T) {
		// A second project with strict limits, whose units the primary
		// decides: it cannot take units while the primary is away.
		strictKey, strictToken := c.strictUser(t, "user_strict", "enterprise")
		token := c.token("user_counted", "enterprise")
		var acknowledged, whileDown atomic.Int64
		var down atomic.Bool
		stopTracking := make(chan struct{})
		var trackers sync.WaitGroup
		// Trackers at both replicas: every track has its own idempotency
		// key and is retried with it until acknowledged, as a careful
		// client does, until the scenario ends (bounded in count too). The
		// bound is far above what the scenario's seconds take: with 400,
		// a primary slow to stop under a loaded make test (5 s once) let
		// every tracker finish before it was down.
		for _, n := range []*harness.Node{replica1, replica2} {
			for k := 0; k < 2; k++ {
				trackers.Add(1)
				go func() {
					defer trackers.Done()
					for i := 0; i < 5000; i++ {
						select {
						case <-stopTracking:
							return
						default:
						}
						key := fmt.Sprintf("%s-%d-%d", n.Name, k, i)
						for attempt := 0; attempt < 600; attempt++ {
							status, body, _, err := call("POST", n.URL("/api/data"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token, "Idempotency-Key", key)
							if err == nil && status == 200 {
								acknowledged.Add(1)
								if down.Load() {
									whileDown.Add(1)
								}
								break
							}
							t.Logf("track %s at %s not acknowledged yet: status %d, body %v, error %v; retrying", key, n.Name, status, body, err)
							time.Sleep(50 * time.Millisecond)
						}
						time.Sleep(5 * time.Millisecond)
					}
				}()
			}
		}
		time.Sleep(500 * time.Millisecond)

		c.stop(primaryNode)
		down.Store(true)
		// Units of the default project are still acknowledged, into the
		// replicas' outboxes; strict units, like other writes, answer 503
		// with Retry-After; reads keep working.
		eventually(t, 10*time.Second, "a strict track at replica-1 answered 503 primary_unavailable with Retry-After", func() error {
			status, body, header, err := call("POST", replica1.URL("/api/data"), "", "X-Publishable-Key", strictKey, "X-Clerk-Token", strictToken)
			if err != nil || status != 503 || body["error"] != "primary_unavailable" || header.Get("Retry-After") == "" {
				return fmt.Errorf("status %d, body %v, Retry-After %q, error %v", status, body, header.Get("Retry-After"), err)
			}
			return nil
		})
		for _, n := range []*harness.Node{replica1, replica2} {
			status, _, _, err := call("GET", n.URL("/api/tiers"), "", "X-Publishable-Key", pk)
			if err != nil || status != 200 {
				t.Fatalf("a tiers read at %s while the primary is down: status %d, error %v; want 200", n.Name, status, err)
			}
			status, _, _, err = call("GET", n.URL("/api/usage"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
			if err != nil || status != 200 {
				t.Fatalf("a usage read at %s while the primary is down: status %d, error %v; want 200", n.Name, status, err)
			}
		}
		time.Sleep(time.Second)
		down.Store(false)

		c.start(primaryNode)
		c.ready(primaryNode)
		eventually(t, 30*time.Second, "a strict track accepted with 200 at replica-2 after the primary's return", func() error {
			status, body, _, err := call("POST", replica2.URL("/api/data"), "", "X-Publishable-Key", strictKey, "X-Clerk-Token", strictToken)
			if err != nil || status != 200 {
				return fmt.Errorf("status %d, body %v, error %v", status, body, err)
			}
			return nil
		})
		time.Sleep(500 * time.Millisecond)
		close(stopTracking)
		trackers.Wait()
		if whileDown.Load() == 0 {
			t.Fatalf("%d tracks acknowledged, none while the primary was down; want some, or the scenario did not happen",
				acknowledged.Load())
		}

		// Once the replicas have shipped their outboxes, every
		// acknowledged track is counted once, no more, no less.
		eventually(t, 30*time.Second, "every node's outbox empty", func() error {
			for _, n := range c.Nodes {
				if left, err := outboxLen(n); err != nil || left != 0 {
					return fmt.Errorf("%s has %d units left in its outbox, error %v", n.Name, left, err)
				}
			}
			return nil
		})
		_, body, _, err := call("GET", primaryNode.URL("/api/usage"), "", "X-Publishable-Key", pk, "X-Clerk-Token", token)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := body["usageCount"], float64(acknowledged.Load()); got != want {
			t.Fatalf("the primary counted %v units for user_counted, want %v, one per acknowledged track", got, want)
		}
		t.Logf("%d tracks acknowledged, %d of them while the primary was down", acknowledged.Load(), whileDown.Load())
	})
}
