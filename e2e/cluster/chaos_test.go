package cluster_test

import (
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver

	"github.com/dream-api/dream/e2e/harness"
)

// chaosSeed replays a run's schedule of strikes and choices of users and
// nodes; the timing of a cluster under load cannot be replayed.
var chaosSeed = flag.Uint64("chaos.seed", 0, "seed of the chaos tests' random choices (0: from the clock)")

const (
	// chaosUsers end users are tracked by chaosClients concurrent clients.
	chaosUsers   = 30
	chaosClients = 12
	// chaosLatency is the delay each way between the edges and the
	// primary, as between regions: what is on its way when the network is
	// cut is lost.
	chaosLatency = 25 * time.Millisecond
)

// chaosScenario is what differs between runs of the chaos scenario.
type chaosScenario struct {
	// tags are the build tags of dream.
	tags []string
	// load is how long clients track while the cluster is struck.
	load time.Duration
	// primaryKills is how many times the primary is killed, at least.
	primaryKills int
}

// chaosResult is what a chaos run acknowledged and what the primary
// counted, per user.
type chaosResult struct {
	acknowledged, counted map[string]int64
}

// mismatches lists every user whose count differs from their acknowledged
// tracks.
func (r chaosResult) mismatches() []string {
	users := map[string]bool{}
	for u := range r.acknowledged {
		users[u] = true
	}
	for u := range r.counted {
		users[u] = true
	}
	var out []string
	for u := range users {
		if r.acknowledged[u] != r.counted[u] {
			out = append(out, fmt.Sprintf("%s: the primary counted %d units of %d acknowledged", u, r.counted[u], r.acknowledged[u]))
		}
	}
	sort.Strings(out)
	return out
}

// TestChaos tracks usage from many users at every node of a cluster, a
// primary and three edges, while edges and the primary are killed with
// SIGKILL and restarted and the network between them is cut, then checks
// that the primary counted exactly the tracks acknowledged: none lost in an
// outbox or a batch, none counted twice.
func TestChaos(t *testing.T) {
	r := runChaos(t, chaosScenario{load: 60 * time.Second, primaryKills: 3})
	for _, m := range r.mismatches() {
		t.Errorf("end user %s; want the primary to count exactly the tracks acknowledged", m)
	}
}

// TestChaosCatchesMissingHighWaterMark is the chaos test's own test: with
// the primary's high-water mark disabled (build tag nohighwatermark), a
// batch an edge sends again after its answer was lost counts twice, and
// the scenario must notice.
func TestChaosCatchesMissingHighWaterMark(t *testing.T) {
	r := runChaos(t, chaosScenario{tags: []string{"nohighwatermark"}, load: 30 * time.Second, primaryKills: 2})
	mismatches := r.mismatches()
	over := 0
	for u, n := range r.counted {
		if n > r.acknowledged[u] {
			over++
		}
	}
	if over == 0 {
		t.Fatalf("without the high-water mark no user was counted more than acknowledged: the chaos test cannot catch units applied twice (mismatches: %v)", mismatches)
	}
	t.Logf("caught: %d of %d users counted more than acknowledged, e.g. %s", over, len(r.acknowledged), mismatches[0])
}

