package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// unusedConnGrace is how long a node that shuts down lets connections that
// have not sent a byte yet start their request before it closes them.
const unusedConnGrace = 500 * time.Millisecond

// unusedConns follows the server's connections that have not started a
// request. http.Server.Shutdown waits for such a connection until it has
// been open 5 s, and a client that opened one just before the signal (a
// proxy's warm pool, a load balancer's probe) held a node's stop, and
// with it the primary lease's release, for those 5 s.
type unusedConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newUnusedConns() *unusedConns {
	return &unusedConns{conns: make(map[net.Conn]struct{})}
}

// track is the server's ConnState hook.
func (u *unusedConns) track(c net.Conn, state http.ConnState) {
	// A connection is idle only after a request, so it was dropped
	// already: no lock for the one call in two a request makes.
	if state == http.StateIdle {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if state == http.StateNew {
		u.conns[c] = struct{}{}
	} else {
		delete(u.conns, c)
	}
}

// closeAll closes every connection that has not started a request.
func (u *unusedConns) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for c := range u.conns {
		c.Close()
		delete(u.conns, c)
	}
}

// shutdown stops srv as Shutdown does, waiting for the requests in flight
// until ctx is done, except that connections which have not started a
// request within grace are closed instead of waited for. srv's ConnState
// must be unused.track.
func shutdown(ctx context.Context, srv *http.Server, unused *unusedConns, grace time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
	}
	unused.closeAll()
	return <-done
}
