// Package forward carries writes from the nodes of a LiteFS cluster to the
// one that holds the write lease. Every node writes through a Router: on
// the primary it applies writes locally; on a replica it sends them with a
// Client to the primary's internal endpoint, served by a Handler, and then
// waits until its own copy has the write, so that the client's next read at
// that node sees it. Which node is primary is asked on every write, so a
// failover needs no restart.
//
// Which writes there are, which carry write ids and which are waited for
// is package primary's to say (primary.ForForwarding); nothing here is
// written per write.
package forward

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
)

// Cluster is what forwarding needs to know of the LiteFS cluster;
// *store.LiteFS is one.
type Cluster interface {
	// Primary reports whether this node is the primary and, if not, the
	// primary's lease hostname.
	Primary() (isPrimary bool, host string, err error)
	// Position is the transaction this node's copy has reached.
	Position() (store.Position, error)
	// WaitPosition returns once this node's copy has reached a position.
	WaitPosition(ctx context.Context, p store.Position) error
}

// Router is the dream.Writer of every node of a cluster.
type Router struct {
	local   dream.Writer
	cluster Cluster
	client  *Client
}

var _ dream.Writer = (*Router)(nil)

// NewRouter returns a Router applying writes with local when this node is
// the primary of cluster and forwarding them with client otherwise.
func NewRouter(local dream.Writer, cluster Cluster, client *Client) *Router {
	return &Router{local: local, cluster: cluster, client: client}
}