// runChaos runs the scenario and returns what was acknowledged and counted.
// A track refused (403, 429) or never acknowledged fails the test: the
// comparison would mean nothing.
func runChaos(t *testing.T, s chaosScenario) chaosResult {
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("chaos seed %d (-chaos.seed=%d replays the choices)", seed, seed)

	c := newCluster(t, harness.Config{Nodes: 4, Env: []string{"DREAM_RATE_LIMIT_PER_MINUTE=0"}, Latency: chaosLatency}, s.tags...)
	primaryNode := c.Nodes[0]
	c.startSeeded(harness.SeedOptions{})

	users, tokens := c.endUsers("chaos", chaosUsers)

	var (
		mu           sync.Mutex
		acknowledged = map[string]int64{}
		answers      = map[string]int{}
	)
	answer := func(status int, err error) {
		key := fmt.Sprint(status)
		if err != nil && status == 0 {
			key = "no answer"
		}
		mu.Lock()
		answers[key]++
		mu.Unlock()
	}

	start := time.Now()
	stopLoad := make(chan struct{})
	var clients sync.WaitGroup
	for g := range chaosClients {
		clients.Add(1)
		go func() {
			defer clients.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)+1))
			for i := 0; i < 100_000; i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				user := users[rng.IntN(len(users))]
				key := fmt.Sprintf("chaos-%d-%d", g, i)
				// The same key until acknowledged, at any node running, as
				// a careful client retries; bounded in count and time.
				deadline := time.Now().Add(90 * time.Second)
				acked := false
				for attempt := 0; attempt < 3000 && time.Now().Before(deadline); attempt++ {
					var running []*harness.Node
					for _, n := range c.Nodes {
						if n.Running() {
							running = append(running, n)
						}
					}
					if len(running) == 0 {
						time.Sleep(50 * time.Millisecond)
						continue
					}
					n := running[rng.IntN(len(running))]
					status, body, _, err := call("POST", n.URL("/api/data"), "",
						"X-Publishable-Key", c.project.Test.PublishableKey, "X-Clerk-Token", tokens[user], "Idempotency-Key", key)
					answer(status, err)
					if status == 200 {
						acked = true
						break
					}
					if status == 403 || status == 429 {
						t.Errorf("track %s of %s on enterprise refused at %s: status %d, body %v; want it acknowledged",
							key, user, n.Name, status, body)
						return
					}
					time.Sleep(time.Duration(10+rng.IntN(90)) * time.Millisecond)
				}
				if !acked {
					t.Errorf("track %s of %s not acknowledged by any node within 90s or 3000 tries, want it acknowledged", key, user)
					return
				}
				mu.Lock()
				acknowledged[user]++
				mu.Unlock()
			}
		}()
	}

	strikes := chaos(t, c, seed, s)
	close(stopLoad)
	clients.Wait()
	loadTime := time.Since(start)
	if t.Failed() {
		t.FailNow()
	}

	// Every node up and every outbox shipped, then the primary's counters.
	for _, n := range c.Nodes {
		if !n.Running() {
			c.start(n)
		}
	}
	for _, n := range c.Nodes {
		c.ready(n)
	}
	eventually(t, 60*time.Second, "every node's outbox shipped and empty", func() error {
		for _, n := range c.Nodes {
			waiting, err := outboxLen(n)
			if err != nil || waiting > 0 {
				return fmt.Errorf("%s has %d units waiting in its outbox, error %v", n.Name, waiting, err)
			}
		}
		return nil
	})
	counted, err := counters(primaryNode.DB(), c.project.Test.EnvironmentID)
	if err != nil {
		t.Fatal(err)
	}

	var total int64
	for _, n := range acknowledged {
		total += n
	}
	t.Logf("%d tracks acknowledged for %d users from %d clients in %s; %s; answers %v; shipped and compared after %s",
		total, len(acknowledged), chaosClients, loadTime.Round(time.Second), strikes, answers, time.Since(start).Round(time.Second))
	return chaosResult{acknowledged: acknowledged, counted: counted}
}

