package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/metrics"
	"github.com/dream-api/dream/metrics/metricstest"
	"github.com/dream-api/dream/ratelimit"
)

// openDev opens a dev-mode Main on loopback ports with args added to its
// flags, closed when the test ends.
func openDev(t *testing.T, args ...string) *Main {
	t.Helper()
	c, err := loadConfig("dev", append([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir()}, args...), env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: c, Stdout: io.Discard, Logger: slog.New(slog.DiscardHandler), Now: time.Now}
	t.Cleanup(func() { m.Close() })
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// serve runs m.Serve until the test ends, and then expects a clean stop.
func serve(t *testing.T, m *Main) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- m.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve ended with %v after its context was done, want a clean stop", err)
		}
	})
}

// TestMetricsListener: with --metrics-addr the node serves its metrics
// there, GET /metrics only, and not on the API's listener; dev mode opens
// no metrics listener unless asked to.
func TestMetricsListener(t *testing.T) {
	t.Run("ServesWhereSet", func(t *testing.T) {
		m := openDev(t, "--metrics-addr", "127.0.0.1:0")
		if m.MetricsListener == nil {
			t.Fatal("dev with --metrics-addr opened no metrics listener, want one")
		}
		serve(t, m)
		api, metricsURL := "http://"+m.Listener.Addr().String(), "http://"+m.MetricsListener.Addr().String()
		for range 3 {
			if status, body := get(t, api+"/healthz"); status != http.StatusOK {
				t.Fatalf("GET /healthz answered %d %s, want 200", status, body)
			}
		}
		status, body := get(t, metricsURL+"/metrics")
		if status != http.StatusOK {
			t.Fatalf("GET /metrics on the metrics listener answered %d %s, want 200", status, body)
		}
		s := metricstest.Parse(t, strings.NewReader(body))
		if got := s.Value("dream_http_request_duration_seconds", "route", "/healthz", "method", "GET", "status", "200"); got != 3 {
			t.Errorf("the metrics count %v requests to /healthz, want the 3 made", got)
		}
		for _, name := range []string{"dream_node_primary", "dream_outbox_units", "go_goroutines", "process_resident_memory_bytes"} {
			if len(s.Series(name)) == 0 {
				t.Errorf("the metrics have no %s, want the node's, the Go runtime's and the process's", name)
			}
		}
		if got := s.Value("dream_node_primary"); got != 1 {
			t.Errorf("dream_node_primary is %v on a node of its own, want 1", got)
		}
		res, err := http.Post(metricsURL+"/metrics", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /metrics answered %d, want 405", res.StatusCode)
		}
		if status, _ := get(t, metricsURL+"/healthz"); status != http.StatusNotFound {
			t.Errorf("GET /healthz on the metrics listener answered %d, want 404: it serves the metrics only", status)
		}
		if status, _ := get(t, api+"/metrics"); status != http.StatusNotFound {
			t.Errorf("GET /metrics on the API's listener answered %d, want 404: the metrics are not public", status)
		}
	})
	t.Run("OffInDevByDefault", func(t *testing.T) {
		if m := openDev(t); m.MetricsListener != nil {
			t.Fatalf("dev without --metrics-addr listens for metrics on %s, want no listener", m.MetricsListener.Addr())
		}
	})
}

// TestJobRunsAreMeasured: each run of a periodic job counts under its
// name with its outcome, and a success moves its last-success time.
func TestJobRunsAreMeasured(t *testing.T) {
	m := openDev(t)
	ctx := context.Background()
	m.runJob(ctx, "prune", "pruning", m.Primary.Prune)
	m.runJob(ctx, "prune", "pruning", m.Primary.Prune)
	m.runJob(ctx, "daily", "daily jobs", func(context.Context) error { return errors.New("the payments provider is down") })
	s := metricstest.Get(t, m.Metrics.Handler(m.Logger))
	for _, c := range []struct {
		job, outcome string
		want         float64
	}{{"prune", "ok", 2}, {"prune", "error", 0}, {"daily", "error", 1}, {"daily", "ok", 0}} {
		if got := s.Value("dream_job_runs_total", "job", c.job, "outcome", c.outcome); got != c.want {
			t.Errorf("job %s ran %v times with outcome %s by the metrics, want %v", c.job, got, c.outcome, c.want)
		}
	}
	if got := s.Value("dream_job_last_success_timestamp_seconds", "job", "prune"); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("prune last succeeded at %v by the metrics, want just now", got)
	}
	if len(s.Series("dream_job_last_success_timestamp_seconds", "job", "daily")) != 0 {
		t.Error("daily has a last success by the metrics, want none: its one run failed")
	}
}

// TestSignInRefusalsAreCounted: the sign-in limiter that the dashboard and
// the hosted pages share counts each attempt it refuses under "sign_in".
func TestSignInRefusalsAreCounted(t *testing.T) {
	limiter, err := ratelimit.New(signInBuckets)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(nil)
	now := time.Date(2025, 1, 15, 9, 0, 0, 0, time.UTC)
	attempts := signInAttempts{limiter: limiter, now: func() time.Time { return now }, metrics: m}
	for range dream.SignInAttemptsPerMinute + 2 {
		attempts.Allow("ip:203.0.113.7")
	}
	attempts.Allow("ip:203.0.113.8")
	s := metricstest.Get(t, m.Handler(slog.New(slog.DiscardHandler)))
	if got := s.Value("dream_rate_limit_refusals_total", "limit", "sign_in"); got != 2 {
		t.Fatalf("%d attempts from one address and one from another made %v sign-in refusals by the metrics, want 2",
			dream.SignInAttemptsPerMinute+2, got)
	}
}
