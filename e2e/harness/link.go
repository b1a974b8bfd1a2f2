package harness

import (
	"net"
	"sync"
	"time"
)

// link carries the TCP connections from a replica to one of the primary's
// ports with a delay in each direction, as between regions. It can be cut:
// every connection it carries is closed and the bytes on their way are
// lost, as when the primary's machine crashes with its network.
type link struct {
	listener net.Listener
	target   string
	delay    time.Duration

	// mu guards conns, the connections of both sides being carried.
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// newLink listens on a free loopback port and carries what it accepts to
// target.
func newLink(target string, delay time.Duration) (*link, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	k := &link{listener: l, target: target, delay: delay, conns: map[net.Conn]bool{}}
	k.wg.Add(1)
	go k.accept()
	return k, nil
}

// addr is the host:port a replica dials instead of the target.
func (k *link) addr() string { return k.listener.Addr().String() }

func (k *link) accept() {
	defer k.wg.Done()
	for {
		client, err := k.listener.Accept()
		if err != nil {
			return
		}
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			k.carry(client)
		}()
	}
}

// carry passes a connection's bytes both ways until either side closes it
// or the link is cut. A target that cannot be reached, such as a primary
// that is down, closes the connection at once, as a refused one would.
func (k *link) carry(client net.Conn) {
	server, err := net.DialTimeout("tcp", k.target, 2*time.Second)
	if err != nil {
		client.Close()
		return
	}
	k.mu.Lock()
	k.conns[client], k.conns[server] = true, true
	k.mu.Unlock()
	var both sync.WaitGroup
	both.Add(2)
	go func() { k.pipe(client, server); both.Done() }()
	go func() { k.pipe(server, client); both.Done() }()
	both.Wait()
	k.mu.Lock()
	delete(k.conns, client)
	delete(k.conns, server)
	k.mu.Unlock()
}

// pipe copies from src to dst, each chunk delay after it was read, until
// src ends and what it sent has arrived, or either fails; then it closes
// both, which ends the other direction's pipe too.
func (k *link) pipe(src, dst net.Conn) {
	type chunk struct {
		due   time.Time
		bytes []byte
	}
	chunks := make(chan chunk, 256)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				chunks <- chunk{time.Now().Add(k.delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.bytes); err != nil {
			break
		}
	}
	src.Close()
	dst.Close()
	// The reader stops once src is closed; what it still holds is lost.
	for range chunks {
	}
}

// cut closes every connection the link carries, losing what is on its
// way. Connections made afterwards are carried as before.
func (k *link) cut() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for c := range k.conns {
		c.Close()
	}
}

// close stops accepting, cuts and waits for the connections to end.
func (k *link) close() {
	k.listener.Close()
	k.cut()
	k.wg.Wait()
}
