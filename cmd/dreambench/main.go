// Command dreambench measures Dream API end to end on this machine, in one
// invocation, as `make bench` runs it (docs/BENCHMARKS.md):
//
//   - a bare net/http server answering a fixed JSON body the size of the
//     tiers answer, the ceiling every other figure is a ratio of;
//   - `dream dev`, a single node: tiers, usage check and track;
//   - a LiteFS cluster of a primary and two replicas: the same routes at a
//     replica and at the primary, track at a replica whose link to the
//     primary is delayed (usage acknowledged at the edge next to synchronous
//     forwarding), increments per second the primary applies for three
//     edges, replication lag, and how far concurrent tracks at every node
//     overshoot a limit;
//   - `dream dev` with the memory budget of the fly.toml Machine, at 256
//     end users, at 100,000 and at users drawn at random from 1,000,000:
//     throughput and p99 as ratios to the few users', the collector's
//     share of its CPU, bytes read and written per track, its memory
//     against the budget, and how soon it is warm again after a restart
//     (scale.go).
//
// Every server runs as its own process on the same cores as the load
// generator, and every run is bounded in time and in count. The tables show
// each target and by how much a miss misses; the last lines are the
// headline figures as "metric <name> <value>".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == bareCommand {
		if err := serveBare(ctx, os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bare server:", err)
			os.Exit(1)
		}
		return
	}
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	err := m.Run(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dreambench:", err)
		os.Exit(1)
	}
}

// Main is the whole bench, configured by ParseFlags; Run measures and
// prints, Close removes what Run left behind.
type Main struct {
	// Dream is the dream binary under test.
	Dream string
	// Workers is the concurrency of every load run, Warmup and Window its
	// phases, MaxRequests the count that ends a window early.
	Workers     int
	Warmup      time.Duration
	Window      time.Duration
	MaxRequests uint64
	// Users is how many end users' tokens the user routes go round.
	Users int
	// Delay is what the proxy between replica-2 and the primary adds to
	// every request, and DelayedRate the pace of tracks sent to replica-2
	// to measure their latency under it.
	Delay       time.Duration
	DelayedRate float64
	// PacedWindow is the measuring window of the paced rows: a p99 over
	// 4 s at 200/s is the 8th slowest of 800 tracks, and one hiccup of the
	// machine moves it.
	PacedWindow time.Duration
	// Single runs the bare server and the single node's section, Cluster
	// the LiteFS section.
	Single  bool
	Cluster bool
	// Scale runs the scale section: ScaleUsers end users, then
	// ScaleRequests requests of each route from users drawn at random from
	// ScalePopulation.
	Scale           bool
	ScaleUsers      int
	ScalePopulation int
	ScaleRequests   uint64

	Stdout io.Writer
	// Stderr receives progress while the bench runs.
	Stderr io.Writer

	// dir holds the data and logs of every server of the run; keep says
	// they stay for a look, as a failed run or -keep leaves them.
	dir    string
	keep   bool
	report Report
	// bare is the mean req/s of the bare runs, the denominator of the
	// cluster rows' ratios.
	bare float64
	// peakRSS is the largest VmHWM of any dream process, in bytes.
	peakRSS int64
}

