package primary

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
	"github.com/dream-api/dream/store"
)

// Cluster is what the write path needs to know of the LiteFS cluster;
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

// Router is the dream.Writer of every node of a cluster: on the primary it
// applies writes locally; on a replica it forwards them to the primary's
// internal endpoint and, once the primary answers, waits until the replica
// has the write too, so the client's next read at this node sees it. Which
// node is primary is asked on every write, so a failover needs no restart.
type Router struct {
	local   *Primary
	cluster Cluster
	client  *Client
}

var _ dream.Writer = (*Router)(nil)

// NewRouter returns a Router applying writes with local when this node is
// the primary of cluster and forwarding them with client otherwise.
func NewRouter(local *Primary, cluster Cluster, client *Client) *Router {
	return &Router{local: local, cluster: cluster, client: client}
}

// remoteHost is "" when this node is the primary, and otherwise the
// primary's host; while a failover is under way no node holds the lease
// and the write cannot be applied.
func (r *Router) remoteHost() (string, error) {
	isPrimary, host, err := r.cluster.Primary()
	switch {
	case err != nil:
		return "", err
	case isPrimary:
		return "", nil
	case host == "":
		return "", errPrimaryUnavailable
	}
	return host, nil
}

// forward applies a write locally on the primary or sends it to the
// primary, giving it a write id first so that a retry of it is applied once.
func forward[T any](ctx context.Context, r *Router, name string, writeID *string, w any, local func() (T, error)) (T, error) {
	var result T
	host, err := r.remoteHost()
	if err != nil {
		return result, err
	}
	if host == "" {
		return local()
	}
	if writeID != nil && *writeID == "" {
		*writeID = dream.NewID("w_")
	}
	err = r.client.call(ctx, host, name, w, &result)
	return result, err
}

// TrackUsage implements dream.Writer.
func (r *Router) TrackUsage(ctx context.Context, w dream.TrackUsage) (dream.Usage, error) {
	return forward(ctx, r, "TrackUsage", &w.WriteID, &w, func() (dream.Usage, error) { return r.local.TrackUsage(ctx, w) })
}

// ApplyIncrements implements dream.Writer. A node's flusher calls it; it
// does not wait for this node's copy to catch up, since the flusher learns
// what was applied from the primary's answer and sends its next batch at
// once.
func (r *Router) ApplyIncrements(ctx context.Context, w dream.ApplyIncrements) (dream.IncrementsApplied, error) {
	host, err := r.remoteHost()
	if err != nil {
		return dream.IncrementsApplied{}, err
	}
	if host == "" {
		return r.local.ApplyIncrements(ctx, w)
	}
	return r.client.ApplyIncrements(ctx, host, w)
}

// CreatePlatform implements dream.Writer.
func (r *Router) CreatePlatform(ctx context.Context, w dream.CreatePlatform) error {
	_, err := forward(ctx, r, "CreatePlatform", &w.WriteID, &w, func() (noResult, error) { return noResult{}, r.local.CreatePlatform(ctx, w) })
	return err
}

// CreateProject implements dream.Writer.
func (r *Router) CreateProject(ctx context.Context, w dream.CreateProject) error {
	_, err := forward(ctx, r, "CreateProject", &w.WriteID, &w, func() (noResult, error) { return noResult{}, r.local.CreateProject(ctx, w) })
	return err
}

// SetStrictLimits implements dream.Writer.
func (r *Router) SetStrictLimits(ctx context.Context, w dream.SetStrictLimits) error {
	_, err := forward(ctx, r, "SetStrictLimits", &w.WriteID, &w, func() (noResult, error) { return noResult{}, r.local.SetStrictLimits(ctx, w) })
	return err
}

// RotateSecretKey implements dream.Writer.
func (r *Router) RotateSecretKey(ctx context.Context, w dream.RotateSecretKey) error {
	_, err := forward(ctx, r, "RotateSecretKey", &w.WriteID, &w, func() (noResult, error) { return noResult{}, r.local.RotateSecretKey(ctx, w) })
	return err
}

// ConnectPaymentAccount implements dream.Writer.
func (r *Router) ConnectPaymentAccount(ctx context.Context, w dream.ConnectPaymentAccount) error {
	_, err := forward(ctx, r, "ConnectPaymentAccount", &w.WriteID, &w, func() (noResult, error) {
		return noResult{}, r.local.ConnectPaymentAccount(ctx, w)
	})
	return err
}

