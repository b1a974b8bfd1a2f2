package metrics_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/dream-api/dream/metrics"
	"github.com/dream-api/dream/metrics/metricstest"
)

// A nil *Metrics and the nil handles it returns measure nothing and never
// fail: servers and primaries made without metrics run the same code.
func TestNilMeasuresNothing(t *testing.T) {
	var m *metrics.Metrics
	m.Route("GET", "/api/usage").Observe(200, time.Millisecond)
	m.Unmatched("BREW").Observe(404, time.Millisecond)
	m.Cache("tokens").Hit()
	m.Cache("tokens").Miss()
	m.RateLimited("end_user")
	m.Webhook("connect", "invoice.paid", "processed")
	m.GroupCommit("primary").Observe(3)
	m.Shipped(3, time.Millisecond, nil)
	m.UnitsApplied(metrics.DecidedByNode, 3)
	m.JobRan("prune", time.Now(), time.Now(), nil)
	m.CollectOutbox(nil)
	m.CollectReplication(metrics.Replication{})
}

func TestRequests(t *testing.T) {
	m := metrics.New(nil)
	route := m.Route("GET", "/api/customers/:id")
	for range 3 {
		route.Observe(200, time.Millisecond)
	}
	route.Observe(404, 2*time.Second)
	route.Observe(0, time.Millisecond)
	m.Unmatched("GET").Observe(404, time.Millisecond)
	m.Unmatched("BREW").Observe(405, time.Millisecond)
	m.Unmatched("COFFEE").Observe(405, time.Millisecond)

	s := metricstest.Get(t, m.Handler(slog.New(slog.DiscardHandler)))
	const name = "dream_http_request_duration_seconds"
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"route", "/api/customers/:id", "method", "GET", "status", "200"}, 4},
		{[]string{"route", "/api/customers/:id", "method", "GET", "status", "404"}, 1},
		{[]string{"route", metrics.Unmatched, "method", "GET", "status", "404"}, 1},
		{[]string{"route", metrics.Unmatched, "method", "other", "status", "405"}, 2},
	} {
		if got := s.Value(name, c.labels...); got != c.want {
			t.Errorf("%s%v counts %v requests, want %v", name, c.labels, got, c.want)
		}
	}
	if sum := s.Sum(name, "status", "404", "route", "/api/customers/:id"); sum != 2 {
		t.Errorf("the 404 took %v s in all, want the 2 s observed", sum)
	}
	if methods := s.LabelValues(name, "method"); len(methods) != 2 {
		t.Errorf("the requests have methods %v, want GET and other: a method no route has is not a label value", methods)
	}
}

// What a request records, once its route answered a status before,
// allocates nothing: the warm path is measured in microseconds.
func TestRequestPathAllocatesNothing(t *testing.T) {
	m := metrics.New(nil)
	route, cache := m.Route("GET", "/api/usage"), m.Cache("tokens")
	route.Observe(200, time.Millisecond)
	if n := testing.AllocsPerRun(100, func() {
		route.Observe(200, 30*time.Microsecond)
		m.Unmatched("GET").Observe(404, 30*time.Microsecond)
		cache.Hit()
		cache.Miss()
	}); n != 0 {
		t.Fatalf("recording a request allocated %v times, want 0", n)
	}
}

// An event type the node does not act on, or a delivery not verified,
// counts as "other", so that no sender can add series.
func TestWebhookTypesAreBounded(t *testing.T) {
	m := metrics.New([]string{"invoice.paid"})
	m.Webhook("connect", "invoice.paid", "processed")
	m.Webhook("connect", "made.up.type", "ignored")
	m.Webhook("connect", "another.made.up.type", "ignored")
	m.Webhook("platform", "", "invalid_signature")
	s := metricstest.Get(t, m.Handler(slog.New(slog.DiscardHandler)))
	const name = "dream_webhook_events_total"
	if got := s.Value(name, "type", "invoice.paid", "outcome", "processed"); got != 1 {
		t.Errorf("invoice.paid processed counts %v, want 1", got)
	}
	if got := s.Value(name, "endpoint", "connect", "type", metrics.OtherEvent, "outcome", "ignored"); got != 2 {
		t.Errorf("events of unknown types count %v as other, want 2", got)
	}
	if got := s.Value(name, "endpoint", "platform", "type", metrics.OtherEvent, "outcome", "invalid_signature"); got != 1 {
		t.Errorf("the unverified delivery counts %v as other, want 1", got)
	}
	if types := s.LabelValues(name, "type"); len(types) != 2 {
		t.Errorf("webhook types are %v, want invoice.paid and other", types)
	}
}

