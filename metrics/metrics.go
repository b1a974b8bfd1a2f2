// Package metrics is a node's Prometheus metrics: what it serves, how its
// usage reaches the primary, how its caches and limits fare, and where it
// stands in its cluster. docs/OPERATIONS.md says what each one means and
// which alerts to set on them.
//
// It is the one package that knows Prometheus. The others take a *Metrics
// and call its methods, with label values that are the code's own constants
// (a route's pattern, a cache's name, a job's name) and never a request's
// raw path, key or user, so that the number of series stays bounded
// whatever the traffic. Each node, and each node of a test running several
// in one process, has a registry of its own.
//
// A nil *Metrics measures nothing, and the handles it returns are nil too,
// their methods doing nothing: tests that do not look at metrics need not
// make any. What a request records goes through handles bound to their
// labels once, when its route is mounted or its cache made, so the hot path
// pays a few atomic additions and no allocation.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Unmatched is the route label of requests that matched no route: their
// paths are whatever a client sent, so they share one series.
const Unmatched = "unmatched"

// OtherEvent is the type label of webhook events whose type is not one the
// node acts on, and of deliveries whose signature did not verify.
const OtherEvent = "other"

// methods are the request methods counted by name on unmatched requests;
// any other counts as "other", since a client may send any token.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, "other"}

// Buckets. A warm request is answered from memory and a write waits for a
// commit, maybe across regions, so the duration buckets run from 100 µs to
// 10 s; sizes double up past the group commits' and batches' bounds.
var (
	durationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	sizeBuckets     = prometheus.ExponentialBuckets(1, 2, 14) // 1 to 8192
	jobBuckets      = []float64{.001, .01, .1, 1, 10, 60, 300}
)