// ParseFlags reads the configuration from the command line.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("dreambench", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.StringVar(&m.Dream, "dream", "bin/dream", "the dream binary to measure")
	fs.IntVar(&m.Workers, "workers", 32, "concurrent keep-alive clients of every load run")
	fs.DurationVar(&m.Warmup, "warmup", time.Second, "warm-up of every load run, not measured")
	fs.DurationVar(&m.Window, "window", 4*time.Second, "measuring window of every load run")
	fs.Uint64Var(&m.MaxRequests, "max-requests", 2_000_000, "requests that end a measuring window early")
	fs.IntVar(&m.Users, "users", 256, "end users whose tokens the user routes go round")
	fs.DurationVar(&m.Delay, "delay", 100*time.Millisecond, "delay the proxy adds between replica-2 and the primary")
	fs.Float64Var(&m.DelayedRate, "delayed-rate", 200, "tracks per second sent to replica-2 behind the delay")
	fs.DurationVar(&m.PacedWindow, "paced-window", 10*time.Second, "measuring window of the paced latency rows")
	fs.BoolVar(&m.Single, "single", true, "measure the bare server and dream dev")
	fs.BoolVar(&m.Cluster, "cluster", true, "measure a LiteFS cluster too (needs root, FUSE and litefs)")
	fs.BoolVar(&m.keep, "keep", false, "keep the servers' data and logs, which a run removes unless it fails")
	fs.BoolVar(&m.Scale, "scale", true, "measure a node of the fly.toml Machine's memory with many end users too")
	fs.IntVar(&m.ScaleUsers, "scale-users", 100_000, "end users of the scale section's warm rows")
	fs.IntVar(&m.ScalePopulation, "scale-population", 1_000_000, "end users the scale section's random rows draw from")
	fs.Uint64Var(&m.ScaleRequests, "scale-requests", 16_000, "requests of each of the scale section's random rows")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: dreambench [flags]\n\nMeasures dream against a bare net/http server on this machine (docs/BENCHMARKS.md).\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Parse has said what was wrong with a flag; these are said the same
	// way.
	var err error
	if fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %v", fs.Args())
	} else if m.Workers < 1 || m.Users < 1 || m.Window <= 0 || m.DelayedRate <= 0 || m.PacedWindow <= 0 {
		err = fmt.Errorf("-workers, -users, -window, -delayed-rate and -paced-window must be positive")
	} else if m.Cluster && !m.Single {
		err = fmt.Errorf("-cluster needs -single: the cluster's ratios are over the bare runs of the single node's section")
	} else if m.Scale && (m.ScaleUsers < m.Users || m.ScalePopulation < m.ScaleUsers || m.ScaleRequests < 1) {
		err = fmt.Errorf("-scale-users must be at least -users, -scale-population at least -scale-users, -scale-requests positive")
	}
	if err != nil {
		fmt.Fprintln(fs.Output(), err)
		fs.Usage()
	}
	return err
}