type backlog struct {
	units int
	age   time.Duration
	err   error
}

func (b backlog) Backlog(context.Context) (int, time.Duration, error) { return b.units, b.age, b.err }

func TestScrapeTimeGauges(t *testing.T) {
	t.Run("Replica", func(t *testing.T) {
		m := metrics.New(nil)
		m.CollectOutbox(backlog{units: 7, age: 1500 * time.Millisecond})
		m.CollectReplication(metrics.Replication{
			IsPrimary: func() (bool, error) { return false, nil },
			Position:  func() (uint64, error) { return 0x2a, nil },
			Lag:       func() (time.Duration, error) { return 250 * time.Millisecond, nil },
		})
		s := metricstest.Get(t, m.Handler(slog.New(slog.DiscardHandler)))
		for name, want := range map[string]float64{
			"dream_outbox_units": 7, "dream_outbox_oldest_unit_age_seconds": 1.5,
			"dream_node_primary": 0, "dream_replication_position": 42, "dream_replication_lag_seconds": 0.25,
		} {
			if got := s.Value(name); got != want || len(s.Series(name)) != 1 {
				t.Errorf("%s is %v in %d series, want %v in one", name, got, len(s.Series(name)), want)
			}
		}
	})
	t.Run("SingleNode", func(t *testing.T) {
		m := metrics.New(nil)
		m.CollectReplication(metrics.Replication{IsPrimary: func() (bool, error) { return true, nil }})
		s := metricstest.Get(t, m.Handler(slog.New(slog.DiscardHandler)))
		if got := s.Value("dream_node_primary"); got != 1 {
			t.Errorf("dream_node_primary is %v on a single node, want 1", got)
		}
		if len(s.Series("dream_replication_lag_seconds")) != 0 {
			t.Error("a node without replication reports a replication lag, want none")
		}
	})
	t.Run("AReadThatFailsLeavesTheOthers", func(t *testing.T) {
		m := metrics.New(nil)
		m.CollectOutbox(backlog{err: errors.New("disk gone")})
		m.CollectReplication(metrics.Replication{IsPrimary: func() (bool, error) { return true, nil }})
		s := metricstest.Get(t, m.Handler(slog.New(slog.DiscardHandler)))
		if len(s.Series("dream_outbox_units")) != 0 || s.Value("dream_node_primary") != 1 {
			t.Error("with the outbox unreadable, want its gauges left out and the others served")
		}
	})
}

func TestJobs(t *testing.T) {
	m := metrics.New(nil)
	start := time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC)
	m.JobRan("daily", start, start.Add(2*time.Second), nil)
	m.JobRan("daily", start.Add(time.Minute), start.Add(time.Minute+time.Second), errors.New("stripe down"))
	s := metricstest.Get(t, m.Handler(slog.New(slog.DiscardHandler)))
	if ok, failed := s.Value("dream_job_runs_total", "job", "daily", "outcome", "ok"), s.Value("dream_job_runs_total", "job", "daily", "outcome", "error"); ok != 1 || failed != 1 {
		t.Errorf("daily ran %v times ok and %v with an error, want 1 and 1", ok, failed)
	}
	if got := s.Value("dream_job_last_success_timestamp_seconds", "job", "daily"); got != float64(start.Add(2*time.Second).Unix()) {
		t.Errorf("the last success of daily is %v, want the end of the run that succeeded", got)
	}
	if got := s.Sum("dream_job_duration_seconds", "job", "daily"); got != 3 {
		t.Errorf("daily's runs took %v s in all, want 3", got)
	}
}

// TestCollectorCPUShare: the runtime's estimate of the CPU time its
// collector took is served beside the time of user code and idle time, so
// that the collector's share of the node's CPU can be read (and a memory
// budget too small for the caches seen).
func TestCollectorCPUShare(t *testing.T) {
	m := metrics.New(nil)
	runtime.GC()
	s := metricstest.Get(t, m.Handler(slog.New(slog.DiscardHandler)))
	for _, name := range []string{"go_cpu_classes_gc_total_cpu_seconds_total", "go_cpu_classes_user_cpu_seconds_total",
		"go_cpu_classes_idle_cpu_seconds_total", "go_cpu_classes_total_cpu_seconds_total"} {
		if len(s.Series(name)) != 1 {
			t.Errorf("the metrics have %d series of %s, want one", len(s.Series(name)), name)
		}
	}
	if got := s.Value("go_cpu_classes_gc_total_cpu_seconds_total"); got <= 0 {
		t.Errorf("go_cpu_classes_gc_total_cpu_seconds_total is %v after a collection, want it above 0", got)
	}
}
