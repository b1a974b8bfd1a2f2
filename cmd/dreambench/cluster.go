package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver, to read the nodes' files

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/e2e/harness"
	"github.com/dream-api/dream/forward"
	"github.com/dream-api/dream/store"
)

// benchCluster is the LiteFS cluster under load: the primary, replica-1
// and replica-2, whose link to the primary's dream goes through a proxy
// that delays every request. A default project acknowledges usage at the
// edge; a strict one forwards every track to the primary.
type benchCluster struct {
	*harness.Cluster
	primary, replica1, replica2 *harness.Node
	// links are the proxies between each replica and the primary's dream.
	links         []*delayProxy
	defaults      harness.Project
	strict        harness.Project
	defaultTokens []string
	strictTokens  []string
}

// runCluster measures the LiteFS cluster, or says why it cannot and skips
// it; under CI=true a machine that cannot run it is a failure.
func (m *Main) runCluster(ctx context.Context) error {
	litefs, err := harness.Requirements()
	if err != nil {
		if os.Getenv("CI") == "true" {
			return fmt.Errorf("the LiteFS cluster cannot run (CI=true): %w", err)
		}
		m.progress("skipping the LiteFS cluster: %v", err)
		m.report.Note("the LiteFS cluster was skipped: %v", err)
		return nil
	}
	m.progress("starting a LiteFS cluster: primary, replica-1, replica-2 (+%s to the primary)", m.Delay)
	c, err := m.startCluster(ctx, litefs)
	if c != nil {
		defer c.stop()
	}
	if err != nil {
		return err
	}
	// A node's figures count the CPU of the whole cluster: replication and
	// shipping are part of what a request costs.
	servers, err := c.serverPIDs()
	if err != nil {
		return err
	}
	for _, n := range []*harness.Node{c.replica1, c.primary} {
		for _, r := range []route{routeTiers, routeUsage, routeTrack} {
			var target *Target
			if r != routeTrack {
				target = atLeast("ratio", 0.6, "ratio")
			}
			reqs, err := r.requests(ctx, m.Workers, "http://"+n.Addr, c.defaults.Test.PublishableKey, c.defaultTokens)
			if err != nil {
				return err
			}
			m.drive(ctx, LoadRow{Scenario: r.name, Node: n.Name, Target: target}, m.load(servers), reqs)
		}
	}
	if err := c.drainOutboxes(ctx); err != nil {
		return err
	}
	if err := m.measureDelayedTracks(ctx, c, servers); err != nil {
		return err
	}
	if err := m.measureIncrements(ctx, c); err != nil {
		return err
	}
	if err := m.measureReplication(ctx, c); err != nil {
		return err
	}
	if err := m.measureOvershoot(ctx, c); err != nil {
		return err
	}
	for _, n := range c.Nodes {
		pid, err := n.DreamPID()
		if err != nil {
			return err
		}
		if err := m.notePeakRSS("dream at "+n.Name, pid); err != nil {
			return err
		}
	}
	return nil
}

