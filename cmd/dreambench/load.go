package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Load is one run of the load generator: Workers concurrent keep-alive
// clients send each of their prebuilt requests once, then send them in
// turn for Warmup, whose answers are discarded, then for Window, whose
// requests are counted and timed to their answer. A run is bounded in time
// and, through MaxRequests, in count.
type Load struct {
	Workers int
	Warmup  time.Duration
	Window  time.Duration
	// MaxRequests ends the measuring window early once that many requests
	// were sent in it.
	MaxRequests uint64
	// Rate, when positive, paces the workers to that many requests per
	// second in all instead of sending each request as soon as the last is
	// answered. A paced request whose worker was still waiting for its
	// previous answer when it fell due has its latency run from when it
	// was due, so a stall counts against every request it delays: the
	// latency a client sending at that rate would see, not the server's
	// capacity. A worker that was free sends when its timer wakes it, and
	// the latency runs from then: how late the generator's own sleep woke
	// (up to a millisecond for Go's timers on an idle process) is not the
	// server's.
	Rate float64
	// Servers are the processes serving the load, whose CPU time and I/O
	// in the window Result.Server reports.
	Servers []int
	// Metrics are the URLs of the servers' Prometheus metrics, read as
	// the window opens and closes for the collector's share of their CPU;
	// none leaves Result.Server's GC and Busy at zero.
	Metrics []string
	// Cold sends no request before the clock starts: each of the
	// workers' requests is sent for the first time in the run, as a new
	// end user's first request is.
	Cold bool
	// Step, when positive, has Result.Steps count the answers of each
	// step of the window.
	Step time.Duration
}

// Result is what a load run measured in its window.
type Result struct {
	// Requests is how many requests were sent in the window, all of them
	// answered or failed; Errors how many answers were not 2xx or not
	// answers at all.
	Requests uint64
	Errors   uint64
	// FirstError describes the first error, "" without errors.
	FirstError string
	// Elapsed is the measuring window, shorter than asked when MaxRequests
	// ended it.
	Elapsed time.Duration
	Latency Histogram
	// Server is what the Load's Servers used in the window.
	Server Counters
	// Steps are the answers to the requests sent in each Step of the
	// window, by when they were answered.
	Steps []uint64
}

// CPUPerRequest is the servers' CPU time per request of the window.
func (r *Result) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.Server.CPU / time.Duration(r.Requests)
}

// PerSecond is the throughput of the window.
func (r *Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// requestTimeout bounds one request, so a run always ends.
const requestTimeout = 10 * time.Second

// newClient is a keep-alive client holding a connection for each worker.
func newClient(workers int) *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConns:        workers,
			MaxIdleConnsPerHost: workers,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// workerResult is one worker's share of a Result, merged at the end.
type workerResult struct {
	requests, errors uint64
	firstError       string
	lastSent         time.Time
	latency          Histogram
	steps            []uint64
}

// Run drives the requests: worker i cycles through requests[i%len]. The
// requests carry their own context, which ends the run early when it is
// done. Each is sent again only after its previous answer was read, so one
// request value serves every round.
func (l Load) Run(ctx context.Context, requests [][]*http.Request) Result {
	client := newClient(l.Workers)
	defer client.CloseIdleConnections()
	// Every request is sent once before the clock starts, so that no
	// figure includes a first use: a token verified or an end user's state
	// read for the first time at that node. A paced warm-up alone may not
	// reach every end user.
	if !l.Cold {
		sendEach(client, l.Workers, requests)
	}
	start := time.Now()
	from := start.Add(l.Warmup)
	until := from.Add(l.Window)
	var counted atomic.Uint64
	results := make([]workerResult, l.Workers)
	var wg sync.WaitGroup
	for w := range l.Workers {
		wg.Go(func() {
			reqs := requests[w%len(requests)]
			out := &results[w]
			var interval time.Duration
			if l.Rate > 0 {
				interval = time.Duration(float64(l.Workers) / l.Rate * float64(time.Second))
			}
			// Paced workers start spread over one interval.
			first := start.Add(time.Duration(w) * interval / time.Duration(l.Workers))
			var answered time.Time
			for i := 0; ; i++ {
				due := time.Now()
				if interval > 0 {
					due = first.Add(time.Duration(i) * interval)
					time.Sleep(time.Until(due))
				}
				if !due.Before(until) || ctx.Err() != nil {
					return
				}
				// A request belongs to the window it is sent in, however
				// long its answer takes: dropping the answers that come
				// after the window would drop the slowest.
				measured := !due.Before(from)
				if measured && counted.Add(1) > l.MaxRequests {
					return
				}
				from := due
				if interval > 0 && !answered.After(due) {
					from = time.Now()
				}
				_, failure := send(client, reqs[i%len(reqs)])
				answered = time.Now()
				if !measured {
					continue
				}
				out.latency.Record(answered.Sub(from))
				if l.Step > 0 {
					step := int(answered.Sub(start.Add(l.Warmup)) / l.Step)
					for len(out.steps) <= step {
						out.steps = append(out.steps, 0)
					}
					out.steps[step]++
				}
				out.requests++
				out.lastSent = due
				if failure != "" {
					out.errors++
					if out.firstError == "" {
						out.firstError = failure
					}
				}
			}
		})
	}
	// The servers' counters are read as the window opens and closes.
	var used Counters
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-time.After(time.Until(from)):
		opened := readCounters(l.Servers, l.Metrics)
		select {
		case <-time.After(time.Until(until)):
		case <-done:
		}
		used = readCounters(l.Servers, l.Metrics).Since(opened)
	case <-done:
	}
	<-done

	r := Result{Server: used}
	var last time.Time
	for i := range results {
		w := &results[i]
		r.Requests += w.requests
		r.Errors += w.errors
		if r.FirstError == "" {
			r.FirstError = w.firstError
		}
		if w.lastSent.After(last) {
			last = w.lastSent
		}
		r.Latency.Merge(&w.latency)
		for len(r.Steps) < len(w.steps) {
			r.Steps = append(r.Steps, 0)
		}
		for i, n := range w.steps {
			r.Steps[i] += n
		}
	}
	r.Elapsed = l.Window
	if r.Requests >= l.MaxRequests && last.After(from) {
		r.Elapsed = last.Sub(from)
	}
	return r
}

// sendEach has workers send each of their requests once, worker i those
// of requests[i%len], and returns how many answers were errors and the
// first of them.
func sendEach(client *http.Client, workers int, requests [][]*http.Request) (errors uint64, first string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for _, req := range requests[w%len(requests)] {
				if _, failure := send(client, req); failure != "" {
					mu.Lock()
					errors++
					if first == "" {
						first = failure
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errors, first
}

// send makes one request and reads its answer through, so the connection
// is reused. It returns the status, 0 without an answer, and what went
// wrong, "" for a 2xx answer.
func send(client *http.Client, req *http.Request) (int, string) {
	res, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	if res.StatusCode/100 == 2 {
		io.Copy(io.Discard, res.Body)
		return res.StatusCode, ""
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 300))
	io.Copy(io.Discard, res.Body)
	return res.StatusCode, fmt.Sprintf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, body)
}