// Run measures everything and prints the report. It fails when a server
// cannot be started or a measurement cannot be trusted, after printing
// what it measured.
func (m *Main) Run(ctx context.Context) (err error) {
	start := time.Now()
	if _, err := os.Stat(m.Dream); err != nil {
		return fmt.Errorf("the dream binary: %w (make build)", err)
	}
	if m.dir, err = os.MkdirTemp("", "dreambench-"); err != nil {
		return err
	}
	defer func() {
		// The servers' logs say why a run failed; an interrupted run
		// leaves nothing behind.
		if err != nil && ctx.Err() == nil {
			m.keep = true
			err = fmt.Errorf("%w (the servers' logs are kept in %s)", err, m.dir)
		}
	}()
	// The figures are ratios measured in one run: other work on the
	// machine skews them.
	if busy, err := cpuBusy(ctx, time.Second); err != nil {
		return err
	} else if busy > maxBusy {
		m.progress("the machine is %.0f%% busy before the run", 100*busy)
		m.report.Note("the CPU was %.0f%% busy in the second before the run: other work skews these figures", 100*busy)
	}
	if m.Single {
		if err := m.runSingleNode(ctx); err != nil {
			return err
		}
	}
	if m.Cluster {
		if err := m.runCluster(ctx); err != nil {
			return err
		}
	}
	if m.Scale {
		if err := m.runScale(ctx); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.Single || m.Cluster {
		m.report.AddFigure(Figure{Name: "peak RSS of a dream process", Value: float64(m.peakRSS) / (1 << 20), Unit: "MB",
			Target: atMost("", 150, "MB"), Note: "largest VmHWM of the dream processes of the single node's and the cluster's sections"})
		m.report.AddMetric("rss_mb_peak", fmt.Sprintf("%.1f", float64(m.peakRSS)/(1<<20)))
	}
	m.progress("done in %s", time.Since(start).Round(time.Second))
	fmt.Fprintln(m.Stdout)
	m.report.Print(m.Stdout)
	if n := len(m.report.Problems); n > 0 {
		return fmt.Errorf("%d measurements cannot be trusted (see PROBLEM above)", n)
	}
	return nil
}

// maxBusy is the share of the CPU other work may take before a run without
// a note that the figures are skewed.
const maxBusy = 0.1

// Close removes the run's data, unless a failed run keeps it for its logs.
func (m *Main) Close() error {
	if m.dir == "" {
		return nil
	}
	if m.keep {
		fmt.Fprintf(m.Stderr, "» the servers' data and logs are in %s\n", m.dir)
		return nil
	}
	return os.RemoveAll(m.dir)
}

// runSingleNode measures the bare server and `dream dev`.
func (m *Main) runSingleNode(ctx context.Context) error {
	m.progress("starting dream dev")
	// The rate limit is off, so that the load measures the API and not
	// the limiter.
	dev, err := startDev(ctx, m.Dream, m.dir, "dev", "--rate-limit", "0")
	if err != nil {
		return err
	}
	defer dev.proc.Stop()
	size, err := dev.tiersSize(ctx)
	if err != nil {
		return err
	}
	tokens, err := dev.tokens(ctx, m.Users, "enterprise")
	if err != nil {
		return err
	}

	// The bare server runs before each dream row and once more after the
	// last, and each ratio is over the mean of the bare runs on either
	// side of its row: this machine has slow spells of tens of seconds,
	// and a ratio over one bare run at the start flattered or penalised
	// every row after it (0.87 or 0.49 for usage checks, against 0.63-0.64
	// in the runs around them).
	first, err := m.driveBare(ctx, size, "", true)
	if err != nil {
		return err
	}
	bares := []float64{first}
	for i, r := range []struct {
		route  route
		target *Target
	}{
		{routeTiers, atLeast("ratio", 0.6, "ratio")},
		{routeUsage, atLeast("ratio", 0.6, "ratio")},
		{routeTrack, atLeast("ratio", 0.4, "ratio")},
	} {
		reqs, err := r.route.requests(ctx, m.Workers, dev.base, dev.publishableKey, tokens)
		if err != nil {
			return err
		}
		m.drive(ctx, LoadRow{Scenario: r.route.name, Node: "single (dev)", Target: r.target}, m.load([]int{dev.proc.Pid()}), reqs)
		row := len(m.report.Loads) - 1
		after, err := m.driveBare(ctx, size, ", after "+r.route.name, false)
		if err != nil {
			return err
		}
		bares = append(bares, after)
		loads := &m.report.Loads[row]
		loads.Ratio = loads.Result.PerSecond() / ((bares[i] + bares[i+1]) / 2)
		m.report.AddMetric(r.route.metric, fmt.Sprintf("%.2f", loads.Ratio))
	}
	// The cluster's rows, which have no bare run beside them, are over the
	// mean of all of them.
	var sum float64
	for _, b := range bares {
		sum += b
	}
	m.bare = sum / float64(len(bares))
	// The paced tracks the cluster section sends to a delayed replica,
	// here without LiteFS or a primary: what the node alone costs.
	paced := m.pacedLoad([]int{dev.proc.Pid()})
	reqs, err := routeTrack.requests(ctx, paced.Workers, dev.base, dev.publishableKey, tokens)
	if err != nil {
		return err
	}
	m.drive(ctx, LoadRow{Scenario: m.pacedScenario() + ", edge-acknowledged", Node: "single (dev)"}, paced, reqs)
	return m.notePeakRSS("dream dev", dev.proc.Pid())
}

// driveBare starts the bare server answering size bytes, drives it as the
// dream rows are driven, with a paced run too when paced is set, and
// returns its req/s.
func (m *Main) driveBare(ctx context.Context, size int, suffix string, paced bool) (float64, error) {
	bare, base, err := startBare(ctx, m.dir, size)
	if err != nil {
		return 0, err
	}
	defer bare.Stop()
	bareRoute := route{name: "bare", method: http.MethodGet, path: "/"}
	reqs, err := bareRoute.requests(ctx, m.Workers, base, "", nil)
	if err != nil {
		return 0, err
	}
	row := m.drive(ctx, LoadRow{Scenario: fmt.Sprintf("bare net/http (%d-byte body)%s", size, suffix), Node: "bare"}, m.load([]int{bare.Pid()}), reqs)
	if paced {
		// The paced latency rows' floor: the load generator, loopback and
		// net/http at the same pace, with nothing behind the answer.
		l := m.pacedLoad([]int{bare.Pid()})
		if reqs, err = bareRoute.requests(ctx, l.Workers, base, "", nil); err != nil {
			return 0, err
		}
		m.drive(ctx, LoadRow{Scenario: fmt.Sprintf("bare at %s/s", thousands(m.DelayedRate)), Node: "bare"}, l, reqs)
	}
	return row.Result.PerSecond(), bare.Stop()
}

// load is the load run every scenario of the table uses, on the server
// processes servers.
func (m *Main) load(servers []int) Load {
	return Load{Workers: m.Workers, Warmup: m.Warmup, Window: m.Window, MaxRequests: m.MaxRequests, Servers: servers}
}

// pacedLoad is the load of the latency figures: tracks at DelayedRate,
// with workers enough for tracks that wait for a distant primary.
func (m *Main) pacedLoad(servers []int) Load {
	l := m.load(servers)
	l.Rate = m.DelayedRate
	l.Window = m.PacedWindow
	l.Workers = max(m.Workers, int(m.DelayedRate/2)+1)
	return l
}

// pacedScenario names the paced tracks in the table.
func (m *Main) pacedScenario() string {
	return fmt.Sprintf("%s at %s/s", routeTrack.name, thousands(m.DelayedRate))
}

// drive runs a load, adds its row to the report with its ratio to the bare
// server, and returns the row.
func (m *Main) drive(ctx context.Context, row LoadRow, l Load, reqs [][]*http.Request) LoadRow {
	m.settleDisk()
	m.progress("%s at %s: %d workers, %s", row.Scenario, row.Node, l.Workers, l.Warmup+l.Window)
	row.Result = l.Run(ctx, reqs)
	if m.bare > 0 && l.Rate == 0 {
		row.Ratio = row.Result.PerSecond() / m.bare
	}
	m.report.AddLoad(row)
	return row
}

// settleDisk writes out every dirty page of the machine before a row. The
// rows before it leave up to a few hundred MB in the page cache (every
// track is written by SQLite and LiteFS), which the kernel writes back 30 s
// later by default, in the middle of whichever row runs then; a durable
// commit waits behind that writeback. Each row is to measure its own load.
func (m *Main) settleDisk() {
	start := time.Now()
	syscall.Sync()
	if d := time.Since(start); d > 100*time.Millisecond {
		m.progress("sync: %s", d.Round(time.Millisecond))
	}
}

// notePeakRSS keeps the largest peak resident set of the dream processes.
func (m *Main) notePeakRSS(name string, pid int) error {
	rss, err := peakRSS(pid)
	if err != nil {
		return fmt.Errorf("peak RSS of %s: %w", name, err)
	}
	m.progress("%s: peak RSS %.1f MB", name, float64(rss)/(1<<20))
	m.peakRSS = max(m.peakRSS, rss)
	return nil
}

func (m *Main) progress(format string, args ...any) {
	fmt.Fprintf(m.Stderr, "» "+format+"\n", args...)
}

// route is an API call a scenario repeats.
type route struct {
	name, method, path string
	// endUser routes carry an end-user token besides the key.
	endUser bool
	// metric names the headline ratio of the route on a single node.
	metric string
}

// The SDK calls the table measures.
var (
	routeTiers = route{name: "tiers", method: http.MethodGet, path: "/api/tiers", metric: "ratio_tiers"}
	routeUsage = route{name: "usage check", method: http.MethodGet, path: "/api/usage", endUser: true, metric: "ratio_usage_check"}
	routeTrack = route{name: "track", method: http.MethodPost, path: "/api/data", endUser: true, metric: "ratio_track_single"}
)

// requests builds each worker's requests of the route at base. Worker w
// goes round tokens w, w+workers, w+2·workers…, so that all the users are
// in use and no two workers share one.
func (r route) requests(ctx context.Context, workers int, base, publishableKey string, tokens []string) ([][]*http.Request, error) {
	all := make([][]*http.Request, workers)
	for w := range all {
		var mine []string
		for i := w; r.endUser && i < len(tokens); i += workers {
			mine = append(mine, tokens[i])
		}
		if r.endUser && len(mine) == 0 {
			mine = []string{tokens[w%len(tokens)]}
		}
		for i := 0; i == 0 || i < len(mine); i++ {
			req, err := http.NewRequestWithContext(ctx, r.method, base+r.path, nil)
			if err != nil {
				return nil, err
			}
			if publishableKey != "" {
				req.Header.Set("X-Publishable-Key", publishableKey)
			}
			if r.endUser {
				req.Header.Set("X-Clerk-Token", mine[i])
			}
			all[w] = append(all[w], req)
		}
	}
	return all, nil
}
