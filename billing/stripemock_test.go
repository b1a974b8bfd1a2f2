package billing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain stops stripe-mock, which the first test needing it started, once
// every test of the binary has run.
func TestMain(m *testing.M) {
	code := m.Run()
	mock.stop()
	os.Exit(code)
}

// mock is the one stripe-mock of the test binary: it takes a second to load
// Stripe's OpenAPI spec, so the tests share it, and it holds no state
// between requests that they could trip over.
var mock stripeMock

// stripeMock runs the stripe-mock binary, Stripe's mock of its API, which
// answers from the OpenAPI spec and refuses parameters the spec does not
// have.
type stripeMock struct {
	once sync.Once
	// missing is set when the binary is not installed.
	missing bool
	err     error
	url     string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// stripeMockURL returns the URL of the running stripe-mock, starting it on
// first use. Without the binary the test is skipped on a developer's
// machine, and fails in CI, where a skipped Stripe test would pass unseen.
func stripeMockURL(t *testing.T) string {
	t.Helper()
	mock.once.Do(mock.start)
	if mock.missing {
		if os.Getenv("CI") == "true" {
			t.Fatal("stripe-mock is missing: it is neither on PATH nor in $(go env GOPATH)/bin; install it with go install github.com/stripe/stripe-mock@latest")
		}
		t.Skip("stripe-mock is not installed; go install github.com/stripe/stripe-mock@latest to run the Stripe tests")
	}
	if mock.err != nil {
		t.Fatalf("starting stripe-mock: %v", mock.err)
	}
	return mock.url
}

// findStripeMock looks for the binary on PATH, then where go install puts
// it.
func findStripeMock() (string, bool) {
	if path, err := exec.LookPath("stripe-mock"); err == nil {
		return path, true
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", false
	}
	for _, dir := range filepath.SplitList(strings.TrimSpace(string(gopath))) {
		path := filepath.Join(dir, "bin", "stripe-mock")
		if info, err := os.Stat(path); err == nil && !info.IsDir() {
			return path, true
		}
	}
	return "", false
}

// start runs stripe-mock on free loopback ports. Another process may take a
// port between the moment it is found free and stripe-mock's listening on
// it; stripe-mock then exits, and start tries other ports.
func (m *stripeMock) start() {
	path, found := findStripeMock()
	if !found {
		m.missing = true
		return
	}
	const attempts = 5
	for range attempts {
		httpPort, httpsPort, err := freePorts()
		if err != nil {
			m.err = err
			return
		}
		// The -addr flags rather than -port ones: those listen on every
		// interface.
		cmd := exec.Command(path,
			"-http-addr", "127.0.0.1:"+strconv.Itoa(httpPort),
			"-https-addr", "127.0.0.1:"+strconv.Itoa(httpsPort))
		var output bytes.Buffer
		cmd.Stdout, cmd.Stderr = &output, &output
		if err := cmd.Start(); err != nil {
			m.err = err
			return
		}
		exited := make(chan struct{})
		go func() {
			cmd.Wait()
			close(exited)
		}()
		base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
		switch err := awaitStripeMock(base, exited); {
		case err == nil:
			m.url, m.cmd, m.exited, m.err = base, cmd, exited, nil
			return
		case errors.Is(err, errStripeMockExited):
			// output is complete once the process has exited.
			m.err = fmt.Errorf("%w: %s", err, output.Bytes())
		default:
			cmd.Process.Kill()
			<-exited
			m.err = err
			return
		}
	}
}

// stop kills stripe-mock if it runs.
func (m *stripeMock) stop() {
	if m.cmd != nil {
		m.cmd.Process.Kill()
		<-m.exited
	}
}

// errStripeMockExited is stripe-mock exiting before it answered, as it does
// when its port was taken.
var errStripeMockExited = errors.New("stripe-mock exited")

// awaitStripeMock waits until stripe-mock at base answers a request.
func awaitStripeMock(base string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errStripeMockExited
		default:
		}
		if response, err := client.Get(base + "/v1/customers"); err == nil {
			response.Body.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("stripe-mock did not answer within 15 s")
}

// freePorts returns two loopback ports that were free a moment ago. Both
// listeners are open at once so that the ports differ.
func freePorts() (int, int, error) {
	first, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer first.Close()
	second, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer second.Close()
	return first.Addr().(*net.TCPAddr).Port, second.Addr().(*net.TCPAddr).Port, nil
}

// recorder is an http.RoundTripper that remembers every request before
// sending it on, so that tests see exactly what stripe-go sent, retries
// included.
type recorder struct {
	transport http.RoundTripper
	mu        sync.Mutex
	requests  []recordedRequest
}

// recordedRequest is one request as sent.
type recordedRequest struct {
	Method string
	Path   string
	Header http.Header
	// Form holds the parameters, from the body or, on GET, from the query.
	Form url.Values
}

// RoundTrip implements http.RoundTripper.
func (r *recorder) RoundTrip(request *http.Request) (*http.Response, error) {
	recorded := recordedRequest{
		Method: request.Method,
		Path:   request.URL.Path,
		Header: request.Header.Clone(),
		Form:   request.URL.Query(),
	}
	// A RoundTripper must not change the request it is given, so the body
	// read here goes on in a clone.
	sent := request.Clone(request.Context())
	if request.Body != nil {
		body, err := io.ReadAll(request.Body)
		request.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(body) > 0 {
			if recorded.Form, err = url.ParseQuery(string(body)); err != nil {
				return nil, err
			}
		}
		sent.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.requests = append(r.requests, recorded)
	r.mu.Unlock()
	return r.transport.RoundTrip(sent)
}

// Requests returns the requests recorded so far.
func (r *recorder) Requests() []recordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recordedRequest(nil), r.requests...)
}
