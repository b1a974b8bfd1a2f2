package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestShutdown: a connection that never sends a request does not hold the
// stop (net/http alone would wait 5 s for it, past this test's 3 s
// deadline), and a request in flight still gets its answer.
func TestShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	unused := newUnusedConns()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			io.WriteString(w, "done")
		}),
		ConnState: unused.track,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	answer := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			answer <- err.Error()
			return
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		answer <- string(body)
	}()
	<-entered
	// The idle connection is accepted before the shutdown starts.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		unused.mu.Lock()
		n := len(unused.conns)
		unused.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections waiting for a first request, want the idle one", n)
		}
	}

	const grace = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- shutdown(ctx, srv, unused, grace) }()
	// Past the grace, the idle connection is closed while the request is
	// still being answered.
	idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the idle connection read %d bytes, %v; want it closed", n, err)
	}
	close(release)
	if got := <-answer; got != "done" {
		t.Fatalf("the request in flight during the shutdown got %q, want %q", got, "done")
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown returned %v, want a clean stop within the 3 s deadline", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Fatalf("Serve returned %v after the shutdown, want http.ErrServerClosed", err)
	}
}