// startCluster starts the nodes, seeds both projects and signs the end
// users' tokens. A cluster returned with an error must still be closed.
func (m *Main) startCluster(ctx context.Context, litefs string) (*benchCluster, error) {
	c := &benchCluster{}
	// Each replica reaches the primary's dream through a proxy of its own:
	// replica-2's adds the delay, replica-1's none, so that both know the
	// primary by an address fixed before the cluster exists.
	for _, delay := range []time.Duration{0, m.Delay} {
		p, err := newDelayProxy(delay)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.links = append(c.links, p)
	}
	cluster, err := harness.New(harness.Config{
		Dir: filepath.Join(m.dir, "cluster"), Dream: m.Dream, LiteFS: litefs, Nodes: 3,
		Env:         []string{"DREAM_RATE_LIMIT_PER_MINUTE=0"},
		PrimaryHost: func(i int) string { return c.links[i-1].Addr() },
	})
	if err != nil {
		c.stop()
		return nil, err
	}
	c.Cluster = cluster
	c.primary, c.replica1, c.replica2 = cluster.Nodes[0], cluster.Nodes[1], cluster.Nodes[2]
	for _, link := range c.links {
		link.SetTarget(c.primary.Addr)
	}
	if err := c.primary.Start(); err != nil {
		return c, err
	}
	if err := c.Ready(c.primary, time.Minute); err != nil {
		return c, fmt.Errorf("%w\n%s", err, c.primary.LogTail(30))
	}
	if c.defaults, err = c.Seed(harness.SeedOptions{}); err != nil {
		return c, err
	}
	if c.strict, err = c.Seed(harness.SeedOptions{StrictLimits: true}); err != nil {
		return c, err
	}
	for _, n := range []*harness.Node{c.replica1, c.replica2} {
		if err := n.Start(); err != nil {
			return c, err
		}
	}
	for _, n := range c.Nodes {
		if err := c.Ready(n, time.Minute); err != nil {
			return c, fmt.Errorf("%w\n%s", err, n.LogTail(30))
		}
		// Ready says the copy is less than 10 s behind; the projects must
		// be in it.
		for _, p := range []harness.Project{c.defaults, c.strict} {
			if err := waitAnswer(ctx, n.URL("/api/tiers"), p.Test.PublishableKey, 30*time.Second); err != nil {
				return c, fmt.Errorf("%s: %w", n.Name, err)
			}
		}
	}
	c.defaultTokens = make([]string, m.Users)
	c.strictTokens = make([]string, m.Users)
	for i := range m.Users {
		user := fmt.Sprintf("user_bench_%d", i)
		if c.defaultTokens[i], err = c.Token(c.defaults.Test.PublishableKey, user, "enterprise"); err != nil {
			return c, err
		}
		if c.strictTokens[i], err = c.Token(c.strict.Test.PublishableKey, user, "enterprise"); err != nil {
			return c, err
		}
	}
	return c, nil
}

// serverPIDs are the processes of every node: dream and LiteFS, its parent.
func (c *benchCluster) serverPIDs() ([]int, error) {
	var pids []int
	for _, n := range c.Nodes {
		pid, err := n.DreamPID()
		if err != nil {
			return nil, err
		}
		stat, err := harness.ReadProcStat(pid)
		if err != nil {
			return nil, err
		}
		pids = append(pids, pid, stat.PPID)
	}
	return pids, nil
}

// stop stops the nodes, then the proxies.
func (c *benchCluster) stop() {
	if c.Cluster != nil {
		c.Close()
	}
	for _, p := range c.links {
		p.Close()
	}
}

