package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dream-api/dream/e2e/harness"
)

// The scale section runs one `dream dev` node with the memory budget of the
// fly.toml Machine under the same load from few end users (-users, 256),
// from many (-scale-users, 100,000, fewer than the Machine keeps warm),
// each tracked once as a new user beforehand, and from users drawn at
// random from a population far beyond its caches (-scale-population,
// 1,000,000; -scale-requests of them a row, each most likely new to the
// node). Each end user has one token, reused for every request as a
// browser reuses it. The figures are ratios to the few users' within the
// run: throughput, p99, and what a track costs in bytes read and written,
// with the collector's share of the node's CPU and its peak memory against
// the budget. Last, the node is stopped and started again with the many
// users' state, then killed and started again, and each time timed until
// its throughput is back.

const (
	// scaleBudget is the --memory-budget of the node: what the default
	// share, half, gives the 512 MB Machine of fly.toml.
	scaleBudget      = "256MiB"
	scaleBudgetBytes = 256 << 20
	// scaleMachineBytes is that Machine's memory.
	scaleMachineBytes = 512 << 20
	// scaleRateLimit is the end users' rate limit of the node: on, as in
	// production, so that every request takes from its user's bucket, and
	// high enough that none is refused.
	scaleRateLimit = "1000000"
	// scalePlan is the tokens' plan, an unlimited one, so that no track
	// is refused at a limit.
	scalePlan = "enterprise"
	// scaleWindow bounds the runs at random users, which end at
	// ScaleRequests.
	scaleWindow = 20 * time.Second
	// coldWindow bounds the run after the restart, and coldStep is the
	// resolution of its throughput over time.
	coldWindow = 15 * time.Second
	coldStep   = 250 * time.Millisecond
	// coldShare is the share of the warm throughput the restarted node
	// must reach, and coldGoal how soon.
	coldShare = 0.8
	coldGoal  = 10 * time.Second
	// The targets of docs/BENCHMARKS.md: the many users' throughput, the
	// random users' p99 and the collector's share of the CPU.
	scaleRatioGoal = 0.7
	scaleP99Goal   = 5
	scaleGCGoal    = 0.1
)

// scaleNode is the node of the scale section and what measures it.
type scaleNode struct {
	*devNode
	// metrics is the URL of its Prometheus metrics, and flags what it is
	// started and restarted with.
	metrics string
	flags   []string
	// memory samples what the Go runtime holds while the section runs.
	memory *memorySampler
}

