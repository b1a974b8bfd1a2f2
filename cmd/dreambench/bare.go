package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dream-api/dream/e2e/harness"
)

// The bare server is the ceiling every figure is compared with: net/http
// answering every request with a fixed JSON body the size of dream's tiers
// answer, and nothing else. It runs as a child process of the bench, the
// bench binary started again with the "bare" command, so it competes with
// the load generator for the CPU exactly as dream does.

// bareCommand is the first argument that makes the bench binary the bare
// server.
const bareCommand = "bare"

// bareBody is a JSON document of exactly size bytes (at least 12).
func bareBody(size int) []byte {
	const open, end = `{"tiers":"`, `"}`
	padding := max(size-len(open)-len(end), 0)
	return []byte(open + strings.Repeat("x", padding) + end)
}

// serveBare is the bare server's main: it serves until ctx is done.
func serveBare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet(bareCommand, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	size := fs.Int("size", 0, "body size in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body := bareBody(*size)
	length := strconv.Itoa(len(body))
	srv := &http.Server{
		Addr: *addr,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", length)
			w.Write(body)
		}),
		// The same limits as dream's server.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startBare starts the bare server answering size bytes and waits until it
// answers.
func startBare(ctx context.Context, dir string, size int) (*process, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	addr, err := harness.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProcess("bare server", filepath.Join(dir, "bare.log"), self,
		bareCommand, "-addr", addr, "-size", strconv.Itoa(size))
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := waitHealthy(ctx, base+"/", 10*time.Second, p.exited); err != nil {
		p.Stop()
		return nil, "", fmt.Errorf("the bare server: %w", err)
	}
	return p, base, nil
}