// waitAnswer polls a keyed GET until it answers 200, for at most within.
func waitAnswer(ctx context.Context, url, publishableKey string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		_, err := call(ctx, http.MethodGet, url, nil, "X-Publishable-Key", publishableKey)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not answering within %s: %w", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// measureDelayedTracks paces tracks at replica-2, whose every request to
// the primary is delayed, first with the default project (the unit is
// acknowledged at the replica and shipped later) and then with the strict
// one (each track waits for the primary). Both run at the same rate, with
// workers enough for the slow one, so their latencies compare. The goal is
// their ratio, not the edge's p99 alone: an absolute latency measured on a
// shared machine says as much about the machine as about the code, while
// two rows of one run share the machine.
func (m *Main) measureDelayedTracks(ctx context.Context, c *benchCluster, servers []int) error {
	l := m.pacedLoad(servers)
	node := fmt.Sprintf("%s (+%s)", c.replica2.Name, m.Delay)
	edgeReqs, err := routeTrack.requests(ctx, l.Workers, "http://"+c.replica2.Addr, c.defaults.Test.PublishableKey, c.defaultTokens)
	if err != nil {
		return err
	}
	rate := m.pacedScenario()
	edge := m.drive(ctx, LoadRow{Scenario: rate + ", edge-acknowledged", Node: node}, l, edgeReqs)
	syncReqs, err := routeTrack.requests(ctx, l.Workers, "http://"+c.replica2.Addr, c.strict.Test.PublishableKey, c.strictTokens)
	if err != nil {
		return err
	}
	sync := m.drive(ctx, LoadRow{Scenario: rate + ", synchronous (strict)", Node: node}, l, syncReqs)
	edgeP99, syncP99 := milliseconds(edge.Result.Latency.Percentile(0.99)), milliseconds(sync.Result.Latency.Percentile(0.99))
	if syncP99 > 0 {
		m.report.AddFigure(Figure{Name: "edge-acknowledged p99 ÷ synchronous p99, " + node, Value: edgeP99 / syncP99, Unit: "ratio",
			Target: atMost("", edgeOverSyncGoal, "ratio"), Note: "the two rows above, at the same rate"})
		m.report.AddMetric("edge_over_sync_p99", fmt.Sprintf("%.4f", edgeP99/syncP99))
	}
	m.report.AddMetric("edge_track_p99_ms_delayed", fmt.Sprintf("%.2f", edgeP99))
	m.report.AddMetric("sync_track_p99_ms_delayed", fmt.Sprintf("%.2f", syncP99))
	return c.drainOutboxes(ctx)
}

// edgeOverSyncGoal is the most an edge-acknowledged track's p99 may be of
// a synchronous one's at a replica whose primary is -delay away.
const edgeOverSyncGoal = 0.05

// Increments of three emulated edges: each sends batches of incrementBatch
// units over incrementUsers end users straight to the primary's internal
// write endpoint, as a node's outbox shipper does.
const (
	incrementEdges = 3
	incrementBatch = 1000
	incrementUsers = 1000
)

// measureIncrements has three emulated edges send batches of units to the
// primary for a warm-up and a window, then checks in the primary's
// database that exactly the units it said it applied were counted.
func (m *Main) measureIncrements(ctx context.Context, c *benchCluster) error {
	env := c.defaults.Test.EnvironmentID
	const sumQuery = `SELECT COALESCE(SUM(count), 0) FROM usage_counters WHERE environment_id = ? AND user_id LIKE 'user_increments_%'`
	before, err := queryInt(c.primary.DB(), sumQuery, env)
	if err != nil {
		return err
	}
	m.progress("increments: %d edges sending batches of %d, %s", incrementEdges, incrementBatch, m.Warmup+m.Window)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := time.Now()
	from, until := start.Add(m.Warmup), start.Add(m.Warmup+m.Window)
	var total, measured atomic.Int64
	var firstError atomic.Value
	var wg sync.WaitGroup
	for e := range incrementEdges {
		wg.Go(func() {
			client := forward.NewClient(harness.ClusterSecret, "", time.Now, logger)
			node := fmt.Sprintf("bench-edge-%d", e+1)
			var seq int64
			for time.Now().Before(until) && ctx.Err() == nil {
				batch := dream.ApplyIncrements{NodeID: node, Items: make([]dream.Increment, incrementBatch)}
				at := time.Now().UnixMilli()
				for i := range batch.Items {
					seq++
					batch.Items[i] = dream.Increment{Seq: seq, EnvironmentID: env, Plan: "enterprise", At: at,
						UserID: fmt.Sprintf("user_increments_%d", (int(seq)+e*incrementUsers/incrementEdges)%incrementUsers)}
				}
				var applied dream.IncrementsApplied
				_, err := client.Send(ctx, c.primary.Addr, batch, &applied)
				if err != nil {
					firstError.CompareAndSwap(nil, fmt.Sprintf("%s: %v", node, err))
					return
				}
				total.Add(int64(applied.Applied))
				if answered := time.Now(); !answered.Before(from) && answered.Before(until) {
					measured.Add(int64(applied.Applied))
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if e := firstError.Load(); e != nil {
		m.report.Problem("increments: %s", e)
	}
	perSecond := float64(measured.Load()) / m.Window.Seconds()
	m.report.AddFigure(Figure{Name: "increments/s applied by the primary", Value: perSecond, Unit: "/s",
		Target: atLeast("", 20_000, "/s"), Note: fmt.Sprintf("%d edges, batches of %d units over %d users, through LiteFS", incrementEdges, incrementBatch, incrementUsers)})
	m.report.AddMetric("primary_increments_per_s", fmt.Sprintf("%.0f", perSecond))
	after, err := queryInt(c.primary.DB(), sumQuery, env)
	if err != nil {
		return err
	}
	if after-before != total.Load() {
		m.report.Problem("increments: the primary answered %d units applied, but its counters grew by %d", total.Load(), after-before)
	}
	return nil
}

// Replication samples: at most replicationSamples writes, for at most
// replicationWithin.
const (
	replicationSamples = 300
	replicationWithin  = 15 * time.Second
	// positionPoll is how often a replica's position is read.
	positionPoll = 500 * time.Microsecond
	// caughtUpWithin bounds the wait for one write at the replicas.
	caughtUpWithin = 5 * time.Second
)

// measureReplication makes one write at a time at the primary (a track of
// the strict project, which commits before it answers), reads the
// primary's position right after the answer, and times how long each
// replica's copy takes to reach it.
func (m *Main) measureReplication(ctx context.Context, c *benchCluster) error {
	m.progress("replication lag: up to %d writes in %s", replicationSamples, replicationWithin)
	replicas := []*harness.Node{c.replica1, c.replica2}
	var mounts []*store.LiteFS
	for _, n := range append([]*harness.Node{c.primary}, replicas...) {
		fs := store.DetectLiteFS(n.DB())
		if fs == nil {
			return fmt.Errorf("%s: %s is not on a LiteFS mount", n.Name, n.DB())
		}
		mounts = append(mounts, fs)
	}
	primaryFS, replicaFS := mounts[0], mounts[1:]
	lags := make([]Histogram, len(replicas))
	var all Histogram
	client := &http.Client{Timeout: requestTimeout}
	deadline := time.Now().Add(replicationWithin)
	for i := 0; i < replicationSamples && time.Now().Before(deadline); i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.primary.URL("/api/data"), nil)
		if err != nil {
			return err
		}
		req.Header.Set("X-Publishable-Key", c.strict.Test.PublishableKey)
		req.Header.Set("X-Clerk-Token", c.strictTokens[i%len(c.strictTokens)])
		if _, failure := send(client, req); failure != "" {
			m.report.Problem("replication: the write at the primary failed: %s", failure)
			return nil
		}
		answered := time.Now()
		target, err := primaryFS.Position()
		if err != nil {
			return err
		}
		pending := len(replicaFS)
		seen := make([]bool, len(replicaFS))
		for pending > 0 {
			for r, fs := range replicaFS {
				if seen[r] {
					continue
				}
				pos, err := fs.Position()
				if err != nil {
					return err
				}
				if pos >= target {
					seen[r] = true
					pending--
					lag := time.Since(answered)
					lags[r].Record(lag)
					all.Record(lag)
				}
			}
			if time.Since(answered) > caughtUpWithin {
				m.report.Problem("replication: a replica had not reached position %s %s after the write", target, caughtUpWithin)
				return nil
			}
			time.Sleep(positionPoll)
		}
	}
	for r, n := range replicas {
		m.report.AddFigure(Figure{Name: "replication lag p50 at " + n.Name, Value: milliseconds(lags[r].Percentile(0.5)), Unit: "ms",
			Note: fmt.Sprintf("%d writes at the primary, position polled every %s", lags[r].Count(), positionPoll)})
		m.report.AddFigure(Figure{Name: "replication lag p99 at " + n.Name, Value: milliseconds(lags[r].Percentile(0.99)), Unit: "ms"})
	}
	p99 := milliseconds(all.Percentile(0.99))
	m.report.AddFigure(Figure{Name: "replication lag p99, both replicas", Value: p99, Unit: "ms", Target: atMost("", 100, "ms")})
	m.report.AddMetric("replication_p99_ms", fmt.Sprintf("%.2f", p99))
	return nil
}

// Overshoot: overshootUsers fresh users on the free tier, each tracked at
// every node at once by overshootWorkers workers per node until every
// worker has been refused.
const (
	overshootUsers   = 20
	overshootWorkers = 2
	freeLimit        = 100
	overshootWithin  = 30 * time.Second
)

// measureOvershoot drives concurrent tracks of the same users at all three
// nodes until all of them refuse, lets the outboxes drain, and compares
// each user's final count at the primary with the limit: the units nodes
// acknowledged before they saw each other's. It also checks that the count
// is exactly the units acknowledged.
func (m *Main) measureOvershoot(ctx context.Context, c *benchCluster) error {
	m.progress("overshoot: %d free users tracked at %d nodes at once", overshootUsers, len(c.Nodes))
	run := time.Now().UnixNano()
	users := make([]string, overshootUsers)
	acknowledged := make([]atomic.Int64, overshootUsers)
	var failures atomic.Int64
	var firstFailure atomic.Value
	ctx, cancel := context.WithTimeout(ctx, overshootWithin)
	defer cancel()
	client := newClient(overshootUsers * len(c.Nodes) * overshootWorkers)
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for u := range users {
		users[u] = fmt.Sprintf("user_overshoot_%d_%d", run, u)
		token, err := c.Token(c.defaults.Test.PublishableKey, users[u], "free")
		if err != nil {
			return err
		}
		for _, n := range c.Nodes {
			for range overshootWorkers {
				wg.Go(func() {
					for i := 0; i < 10*freeLimit && ctx.Err() == nil; i++ {
						req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.URL("/api/data"), nil)
						req.Header.Set("X-Publishable-Key", c.defaults.Test.PublishableKey)
						req.Header.Set("X-Clerk-Token", token)
						status, failure := send(client, req)
						switch {
						case status == http.StatusOK:
							acknowledged[u].Add(1)
						case status == http.StatusForbidden && strings.Contains(failure, "limit"):
							return
						case ctx.Err() != nil:
							return
						default:
							failures.Add(1)
							firstFailure.CompareAndSwap(nil, n.Name+": "+failure)
							return
						}
					}
				})
			}
		}
	}
	wg.Wait()
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	if n := failures.Load(); n > 0 {
		m.report.Problem("overshoot: %d tracks failed; the first: %s", n, firstFailure.Load())
	}
	if err := c.drainOutboxes(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	var worst, sum int64
	for u, user := range users {
		count, err := queryInt(c.primary.DB(), `SELECT count FROM usage_counters WHERE environment_id = ? AND user_id = ?`,
			c.defaults.Test.EnvironmentID, user)
		if err != nil {
			return fmt.Errorf("the count of %s: %w", user, err)
		}
		if a := acknowledged[u].Load(); count != a {
			m.report.Problem("overshoot: %s had %d tracks acknowledged but the primary counted %d", user, a, count)
		}
		over := max(count-freeLimit, 0)
		worst = max(worst, over)
		sum += over
	}
	mean := float64(sum) / float64(len(users))
	note := fmt.Sprintf("%d users at limit %d, %d workers per node at %d nodes", overshootUsers, freeLimit, overshootWorkers, len(c.Nodes))
	m.report.AddFigure(Figure{Name: "overshoot past the limit, max", Value: float64(worst), Note: note})
	m.report.AddFigure(Figure{Name: "overshoot past the limit, mean", Value: mean, Note: fmt.Sprintf("%.2f units", mean)})
	m.report.AddMetric("overshoot_max", fmt.Sprintf("%d", worst))
	return nil
}

// outboxDrainWithin bounds the wait for the nodes to ship their units.
const outboxDrainWithin = 30 * time.Second

// drainOutboxes waits until no node has a unit it has not shipped, so that
// the primary's counts are final and the next measurement starts quiet.
func (c *benchCluster) drainOutboxes(ctx context.Context) error {
	deadline := time.Now().Add(outboxDrainWithin)
	for _, n := range c.Nodes {
		for {
			pending, err := queryInt(n.Outbox(), `SELECT COUNT(*) FROM outbox`)
			if err == nil && pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s's outbox still holds %d units after %s (error: %v)", n.Name, pending, outboxDrainWithin, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// queryInt reads one number from the SQLite file at path, opened read-only
// beside the dream that writes it.
func queryInt(path, query string, args ...any) (int64, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return n, nil
}

// delayProxy is a reverse proxy to the primary's dream that holds every
// request for a fixed delay before passing it on, as a distant primary
// would.
type delayProxy struct {
	listener net.Listener
	server   *http.Server
	target   atomic.Pointer[url.URL]
}

// newDelayProxy starts a proxy on loopback; it answers 502 until its
// target is set.
func newDelayProxy(delay time.Duration) (*delayProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{listener: l}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			if t := p.target.Load(); t != nil {
				r.SetURL(t)
			}
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute},
		ErrorLog:  slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
	}
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go p.server.Serve(l)
	return p, nil
}

// Addr is the host:port the proxy listens on.
func (p *delayProxy) Addr() string { return p.listener.Addr().String() }

// SetTarget sends every request on to addr.
func (p *delayProxy) SetTarget(addr string) { p.target.Store(&url.URL{Scheme: "http", Host: addr}) }

// Close stops the proxy.
func (p *delayProxy) Close() error { return p.server.Close() }