// Write implements dream.Writer.
func (r *Router) Write(ctx context.Context, w dream.Write, result any) error {
	isPrimary, host, err := r.cluster.Primary()
	switch {
	case err != nil:
		return err
	case isPrimary:
		return r.local.Write(ctx, w, result)
	case host == "":
		// A failover is under way: no node holds the lease.
		return dream.ErrPrimaryUnavailable
	}
	w, catchUp, err := primary.ForForwarding(w)
	if err != nil {
		return err
	}
	pos, err := r.client.Send(ctx, host, w, result)
	if err != nil || !catchUp {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	if err := r.cluster.WaitPosition(waitCtx, pos); err != nil {
		return errReplicaBehind
	}
	return nil
}

// The internal endpoint's protocol: POST /internal/writes/{name} with the
// write as JSON, signed with the cluster secret over the method, path,
// time and body. The answer is 200 with {"result", "position"}, or the
// write's error as {"error", "message", "kind", "fields"}.
const (
	// WritesPath is where the internal endpoint is served; the write's
	// name follows it.
	WritesPath      = "/internal/writes/"
	timeHeader      = "X-Dream-Time"
	signatureHeader = "X-Dream-Signature"
	// replayWindow is how old or early a signed request may be. Together
	// with write ids, a replayed request changes nothing.
	replayWindow = 30 * time.Second
	// MaxWriteBody bounds a forwarded write: the largest is an image.
	MaxWriteBody = 16 << 20
)

// sign is the signature of a request: HMAC-SHA256 with the cluster secret
// of the method, path, time (Unix ms) and body.
func sign(secret []byte, method, path, at string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	fmt.Fprintf(mac, "%s\n%s\n%s\n", method, path, at)
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// writeAnswer is the body of the internal endpoint's answers.
type writeAnswer struct {
	Result   json.RawMessage `json:"result,omitempty"`
	Position string          `json:"position,omitempty"`
	Error    string          `json:"error,omitempty"`
	Message  string          `json:"message,omitempty"`
	Kind     dream.Kind      `json:"kind,omitempty"`
	Fields   map[string]any  `json:"fields,omitempty"`
}

// Applier applies a write named and encoded as it was forwarded and
// returns its result's encoding; *primary.Primary is one.
type Applier interface {
	WriteJSON(ctx context.Context, name string, body []byte) (json.RawMessage, error)
}

// Handler serves the internal write endpoint on the primary.
type Handler struct {
	primary Applier
	cluster Cluster
	secret  []byte
	now     func() time.Time
	logger  *slog.Logger
}

// NewHandler returns the internal endpoint applying writes with p.
func NewHandler(p Applier, cluster Cluster, secret string, now func() time.Time, logger *slog.Logger) *Handler {
	return &Handler{primary: p, cluster: cluster, secret: []byte(secret), now: now, logger: logger}
}

// ServeHTTP applies a signed write and answers with its result and the
// position the primary's copy reached with it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	answer := func(status int, a writeAnswer) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(a)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWriteBody))
	if err != nil {
		answer(http.StatusRequestEntityTooLarge, writeAnswer{Error: "invalid_write", Message: "body too large", Kind: dream.KindTooLarge})
		return
	}
	at := r.Header.Get(timeHeader)
	ms, err := strconv.ParseInt(at, 10, 64)
	signed := sign(h.secret, r.Method, r.URL.Path, at, body)
	if err != nil || r.Method != http.MethodPost ||
		!hmac.Equal([]byte(signed), []byte(r.Header.Get(signatureHeader))) ||
		h.now().Sub(time.UnixMilli(ms)).Abs() > replayWindow {
		answer(http.StatusUnauthorized, writeAnswer{Error: "cluster_unauthorized", Message: "bad or stale cluster signature", Kind: dream.KindUnauthenticated})
		return
	}
	// A node that lost the lease must not try: its copy is read-only.
	if isPrimary, _, err := h.cluster.Primary(); err != nil || !isPrimary {
		answer(http.StatusServiceUnavailable, errorAnswer(dream.ErrPrimaryUnavailable))
		return
	}
	name := strings.TrimPrefix(r.URL.Path, WritesPath)
	raw, err := h.primary.WriteJSON(r.Context(), name, body)
	if err != nil {
		e, internal := dream.Shown(err)
		if internal {
			h.logger.Error("forwarded write failed", "write", name, "error", err)
		}
		status := http.StatusOK
		if errors.Is(err, primary.ErrUnknownWrite) {
			status = http.StatusNotFound
		}
		answer(status, errorAnswer(e))
		return
	}
	pos, err := h.cluster.Position()
	if err != nil {
		h.logger.Error("reading the position after a write", "error", err)
		answer(http.StatusInternalServerError, errorAnswer(dream.ErrInternal))
		return
	}
	answer(http.StatusOK, writeAnswer{Result: raw, Position: pos.String()})
}

func errorAnswer(e *dream.Error) writeAnswer {
	return writeAnswer{Error: e.Code, Message: e.Message, Kind: e.Kind, Fields: e.Fields}
}

// errReplicaBehind answers a write the primary applied whose replication
// to this node takes too long: the client's next read here may not see it.
var errReplicaBehind = &dream.Error{Kind: dream.KindTimeout, Code: "replica_lagging",
	Message: "The write was applied but this region has not caught up yet; read again shortly.", Fields: map[string]any{"retryAfter": 1}}

// Client forwards writes from a replica to the primary.
type Client struct {
	secret []byte
	// port is added to a primary hostname that has none: nodes listen on
	// the same port.
	port   string
	http   *http.Client
	now    func() time.Time
	logger *slog.Logger
}

// NewClient returns a Client signing with secret and reaching primaries on
// port when their hostname has none.
func NewClient(secret, port string, now func() time.Time, logger *slog.Logger) *Client {
	// A primary that vanished without closing its connections is noticed
	// by the dial timeout, not the whole request's.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: dialTimeout}).DialContext
	return &Client{secret: []byte(secret), port: port, now: now, logger: logger,
		http: &http.Client{Timeout: forwardTimeout, Transport: transport}}
}

const (
	// forwardTimeout bounds one attempt to reach the primary, dialTimeout
	// its connection.
	forwardTimeout = 10 * time.Second
	dialTimeout    = 2 * time.Second
	// forwardAttempts and forwardBackoff retry a primary that cannot be
	// reached for a moment, with the same write id, before answering 503.
	forwardAttempts = 3
	forwardBackoff  = 100 * time.Millisecond
	// catchUpTimeout bounds how long a replica waits for its copy to reach
	// a forwarded write before it answers.
	catchUpTimeout = 5 * time.Second
)

// Send sends w to the primary at host (host:port, or a hostname reached
// on the Client's port), retrying a primary that cannot be reached for a
// moment with the same body, stores its result where result points and
// returns the position the primary's copy reached with it. It does not
// wait for this node's copy.
func (c *Client) Send(ctx context.Context, host string, w dream.Write, result any) (store.Position, error) {
	body, err := json.Marshal(w)
	if err != nil {
		return 0, err
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(strings.Trim(host, "[]"), c.port)
	}
	name := w.WriteName()
	path := WritesPath + name
	var a writeAnswer
	for attempt := 1; ; attempt++ {
		a, err = c.post(ctx, "http://"+host+path, path, body)
		if err == nil || attempt == forwardAttempts || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt) * forwardBackoff)
	}
	if err != nil {
		c.logger.Warn("forwarding a write to the primary", "primary", host, "write", name, "error", err)
		return 0, dream.ErrPrimaryUnavailable
	}
	if a.Kind == dream.KindUnauthenticated && a.Error == "cluster_unauthorized" {
		// Not the client's fault: the nodes disagree on the cluster secret.
		return 0, fmt.Errorf("the primary %s refused the cluster signature: check DREAM_CLUSTER_SECRET on every node", host)
	}
	if a.Error != "" {
		return 0, &dream.Error{Kind: a.Kind, Code: a.Error, Message: a.Message, Fields: a.Fields}
	}
	if result != nil {
		if err := json.Unmarshal(a.Result, result); err != nil {
			return 0, fmt.Errorf("forwarded write %s: decoding the result: %w", name, err)
		}
	}
	return store.ParsePosition(a.Position)
}

// post makes one attempt. Transport failures and a primary answering 503
// (restarting, or no longer primary) are errors worth a retry.
func (c *Client) post(ctx context.Context, url, path string, body []byte) (writeAnswer, error) {
	var a writeAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return a, err
	}
	at := strconv.FormatInt(c.now().UnixMilli(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(timeHeader, at)
	req.Header.Set(signatureHeader, sign(c.secret, http.MethodPost, path, at, body))
	res, err := c.http.Do(req)
	if err != nil {
		return a, err
	}
	defer res.Body.Close()
	if err := json.NewDecoder(io.LimitReader(res.Body, MaxWriteBody)).Decode(&a); err != nil {
		return a, fmt.Errorf("status %d: %w", res.StatusCode, err)
	}
	if res.StatusCode == http.StatusServiceUnavailable {
		return a, fmt.Errorf("the primary answered %s", a.Error)
	}
	return a, nil
}
