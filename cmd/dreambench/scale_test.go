package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestRampTime(t *testing.T) {
	// Four steps a second: the second from 0.5 s to 1.5 s is the first
	// to reach 100 answers.
	steps := []uint64{10, 10, 20, 30, 30, 20, 40, 40}
	if d, ok := rampTime(steps, 250*time.Millisecond, 100); !ok || d != 1500*time.Millisecond {
		t.Fatalf("%s, %v; want 1.5s", d, ok)
	}
	if _, ok := rampTime(steps, 250*time.Millisecond, 1000); ok {
		t.Fatal("a rate never reached was reached")
	}
}

func TestMetricSize(t *testing.T) {
	for n, want := range map[int]string{256: "256", 100_000: "100k", 1_000_000: "1m", 30_000: "30k", 1_500: "1500"} {
		if got := metricSize(n); got != want {
			t.Errorf("metricSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCachedEndUsers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scale.log")
	log := "time=2026-12-07T21:44:14Z level=INFO msg=\"memory budget\" node_bytes=25769803776 budget_bytes=268435456 cached_end_users=239674 bytes_per_end_user=560\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := cachedEndUsers(path); err != nil || n != 239674 {
		t.Fatalf("%d, %v; want 239674", n, err)
	}
}

// A cold load sends nothing before its window, and its steps count every
// answer of the window.
func TestColdLoadCountsEveryStep(t *testing.T) {
	var served atomic.Uint64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
	}))
	defer server.Close()
	reqs, err := route{name: "cold", method: http.MethodGet, path: "/"}.requests(context.Background(), 2, server.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	l := Load{Workers: 2, Window: 300 * time.Millisecond, MaxRequests: 1_000_000, Cold: true, Step: 100 * time.Millisecond}
	r := l.Run(context.Background(), reqs)
	var stepped uint64
	for _, n := range r.Steps {
		stepped += n
	}
	if r.Requests == 0 || stepped != r.Requests || served.Load() != r.Requests || len(r.Steps) < 3 {
		t.Fatalf("%d requests, %d in %d steps, %d served; want every request counted once, in at least 3 steps, and none sent before the window",
			r.Requests, stepped, len(r.Steps), served.Load())
	}
}