// runScale measures the scale section.
func (m *Main) runScale(ctx context.Context) error {
	metricsAddr, err := harness.FreeAddr()
	if err != nil {
		return err
	}
	n := &scaleNode{metrics: "http://" + metricsAddr + "/metrics",
		flags: []string{"--memory-budget", scaleBudget, "--metrics-addr", metricsAddr, "--rate-limit", scaleRateLimit}}
	m.progress("starting dream dev with a %s memory budget", scaleBudget)
	if n.devNode, err = startDev(ctx, m.Dream, m.dir, "scale", n.flags...); err != nil {
		return err
	}
	defer func() { n.proc.Stop() }()
	n.memory = sampleMemory(n.metrics)
	defer n.memory.Stop()
	signer, err := newDevSigner(ctx, n.devNode, scalePlan)
	if err != nil {
		return err
	}
	users := make([]endUser, m.ScaleUsers)
	for i := range users {
		users[i] = scaleUser(i)
	}
	m.progress("signing the tokens of %s end users", thousands(float64(len(users))))
	signing := time.Now()
	tokens, err := signer.sign(ctx, users)
	if err != nil {
		return err
	}
	m.progress("signed in %s", time.Since(signing).Round(time.Second))
	few, many := tokens[:min(m.Users, len(tokens))], tokens

	// The few users' rows run before and after the many users', and the
	// ratios are over their mean: this machine has slow spells of tens of
	// seconds.
	fewName, manyName := usersName(len(few)), usersName(len(many))
	baseline := map[route][]int{}
	runFew := func() error {
		for _, r := range []route{routeUsage, routeTrack} {
			row, err := n.drive(ctx, m, r, fewName+" users", few, m.scaleLoad(n))
			if err != nil {
				return err
			}
			baseline[r] = append(baseline[r], row)
		}
		return nil
	}
	if err := runFew(); err != nil {
		return err
	}
	// The many users are tracked once each, as users new to the node, and
	// their units applied, before their rows: what those measure is the
	// requests of users the node knows.
	if err := n.seed(ctx, m, many); err != nil {
		return err
	}
	manyRows := map[route]int{}
	for _, r := range []route{routeTrack, routeUsage} {
		l := m.scaleLoad(n)
		l.Cold = true
		row, err := n.drive(ctx, m, r, manyName+" users", many, l)
		if err != nil {
			return err
		}
		manyRows[r] = row
	}
	if err := runFew(); err != nil {
		return err
	}
	warm := map[route]*Result{}
	for _, r := range []route{routeUsage, routeTrack} {
		warm[r] = m.meanResult(baseline[r])
		ratio := m.report.Loads[manyRows[r]].Result.PerSecond() / warm[r].PerSecond()
		m.setScaleRatio(manyRows[r], ratio, atLeast("ratio", scaleRatioGoal, "ratio"), "the few users'")
		m.report.AddMetric(fmt.Sprintf("users_%s_%s_ratio", metricSize(len(many)), r.short()), fmt.Sprintf("%.2f", ratio))
	}
	m.addScaleFigures(fewName+" users", map[route]int{routeUsage: baseline[routeUsage][0], routeTrack: baseline[routeTrack][0]},
		metricSize(len(few)), nil)
	m.addScaleFigures(manyName+" users", manyRows, metricSize(len(many)), atMost("", scaleGCGoal, "ratio"))

	// Users drawn at random from the population: most are new to the
	// node, each a token to verify and a usage to read.
	random := fmt.Sprintf("random of %s users", usersName(m.ScalePopulation))
	randomRows := map[route]int{}
	rng := rand.New(rand.NewPCG(18, 1))
	var worst float64
	seen := map[int]bool{}
	for _, r := range []route{routeUsage, routeTrack} {
		drawn, err := m.drawUsers(ctx, rng, signer, tokens, seen)
		if err != nil {
			return err
		}
		l := m.scaleLoad(n)
		l.Cold, l.Warmup, l.Window, l.MaxRequests = true, 0, scaleWindow, m.ScaleRequests
		row, err := n.drive(ctx, m, r, random, drawn, l)
		if err != nil {
			return err
		}
		randomRows[r] = row
		res := m.report.Loads[row].Result
		m.setScaleRatio(row, res.PerSecond()/warm[r].PerSecond(), nil, "the few users'")
		p99 := milliseconds(res.Latency.Percentile(0.99)) / milliseconds(warm[r].Latency.Percentile(0.99))
		worst = max(worst, p99)
		m.report.AddFigure(Figure{Name: fmt.Sprintf("%s p99, %s ÷ %s users", r.name, random, fewName),
			Value: p99, Unit: "ratio", Target: atMost("", scaleP99Goal, "ratio"), Note: "the scale rows above"})
	}
	population := metricSize(m.ScalePopulation)
	m.report.AddMetric(fmt.Sprintf("users_%s_p99_ratio", population), fmt.Sprintf("%.2f", worst))
	m.addScaleFigures(random, randomRows, population, nil)

	if err := m.noteScaleMemory(n, len(many)+len(seen)); err != nil {
		return err
	}
	return m.measureColdStart(ctx, n, many)
}

// scaleLoad is the load of the scale section's rows.
func (m *Main) scaleLoad(n *scaleNode) Load {
	l := m.load([]int{n.proc.Pid()})
	l.Metrics = []string{n.metrics}
	return l
}

// drive runs route with the end users' tokens, one row of the table, and
// waits until the node has shipped every unit it acknowledged, so that the
// next row starts quiet. It returns the row's index in the report.
func (n *scaleNode) drive(ctx context.Context, m *Main, r route, users string, tokens []string, l Load) (int, error) {
	reqs, err := r.requests(ctx, l.Workers, n.base, n.publishableKey, tokens)
	if err != nil {
		return 0, err
	}
	m.drive(ctx, LoadRow{Scenario: r.name + ", " + users, Node: "scale (dev, " + scaleBudget + ")"}, l, reqs)
	row := len(m.report.Loads) - 1
	// Its ratio is to the few users', not to the bare server.
	m.report.Loads[row].Ratio = 0
	if r == routeTrack {
		return row, n.waitApplied(ctx)
	}
	return row, nil
}

// applyWithin bounds how long the node may take to apply the units it
// acknowledged in a row, or while seeding: the primary adds a new end user
// at a time.
const applyWithin = 3 * time.Minute