// cpuClasses adds the Go runtime's estimate of where its CPU time goes
// (go_cpu_classes_*_cpu_seconds_total: user code, the collector, the
// scavenger, idle) to its standard metrics: the collector's share is what
// tells a memory budget too small for the end users a node keeps warm.
var cpuClasses = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/`)}

// Metrics are one node's metrics and the registry that serves them.
type Metrics struct {
	registry *prometheus.Registry

	requests  *prometheus.HistogramVec
	unmatched map[string]*Route

	cacheLookups *prometheus.CounterVec
	refusals     *prometheus.CounterVec

	webhooks     *prometheus.CounterVec
	webhookTypes map[string]bool

	groupCommits *prometheus.HistogramVec
	shipUnits    prometheus.Histogram
	shipDuration *prometheus.HistogramVec
	// shipOK and shipFailed are shipDuration's two series.
	shipOK, shipFailed prometheus.Observer
	unitsApplied       *prometheus.CounterVec
	// appliedBy is unitsApplied's series of each Decider.
	appliedBy map[Decider]prometheus.Counter

	jobRuns        *prometheus.CounterVec
	jobDuration    *prometheus.HistogramVec
	jobLastSuccess *prometheus.GaugeVec
}

// New returns a node's metrics in a registry of their own, with the Go
// runtime's and the process's. webhookTypes are the payment event types
// the node acts on, counted by name; events of any other type count as
// OtherEvent, so that the series stay bounded.
func New(webhookTypes []string) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dream_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern, method and status; its _count is the number of requests.",
			Buckets: durationBuckets,
		}, []string{"route", "method", "status"}),
		cacheLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dream_cache_lookups_total",
			Help: "Lookups in the node's caches, by cache and result (hit or miss).",
		}, []string{"cache", "result"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dream_rate_limit_refusals_total",
			Help: "Requests refused by a rate limit, by limit.",
		}, []string{"limit"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dream_webhook_events_total",
			Help: "Webhook deliveries, by endpoint, event type and outcome.",
		}, []string{"endpoint", "type", "outcome"}),
		webhookTypes: make(map[string]bool, len(webhookTypes)),
		groupCommits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dream_group_commit_size",
			Help:    "Items committed together in one transaction, by loop (primary: writes; outbox: appends and trims).",
			Buckets: sizeBuckets,
		}, []string{"loop"}),
		shipUnits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dream_usage_ship_batch_units",
			Help:    "Usage units in each batch the node shipped to the primary and the primary accepted.",
			Buckets: sizeBuckets,
		}),
		shipDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dream_usage_ship_duration_seconds",
			Help:    "Time to ship a batch of usage units to the primary, by outcome (ok or error).",
			Buckets: durationBuckets,
		}, []string{"outcome"}),
		unitsApplied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dream_usage_units_applied_total",
			Help: "Usage units the primary counted, by where they were decided (node: acknowledged at a node and shipped; primary: strict limits).",
		}, []string{"decided_by"}),
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dream_job_runs_total",
			Help: "Runs of the primary's periodic jobs, by job and outcome (ok or error).",
		}, []string{"job", "outcome"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dream_job_duration_seconds",
			Help:    "Time a run of the primary's periodic jobs took, by job.",
			Buckets: jobBuckets,
		}, []string{"job"}),
		jobLastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dream_job_last_success_timestamp_seconds",
			Help: "When a periodic job last ran without error on this node, in Unix seconds.",
		}, []string{"job"}),
	}
	for _, t := range webhookTypes {
		m.webhookTypes[t] = true
	}
	m.shipOK, m.shipFailed = m.shipDuration.WithLabelValues("ok"), m.shipDuration.WithLabelValues("error")
	m.appliedBy = map[Decider]prometheus.Counter{
		DecidedByNode:    m.unitsApplied.WithLabelValues(string(DecidedByNode)),
		DecidedByPrimary: m.unitsApplied.WithLabelValues(string(DecidedByPrimary)),
	}
	m.unmatched = make(map[string]*Route, len(methods))
	for _, method := range methods {
		m.unmatched[method] = m.Route(method, Unmatched)
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(cpuClasses)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.cacheLookups, m.refusals, m.webhooks,
		m.groupCommits, m.shipUnits, m.shipDuration, m.unitsApplied,
		m.jobRuns, m.jobDuration, m.jobLastSuccess,
	)
	return m
}

// Handler serves the metrics in Prometheus's text format. A metric that
// cannot be read is logged and left out; the others are served.
func (m *Metrics) Handler(logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Route is the request histograms of one route and method.
type Route struct {
	vec           *prometheus.HistogramVec
	route, method string
	// statuses holds the route's histogram of each status it answered,
	// copied on write under mu: a request reads it without a lock, and a
	// route answers only a few statuses.
	statuses atomic.Pointer[[]statusHistogram]
	mu       sync.Mutex
}

type statusHistogram struct {
	status    int
	histogram prometheus.Observer
}

// Route returns the histograms of requests to the route with this
// pattern (httprouter's syntax, "/api/customers/:id") and method.
func (m *Metrics) Route(method, pattern string) *Route {
	if m == nil {
		return nil
	}
	return &Route{vec: m.requests, route: pattern, method: method}
}

// Unmatched returns the histograms of requests with this method that
// matched no route.
func (m *Metrics) Unmatched(method string) *Route {
	if m == nil {
		return nil
	}
	if r, ok := m.unmatched[method]; ok {
		return r
	}
	return m.unmatched["other"]
}

// Observe records a request answered with status after d. Status 0, a
// handler that wrote nothing, is the 200 net/http answers for it.
func (r *Route) Observe(status int, d time.Duration) {
	if r == nil {
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	r.histogram(status).Observe(d.Seconds())
}

func (r *Route) histogram(status int) prometheus.Observer {
	if h := find(r.statuses.Load(), status); h != nil {
		return h
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.statuses.Load()
	if h := find(list, status); h != nil {
		return h
	}
	h := r.vec.WithLabelValues(r.route, r.method, strconv.Itoa(status))
	var grown []statusHistogram
	if list != nil {
		grown = slices.Clip(*list)
	}
	grown = append(grown, statusHistogram{status, h})
	r.statuses.Store(&grown)
	return h
}

func find(list *[]statusHistogram, status int) prometheus.Observer {
	if list == nil {
		return nil
	}
	for _, s := range *list {
		if s.status == status {
			return s.histogram
		}
	}
	return nil
}

// Cache counts the lookups in one cache.
type Cache struct {
	hits, misses prometheus.Counter
}

// Cache returns the lookup counters of the cache with this name.
func (m *Metrics) Cache(name string) *Cache {
	if m == nil {
		return nil
	}
	return &Cache{hits: m.cacheLookups.WithLabelValues(name, "hit"), misses: m.cacheLookups.WithLabelValues(name, "miss")}
}

// Hit counts a lookup that found what it looked for.
func (c *Cache) Hit() {
	if c != nil {
		c.hits.Inc()
	}
}

// Miss counts a lookup that had to read from the source.
func (c *Cache) Miss() {
	if c != nil {
		c.misses.Inc()
	}
}

// RateLimited counts a request refused by the rate limit named limit
// ("end_user", "sign_in"), a constant of the code that refused it.
func (m *Metrics) RateLimited(limit string) {
	if m != nil {
		m.refusals.WithLabelValues(limit).Inc()
	}
}

// Webhook counts a webhook delivery to endpoint ("connect", "platform")
// of an event of eventType, "" when its signature did not verify, with its
// outcome.
func (m *Metrics) Webhook(endpoint, eventType, outcome string) {
	if m == nil {
		return
	}
	if !m.webhookTypes[eventType] {
		eventType = OtherEvent
	}
	m.webhooks.WithLabelValues(endpoint, eventType, outcome).Inc()
}

// Sizes is the histogram of the sizes of one group-commit loop's batches.
type Sizes struct {
	histogram prometheus.Observer
}

// GroupCommit returns the batch sizes of the group-commit loop named loop.
func (m *Metrics) GroupCommit(loop string) *Sizes {
	if m == nil {
		return nil
	}
	return &Sizes{histogram: m.groupCommits.WithLabelValues(loop)}
}

// Observe records a batch of n items.
func (s *Sizes) Observe(n int) {
	if s != nil {
		s.histogram.Observe(float64(n))
	}
}

// Shipped records an attempt to ship a batch of units to the primary that
// took d and failed with err, or succeeded.
func (m *Metrics) Shipped(units int, d time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.shipFailed.Observe(d.Seconds())
		return
	}
	m.shipOK.Observe(d.Seconds())
	m.shipUnits.Observe(float64(units))
}

// Decider is where a usage unit was decided: the values of the
// decided_by label.
type Decider string

const (
	// DecidedByNode is a unit a node acknowledged and shipped.
	DecidedByNode Decider = "node"
	// DecidedByPrimary is a unit of a project with strict limits, which
	// the primary decided.
	DecidedByPrimary Decider = "primary"
)

// UnitsApplied counts n units the primary counted, decided by by.
func (m *Metrics) UnitsApplied(by Decider, n int) {
	if m != nil && n > 0 {
		m.appliedBy[by].Add(float64(n))
	}
}

// JobRan records a run of the periodic job named job from start to end
// that failed with err, or succeeded.
func (m *Metrics) JobRan(job string, start, end time.Time, err error) {
	if m == nil {
		return
	}
	m.jobDuration.WithLabelValues(job).Observe(end.Sub(start).Seconds())
	if err != nil {
		m.jobRuns.WithLabelValues(job, "error").Inc()
		return
	}
	m.jobRuns.WithLabelValues(job, "ok").Inc()
	m.jobLastSuccess.WithLabelValues(job).Set(float64(end.UnixNano()) / 1e9)
}

// scrapeTimeout bounds the reads a scrape makes of the outbox and of the
// replication state.
const scrapeTimeout = 5 * time.Second

// Backlog reads how much a node's outbox holds.
type Backlog interface {
	// Backlog is the number of units the outbox holds and the age of the
	// oldest, zero when it holds none.
	Backlog(ctx context.Context) (units int, oldest time.Duration, err error)
}

// CollectOutbox has every scrape read the outbox's depth and the age of
// its oldest unit from b.
func (m *Metrics) CollectOutbox(b Backlog) {
	if m != nil {
		m.registry.MustRegister(&outboxCollector{backlog: b})
	}
}

var (
	outboxUnitsDesc = prometheus.NewDesc("dream_outbox_units",
		"Usage units the node acknowledged that its outbox holds until the node's copy shows them applied.", nil, nil)
	outboxAgeDesc = prometheus.NewDesc("dream_outbox_oldest_unit_age_seconds",
		"Age of the oldest unit in the node's outbox; 0 when it is empty.", nil, nil)
)

type outboxCollector struct{ backlog Backlog }

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxUnitsDesc
	ch <- outboxAgeDesc
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	units, oldest, err := c.backlog.Backlog(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(outboxUnitsDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(outboxUnitsDesc, prometheus.GaugeValue, float64(units))
	ch <- prometheus.MustNewConstMetric(outboxAgeDesc, prometheus.GaugeValue, oldest.Seconds())
}

// Replication reads where a node stands in its cluster.
type Replication struct {
	// IsPrimary reports whether the node is the primary.
	IsPrimary func() (bool, error)
	// Position is the transaction the node's copy has reached, and Lag
	// how far it is behind the primary; both nil on a node whose
	// database is not replicated.
	Position func() (uint64, error)
	Lag      func() (time.Duration, error)
}

// CollectReplication has every scrape read from r whether the node is
// the primary and, on a replicated database, its position and lag.
func (m *Metrics) CollectReplication(r Replication) {
	if m != nil {
		m.registry.MustRegister(&replicationCollector{r})
	}
}

var (
	primaryDesc = prometheus.NewDesc("dream_node_primary",
		"1 when this node is the primary, which applies every write, 0 on a replica.", nil, nil)
	positionDesc = prometheus.NewDesc("dream_replication_position",
		"The LiteFS transaction id the node's copy of the database has reached.", nil, nil)
	lagDesc = prometheus.NewDesc("dream_replication_lag_seconds",
		"How far the node's copy of the database is behind the primary, as LiteFS reports it; 0 on the primary.", nil, nil)
)

type replicationCollector struct{ r Replication }

func (c *replicationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- primaryDesc
	if c.r.Position != nil {
		ch <- positionDesc
		ch <- lagDesc
	}
}

func (c *replicationCollector) Collect(ch chan<- prometheus.Metric) {
	if isPrimary, err := c.r.IsPrimary(); err != nil {
		ch <- prometheus.NewInvalidMetric(primaryDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(primaryDesc, prometheus.GaugeValue, boolValue(isPrimary))
	}
	if c.r.Position == nil {
		return
	}
	if pos, err := c.r.Position(); err != nil {
		ch <- prometheus.NewInvalidMetric(positionDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(positionDesc, prometheus.GaugeValue, float64(pos))
	}
	if lag, err := c.r.Lag(); err != nil {
		ch <- prometheus.NewInvalidMetric(lagDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, lag.Seconds())
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