// chaos strikes the cluster at random moments until s.load has passed: it
// kills an edge with SIGKILL, restarted after a random pause, or cuts the
// network between the edges and the primary, losing what was on its way
// (answers to batches the primary applied among it); and at least
// s.primaryKills times, at moments spread over the run, the primary's
// machine crashes: its network is cut and it is killed, then restarted.
// Strikes overlap: an edge can die while the primary is down. A node that
// exits on its own is logged and restarted too. chaos returns a summary
// once every restart has happened.
func chaos(t *testing.T, c *cluster, seed uint64, s chaosScenario) string {
	rng := rand.New(rand.NewPCG(seed, 0))
	start := time.Now()
	var primaryAt []time.Duration
	for i := range s.primaryKills {
		// One moment in each of primaryKills equal stretches of the run,
		// leaving its first and last tenth alone.
		stretch := s.load * 8 / 10 / time.Duration(s.primaryKills)
		primaryAt = append(primaryAt, s.load/10+time.Duration(i)*stretch+time.Duration(rng.Int64N(int64(stretch))))
	}

	var (
		restarts sync.WaitGroup
		// mu guards down, the nodes killed and not restarted yet.
		mu                             sync.Mutex
		down                           = map[*harness.Node]bool{}
		edgeKills, primaryKilled, cuts int
		exits                          []string
	)
	kill := func(n *harness.Node) {
		if err := n.Kill(); err != nil {
			t.Errorf("killing node %s: %v, want it killed", n.Name, err)
		}
		pause := time.Duration(200+rng.IntN(1300)) * time.Millisecond
		restarts.Add(1)
		go func() {
			defer restarts.Done()
			time.Sleep(pause)
			if err := n.Start(); err != nil {
				t.Errorf("restarting node %s after its kill: %v, want it running", n.Name, err)
			}
			mu.Lock()
			down[n] = false
			mu.Unlock()
		}()
	}
	for time.Since(start) < s.load {
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		mu.Lock()
		var up []*harness.Node
		for _, n := range c.Nodes {
			if !down[n] && !n.Running() {
				exits = append(exits, n.Name)
				t.Logf("%s exited on its own after %s:\n%s", n.Name, time.Since(start).Round(time.Millisecond), n.LogTail(20))
				if err := n.Stop(); err != nil {
					t.Errorf("clearing node %s after it exited on its own: %v, want it stopped", n.Name, err)
				}
				if err := n.Start(); err != nil {
					t.Errorf("restarting node %s after it exited on its own: %v, want it running", n.Name, err)
				}
			}
			if !down[n] && n != c.Nodes[0] {
				up = append(up, n)
			}
		}
		var target *harness.Node
		switch {
		case len(primaryAt) > 0 && time.Since(start) >= primaryAt[0] && !down[c.Nodes[0]]:
			primaryAt = primaryAt[1:]
			target = c.Nodes[0]
			primaryKilled++
		case rng.IntN(3) == 0:
			cuts++
		case len(up) > 0:
			target = up[rng.IntN(len(up))]
			edgeKills++
		}
		if target != nil {
			down[target] = true
		}
		mu.Unlock()

		if target == nil || target == c.Nodes[0] {
			c.CutLinks()
		}
		if target != nil {
			kill(target)
		}
	}
	restarts.Wait()
	if primaryKilled < s.primaryKills {
		t.Errorf("the primary was killed %d times during the load, want %d", primaryKilled, s.primaryKills)
	}
	summary := fmt.Sprintf("%d kills of an edge, %d of the primary, %d network cuts", edgeKills, primaryKilled, cuts)
	if len(exits) > 0 {
		summary += fmt.Sprintf(", exits on their own: %s", strings.Join(exits, ", "))
	}
	return summary
}

// outboxLen is how many units a node's outbox holds; a node that never
// wrote one holds none.
func outboxLen(n *harness.Node) (int, error) {
	if _, err := os.Stat(n.Outbox()); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	db, err := sql.Open("sqlite3", "file:"+n.Outbox()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var waiting int
	err = db.QueryRow(`SELECT count(*) FROM outbox`).Scan(&waiting)
	return waiting, err
}

// counters reads the usage counter of every user of an environment in the
// database file at path: a node's, or a backup.
func counters(path string, environmentID int64) (map[string]int64, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT user_id, count FROM usage_counters WHERE environment_id = ?`, environmentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counted := map[string]int64{}
	for rows.Next() {
		var user string
		var n int64
		if err := rows.Scan(&user, &n); err != nil {
			return nil, err
		}
		counted[user] = n
	}
	return counted, rows.Err()
}