// ApplyPaymentEvent implements dream.Writer. The event's own id makes it
// idempotent.
func (r *Router) ApplyPaymentEvent(ctx context.Context, w dream.ApplyPaymentEvent) (dream.PaymentEventOutcome, error) {
	return forward(ctx, r, "ApplyPaymentEvent", nil, &w, func() (dream.PaymentEventOutcome, error) { return r.local.ApplyPaymentEvent(ctx, w) })
}

// CreateCustomer implements dream.Writer.
func (r *Router) CreateCustomer(ctx context.Context, w dream.CreateCustomer) error {
	_, err := forward(ctx, r, "CreateCustomer", &w.WriteID, &w, func() (noResult, error) { return noResult{}, r.local.CreateCustomer(ctx, w) })
	return err
}

// AssignPlan implements dream.Writer.
func (r *Router) AssignPlan(ctx context.Context, w dream.AssignPlan) error {
	_, err := forward(ctx, r, "AssignPlan", &w.WriteID, &w, func() (noResult, error) { return noResult{}, r.local.AssignPlan(ctx, w) })
	return err
}

// DeleteCustomer implements dream.Writer.
func (r *Router) DeleteCustomer(ctx context.Context, w dream.DeleteCustomer) (bool, error) {
	return forward(ctx, r, "DeleteCustomer", &w.WriteID, &w, func() (bool, error) { return r.local.DeleteCustomer(ctx, w) })
}

// PutAsset implements dream.Writer.
func (r *Router) PutAsset(ctx context.Context, w dream.PutAsset) error {
	_, err := forward(ctx, r, "PutAsset", &w.WriteID, &w, func() (noResult, error) { return noResult{}, r.local.PutAsset(ctx, w) })
	return err
}

// writeHandlers decode and apply each write the internal endpoint accepts,
// by the name Router sends.
var writeHandlers = map[string]func(ctx context.Context, p *Primary, body []byte) (any, error){
	"TrackUsage":            handler((*Primary).TrackUsage),
	"ApplyIncrements":       handler((*Primary).ApplyIncrements),
	"CreatePlatform":        handler(errorOnly((*Primary).CreatePlatform)),
	"CreateProject":         handler(errorOnly((*Primary).CreateProject)),
	"RotateSecretKey":       handler(errorOnly((*Primary).RotateSecretKey)),
	"SetStrictLimits":       handler(errorOnly((*Primary).SetStrictLimits)),
	"ConnectPaymentAccount": handler(errorOnly((*Primary).ConnectPaymentAccount)),
	"ApplyPaymentEvent":     handler((*Primary).ApplyPaymentEvent),
	"CreateCustomer":        handler(errorOnly((*Primary).CreateCustomer)),
	"AssignPlan":            handler(errorOnly((*Primary).AssignPlan)),
	"DeleteCustomer":        handler((*Primary).DeleteCustomer),
	"PutAsset":              handler(errorOnly((*Primary).PutAsset)),
}

func handler[W, T any](apply func(*Primary, context.Context, W) (T, error)) func(context.Context, *Primary, []byte) (any, error) {
	return func(ctx context.Context, p *Primary, body []byte) (any, error) {
		var w W
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, dream.Errorf(dream.KindInvalid, "invalid_write", "the write's body does not decode: %v", err)
		}
		return apply(p, ctx, w)
	}
}