// seed tracks each of the users once, as users new to the node, and waits
// until the node has applied their units.
func (n *scaleNode) seed(ctx context.Context, m *Main, tokens []string) error {
	reqs, err := routeTrack.requests(ctx, m.Workers, n.base, n.publishableKey, tokens)
	if err != nil {
		return err
	}
	m.progress("tracking %s new end users once each", thousands(float64(len(tokens))))
	client := newClient(m.Workers)
	defer client.CloseIdleConnections()
	start := time.Now()
	if errors, first := sendEach(client, m.Workers, reqs); errors > 0 {
		return fmt.Errorf("%d of the %d first tracks failed; the first: %s", errors, len(tokens), first)
	}
	tracked := time.Since(start)
	if err := n.waitApplied(ctx); err != nil {
		return err
	}
	m.progress("tracked in %s, all applied after %s", tracked.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// waitApplied waits until the node's outbox is empty, for at most
// applyWithin.
func (n *scaleNode) waitApplied(ctx context.Context) error {
	path := filepath.Join(n.data, "outbox.db")
	deadline := time.Now().Add(applyWithin)
	for {
		pending, err := queryInt(path, `SELECT COUNT(*) FROM outbox`)
		if err == nil && pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the scale node's outbox still holds %d units after %s (error: %v)", pending, applyWithin, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// setScaleRatio gives a row its ratio to the throughput of the row named
// by to, and a target.
func (m *Main) setScaleRatio(row int, ratio float64, target *Target, to string) {
	r := &m.report.Loads[row]
	r.Ratio, r.Target = ratio, target
	r.Scenario += " (ratio to " + to + ")"
}

// addScaleFigures adds the collector's share of the CPU in the rows and
// what a track read and wrote.
func (m *Main) addScaleFigures(users string, rows map[route]int, size string, gcTarget *Target) {
	var worstGC float64
	measured := true
	for _, r := range []route{routeUsage, routeTrack} {
		server := m.report.Loads[rows[r]].Result.Server
		if server.Busy <= 0 {
			measured = false
			continue
		}
		share := server.GCShare()
		worstGC = max(worstGC, share)
		m.report.AddFigure(Figure{Name: fmt.Sprintf("collector's share of the node's CPU, %s, %s", r.name, users), Value: share, Unit: "ratio",
			Target: gcTarget, Note: "go_cpu_classes: gc_total ÷ (total − idle), in the window"})
	}
	if measured {
		m.report.AddMetric(fmt.Sprintf("users_%s_gc_share", size), fmt.Sprintf("%.3f", worstGC))
	} else {
		m.report.Note("the collector's share of the CPU at %s was not measured: the node serves no go_cpu_classes metrics", users)
	}
	tracks := m.report.Loads[rows[routeTrack]].Result
	if tracks.Requests == 0 {
		return
	}
	per := func(n int64) float64 { return float64(n) / float64(tracks.Requests) }
	io := tracks.Server.IO
	m.report.AddFigure(Figure{Name: "bytes written per track, " + users, Value: per(io.Written), Unit: "B",
		Note: fmt.Sprintf("wchar of /proc/<pid>/io in the window; %s B to storage (write_bytes)", thousands(per(io.StorageWritten)))})
	m.report.AddFigure(Figure{Name: "bytes read per track, " + users, Value: per(io.Read), Unit: "B",
		Note: fmt.Sprintf("rchar of /proc/<pid>/io in the window; %s B from storage (read_bytes)", thousands(per(io.StorageRead)))})
	m.report.AddMetric("track_written_bytes_"+size, fmt.Sprintf("%.0f", per(io.Written)))
	m.report.AddMetric("track_read_bytes_"+size, fmt.Sprintf("%.0f", per(io.Read)))
}

// drawUsers draws a request's worth of end users at random from the
// population for every request of a run, with some to spare for workers
// that answer faster, and returns their tokens: those of the first users,
// signed already, and new ones for the others, whose numbers it adds to
// seen.
func (m *Main) drawUsers(ctx context.Context, rng *rand.Rand, signer *devSigner, signed []string, seen map[int]bool) ([]string, error) {
	draws := int(m.ScaleRequests + m.ScaleRequests/10)
	tokens := make([]string, draws)
	var unsigned []endUser
	var at []int
	for i := range tokens {
		u := rng.IntN(m.ScalePopulation)
		if u < len(signed) {
			tokens[i] = signed[u]
			continue
		}
		seen[u] = true
		unsigned = append(unsigned, scaleUser(u))
		at = append(at, i)
	}
	m.progress("signing the tokens of %s users drawn at random", thousands(float64(len(unsigned))))
	fresh, err := signer.sign(ctx, unsigned)
	if err != nil {
		return nil, err
	}
	for i, t := range fresh {
		tokens[at[i]] = t
	}
	return tokens, nil
}

// noteScaleMemory adds the node's peak resident set and the most the Go
// runtime held, each against the budget, and how many end users its
// caches keep against how many it saw.
func (m *Main) noteScaleMemory(n *scaleNode, users int) error {
	rss, err := peakRSS(n.proc.Pid())
	if err != nil {
		return fmt.Errorf("peak RSS of the scale node: %w", err)
	}
	held := n.memory.Peak()
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	m.report.AddFigure(Figure{Name: "most memory the Go runtime held, scale node", Value: mb(held), Unit: "MB",
		Target: atMost("", mb(scaleBudgetBytes), "MB"), Note: "go_memstats_sys_bytes − heap released, sampled every " + memorySampleEvery.String() + "; the budget is its soft limit"})
	m.report.AddFigure(Figure{Name: "peak RSS, scale node", Value: mb(rss), Unit: "MB",
		Target: atMost("", mb(scaleMachineBytes), "MB"), Note: fmt.Sprintf("VmHWM: %.2f× the %s budget; the target is the fly.toml Machine", float64(rss)/scaleBudgetBytes, scaleBudget)})
	m.report.AddMetric("scale_rss_mb_peak", fmt.Sprintf("%.1f", mb(rss)))
	m.report.AddMetric("scale_go_memory_mb_peak", fmt.Sprintf("%.1f", mb(held)))
	kept, err := cachedEndUsers(n.proc.log.Name())
	if err != nil {
		return err
	}
	m.report.AddFigure(Figure{Name: "end users the node saw, scale node", Value: float64(users),
		Note: fmt.Sprintf("its caches keep %s (its log's cached_end_users)", thousands(float64(kept)))})
	return nil
}

// cachedEndUsers reads how many end users a node's caches keep from the
// "memory budget" line of its log.
func cachedEndUsers(logPath string) (int, error) {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return 0, err
	}
	match := regexp.MustCompile(`cached_end_users=(\d+)`).FindSubmatch(b)
	if match == nil {
		return 0, fmt.Errorf("%s has no cached_end_users", logPath)
	}
	return strconv.Atoi(string(match[1]))
}

// measureColdStart restarts the node on its data and sends the many users'
// usage checks at once, each user in turn, and times how long the
// throughput takes to reach coldShare of warm's, from the restart: first after a stop, which lets the node save what it keeps
// of its end users, then after a crash, which does not. Warm's is measured
// right before the first restart: this machine's speed drifts by a fifth
// and more over the minutes since the many users' rows.
func (m *Main) measureColdStart(ctx context.Context, n *scaleNode, tokens []string) error {
	l := m.scaleLoad(n)
	l.Cold = true
	row, err := n.drive(ctx, m, routeUsage, fmt.Sprintf("%s users, before the restart", usersName(len(tokens))), tokens, l)
	if err != nil {
		return err
	}
	warm := m.report.Loads[row].Result.PerSecond()
	for _, restart := range []struct {
		name, metric string
		stop         func() error
		target       *Target
	}{
		{"a restart", "cold_start_s", n.proc.Stop, atMost("", coldGoal.Seconds(), "s")},
		{"a crash", "crash_start_s", func() error { n.proc.Kill(); return nil }, nil},
	} {
		m.progress("%s of the scale node", restart.name)
		if err := restart.stop(); err != nil {
			return err
		}
		n.memory.Stop()
		started := time.Now()
		dev, err := startDev(ctx, m.Dream, m.dir, "scale", n.flags...)
		if err != nil {
			return err
		}
		n.devNode = dev
		answering := time.Since(started)
		l := m.scaleLoad(n)
		l.Cold, l.Warmup, l.Window, l.Step, l.MaxRequests = true, 0, coldWindow, coldStep, m.MaxRequests
		row, err := n.drive(ctx, m, routeUsage, fmt.Sprintf("%s users, after %s", usersName(len(tokens)), restart.name), tokens, l)
		if err != nil {
			return err
		}
		m.setScaleRatio(row, m.report.Loads[row].Result.PerSecond()/warm, nil, "before the restart")
		steps := m.report.Loads[row].Result.Steps
		m.progress("answers in each second after %s: %s (warm: %s)", restart.name, perSecond(steps, coldStep), thousands(warm))
		if server := m.report.Loads[row].Result.Server; server.Busy > 0 {
			m.report.AddFigure(Figure{Name: fmt.Sprintf("collector's share of the node's CPU, usage check, after %s", restart.name),
				Value: server.GCShare(), Unit: "ratio", Note: "go_cpu_classes: gc_total ÷ (total − idle), in the window"})
		}
		reached, ok := rampTime(steps, coldStep, coldShare*warm)
		note := fmt.Sprintf("from the start of the node, which answered after %s", answering.Round(10*time.Millisecond))
		value := answering + reached
		if !ok {
			value = answering + coldWindow
			note = fmt.Sprintf("not reached within the %s run; %s", coldWindow, note)
		}
		m.report.AddFigure(Figure{Name: fmt.Sprintf("time to %.0f%% of warm usage checks after %s, %s users", 100*coldShare, restart.name, usersName(len(tokens))),
			Value: value.Seconds(), Unit: "s", Target: restart.target, Note: note})
		m.report.AddMetric(restart.metric, fmt.Sprintf("%.2f", value.Seconds()))
	}
	return nil
}

// perSecond writes the answers of each whole second of steps (each step
// long).
func perSecond(steps []uint64, step time.Duration) string {
	per := int(time.Second / step)
	var seconds []string
	for i := 0; i+per <= len(steps); i += per {
		var sum uint64
		for _, n := range steps[i : i+per] {
			sum += n
		}
		seconds = append(seconds, thousands(float64(sum)))
	}
	return strings.Join(seconds, " ")
}

// rampTime is the end of the first second of steps (each step long) in
// which the answers reached rate per second.
func rampTime(steps []uint64, step time.Duration, rate float64) (time.Duration, bool) {
	per := int(time.Second / step)
	var sum uint64
	for i, n := range steps {
		sum += n
		if i >= per {
			sum -= steps[i-per]
		}
		if i+1 >= per && float64(sum) >= rate {
			return time.Duration(i+1) * step, true
		}
	}
	return 0, false
}

// meanResult is the rows' results as one: their requests over their
// windows, and their latencies together.
func (m *Main) meanResult(rows []int) *Result {
	r := &Result{}
	for _, i := range rows {
		row := &m.report.Loads[i]
		r.Requests += row.Result.Requests
		r.Elapsed += row.Result.Elapsed
		r.Latency.Merge(&row.Result.Latency)
	}
	return r
}

// short is the route's name in metric names.
func (r route) short() string {
	return map[string]string{routeUsage.name: "usage", routeTrack.name: "track", routeTiers.name: "tiers"}[r.name]
}

// usersName writes a number of users for the table: 100,000.
func usersName(n int) string { return thousands(float64(n)) }

// metricSize writes a number of users for a metric's name: 256, 100k, 1m.
func metricSize(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dm", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%dk", n/1_000)
	}
	return fmt.Sprint(n)
}

// memorySampleEvery is how often the memory sampler scrapes.
const memorySampleEvery = 250 * time.Millisecond

// memorySampler scrapes a node's metrics until stopped and keeps the most
// memory its Go runtime held from the operating system: what the soft
// memory limit bounds.
type memorySampler struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	peak int64
}

// sampleMemory starts sampling the metrics at url.
func sampleMemory(url string) *memorySampler {
	s := &memorySampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		ticker := time.NewTicker(memorySampleEvery)
		defer ticker.Stop()
		for {
			if held, err := scrapeHeld(url); err == nil {
				s.mu.Lock()
				s.peak = max(s.peak, held)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-ticker.C:
			}
		}
	}()
	return s
}

// Peak is the most memory seen held.
func (s *memorySampler) Peak() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Stop ends the sampling; stopping twice is harmless.
func (s *memorySampler) Stop() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// scrapeHeld reads what the Go runtime holds from the operating system,
// go_memstats_sys_bytes less the heap it released, from the metrics at url.
func scrapeHeld(url string) (int64, error) {
	values, err := scrapeValues(url, "go_memstats_sys_bytes", "go_memstats_heap_released_bytes")
	if err != nil {
		return 0, err
	}
	return int64(values[0] - values[1]), nil
}
