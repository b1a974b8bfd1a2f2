package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A paced worker still waiting for an answer when its next request falls
// due charges the wait to that request: a server slower than the pace
// shows latencies that grow past its own answer time.
func TestPacedLatencyCountsTheQueue(t *testing.T) {
	const answer = 30 * time.Millisecond
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(answer)
	}))
	defer server.Close()
	reqs, err := route{name: "slow", method: http.MethodGet, path: "/"}.requests(context.Background(), 1, server.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// One worker due every 10 ms, answered every 30 ms: the tenth request
	// of the window is due about 200 ms before it can be sent.
	l := Load{Workers: 1, Rate: 100, Window: 400 * time.Millisecond, MaxRequests: 100}
	r := l.Run(context.Background(), reqs)
	if r.Requests < 5 || r.Errors != 0 {
		t.Fatalf("%d requests, %d errors (%s)", r.Requests, r.Errors, r.FirstError)
	}
	if worst := r.Latency.Percentile(1); worst < 3*answer {
		t.Fatalf("worst latency %s: the queue behind a %s answer at a 10 ms pace was not counted", worst, answer)
	}
}