func errorOnly[W any](apply func(*Primary, context.Context, W) error) func(*Primary, context.Context, W) (noResult, error) {
	return func(p *Primary, ctx context.Context, w W) (noResult, error) { return noResult{}, apply(p, ctx, w) }
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
	// maxWriteBody bounds a forwarded write: the largest is an image.
	maxWriteBody = 16 << 20
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

// Handler serves the internal write endpoint on the primary.
type Handler struct {
	primary *Primary
	cluster Cluster
	secret  []byte
	now     func() time.Time
	logger  *slog.Logger
}

// NewHandler returns the internal endpoint applying writes with p.
func NewHandler(p *Primary, cluster Cluster, secret string, now func() time.Time, logger *slog.Logger) *Handler {
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWriteBody))
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
	apply, ok := writeHandlers[strings.TrimPrefix(r.URL.Path, WritesPath)]
	if !ok {
		answer(http.StatusNotFound, writeAnswer{Error: "Not found", Message: "no such write", Kind: dream.KindNotFound})
		return
	}
	// A node that lost the lease must not try: its copy is read-only.
	if isPrimary, _, err := h.cluster.Primary(); err != nil || !isPrimary {
		answer(http.StatusServiceUnavailable, errorAnswer(errPrimaryUnavailable))
		return
	}
	result, err := apply(r.Context(), h.primary, body)
	if err != nil {
		var e *dream.Error
		if !errors.As(err, &e) || e.Kind == dream.KindInternal {
			h.logger.Error("forwarded write failed", "write", r.URL.Path, "error", err)
			e = dream.ErrInternal
		}
		answer(http.StatusOK, errorAnswer(e))
		return
	}
	raw, err := json.Marshal(result)
	if err != nil {
		answer(http.StatusInternalServerError, errorAnswer(dream.ErrInternal))
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

// Errors of forwarding. Both say when to try again: a primary that is
// restarting or failing over is back within seconds.
var (
	errPrimaryUnavailable = &dream.Error{Kind: dream.KindUnavailable, Code: "primary_unavailable",
		Message: "The primary is unavailable; the write was not applied. Try again shortly.", Fields: map[string]any{"retryAfter": 1}}
	errReplicaBehind = &dream.Error{Kind: dream.KindTimeout, Code: "replica_lagging",
		Message: "The write was applied but this region has not caught up yet; read again shortly.", Fields: map[string]any{"retryAfter": 1}}
)

// Client forwards writes from a replica to the primary.
type Client struct {
	cluster Cluster
	secret  []byte
	// port is added to a primary hostname that has none: nodes listen on
	// the same port.
	port   string
	http   *http.Client
	now    func() time.Time
	logger *slog.Logger
}

// NewClient returns a Client signing with secret and reaching primaries on
// port when their hostname has none.
func NewClient(cluster Cluster, secret, port string, now func() time.Time, logger *slog.Logger) *Client {
	// A primary that vanished without closing its connections is noticed
	// by the dial timeout, not the whole request's.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: dialTimeout}).DialContext
	return &Client{cluster: cluster, secret: []byte(secret), port: port, now: now, logger: logger,
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

// call sends a write to the primary at host and decodes its result into
// out, then waits until this node's copy has the write.
func (c *Client) call(ctx context.Context, host, name string, w, out any) error {
	a, err := c.send(ctx, host, name, w, out)
	if err != nil {
		return err
	}
	pos, err := store.ParsePosition(a.Position)
	if err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	if err := c.cluster.WaitPosition(waitCtx, pos); err != nil {
		return errReplicaBehind
	}
	return nil
}

// ApplyIncrements sends a node's batch of units to the primary at host
// (host:port, or a hostname reached on the Client's port) and returns its
// answer without waiting for this node's copy.
func (c *Client) ApplyIncrements(ctx context.Context, host string, w dream.ApplyIncrements) (dream.IncrementsApplied, error) {
	var out dream.IncrementsApplied
	_, err := c.send(ctx, host, "ApplyIncrements", w, &out)
	return out, err
}

// send posts a write to the primary at host, retrying a primary that cannot
// be reached for a moment with the same body, and decodes its result into
// out.
func (c *Client) send(ctx context.Context, host, name string, w, out any) (writeAnswer, error) {
	body, err := json.Marshal(w)
	if err != nil {
		return writeAnswer{}, err
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(strings.Trim(host, "[]"), c.port)
	}
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
		return a, errPrimaryUnavailable
	}
	if a.Kind == dream.KindUnauthenticated && a.Error == "cluster_unauthorized" {
		// Not the client's fault: the nodes disagree on the cluster secret.
		return a, fmt.Errorf("the primary %s refused the cluster signature: check DREAM_CLUSTER_SECRET on every node", host)
	}
	if a.Error != "" {
		return a, &dream.Error{Kind: a.Kind, Code: a.Error, Message: a.Message, Fields: a.Fields}
	}
	if err := json.Unmarshal(a.Result, out); err != nil {
		return a, fmt.Errorf("forwarded write %s: decoding the result: %w", name, err)
	}
	return a, nil
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
	if err := json.NewDecoder(io.LimitReader(res.Body, maxWriteBody)).Decode(&a); err != nil {
		return a, fmt.Errorf("status %d: %w", res.StatusCode, err)
	}
	if res.StatusCode == http.StatusServiceUnavailable {
		return a, fmt.Errorf("the primary answered %s", a.Error)
	}
	return a, nil
}
