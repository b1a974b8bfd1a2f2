package forward_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/forward"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

// fakeCluster is a LiteFS cluster as one node sees it.
type fakeCluster struct {
	primary  bool
	host     string
	position atomic.Uint64
	// waited is the last position a replica waited for; behind makes the
	// wait time out.
	mu     sync.Mutex
	waited store.Position
	behind bool
}

func (c *fakeCluster) Primary() (bool, string, error) { return c.primary, c.host, nil }

func (c *fakeCluster) Position() (store.Position, error) {
	return store.Position(c.position.Add(1)), nil
}

func (c *fakeCluster) WaitPosition(ctx context.Context, p store.Position) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waited = p
	if c.behind {
		return context.DeadlineExceeded
	}
	return nil
}

var quiet = slog.New(slog.DiscardHandler)

var ctx = context.Background()

// forwarding is a replica's Router whose writes go over HTTP to a primary
// Handler; both use one database, which stands for the replicated copy,
// with one SaaS project whose test mode is connected to account.
type forwarding struct {
	db       *store.DB
	p        *primary.Primary
	saas     storetest.Project
	router   *forward.Router
	replica  *fakeCluster
	primary  *fakeCluster
	server   *httptest.Server
	requests atomic.Int64
	// fail answers the next requests with 503 after applying them, as a
	// connection lost between the primary's commit and its answer.
	failAfterApplying atomic.Int64
}

func newForwarding(t *testing.T, secret string) *forwarding {
	db := storetest.Open(t)
	p := primary.New(db, time.Now, nil)
	t.Cleanup(func() { p.Close() })
	f := &forwarding{db: db, p: p, primary: &fakeCluster{primary: true}}
	f.saas = storetest.CreateProject(t, db, p, storetest.Platform(t, p), dream.ProjectSaaS, storetest.SaaSTiers())
	if err := p.Write(ctx, dream.ConnectPaymentAccount{PlatformID: f.saas.PlatformID, Mode: dream.ModeTest, AccountID: account}, nil); err != nil {
		t.Fatal(err)
	}
	handler := forward.NewHandler(f.p, f.primary, "cluster-secret", time.Now, quiet)
	f.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if f.failAfterApplying.Load() > 0 {
			f.failAfterApplying.Add(-1)
			handler.ServeHTTP(httptest.NewRecorder(), r)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"primary_unavailable","kind":9}`)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(f.server.Close)
	f.replica = &fakeCluster{host: strings.TrimPrefix(f.server.URL, "http://")}
	client := forward.NewClient(secret, "1", time.Now, quiet)
	f.router = forward.NewRouter(p, f.replica, client)
	return f
}

const account = "acct_test_1"

// usage is an end user's usage as the database has it.
func (f *forwarding) usage(env int64, user string) dream.Usage {
	tiers, err := f.db.Tiers(ctx, env)
	if err != nil {
		panic(err)
	}
	state, err := f.db.UserState(ctx, env, user)
	if err != nil {
		panic(err)
	}
	return dream.UsageAt(tiers, user, state, "", time.Now())
}

// subscriptionCreated is an event of account reporting user_1's new
// enterprise subscription in pk.
func subscriptionCreated(pk string) dream.PaymentEvent {
	return dream.PaymentEvent{ID: "evt_1", Type: "customer.subscription.created", Mode: dream.ModeTest, Account: account,
		Created: time.Unix(1, 0).UTC(), Payload: []byte(`{}`), Subscription: &dream.SubscriptionChanged{
			PublishableKey: pk, UserID: "user_1",
			Subscription: dream.Subscription{ID: "sub_1", Status: dream.StatusActive, Plan: "enterprise", Version: 1000},
		}}
}

func TestRouter_Forwards(t *testing.T) {
	f := newForwarding(t, "cluster-secret")
	env := f.saas.Test.EnvironmentID
	u, err := dream.Apply(ctx, f.router, dream.TrackUsage{EnvironmentID: env, UserID: "user_1", TokenPlan: "pro"})
	if err != nil || u.Count != 1 || u.Plan != "pro" || u.Limit != 10000 {
		t.Fatalf("a unit forwarded to the primary: usage %+v, error %v; want count 1 on pro, limit 10000", u, err)
	}
	if f.requests.Load() != 1 || f.replica.waited == 0 {
		t.Fatalf("the replica sent %d requests and waited for position %d, want 1 request and a wait for the write",
			f.requests.Load(), f.replica.waited)
	}

	// Every write crosses the wire and keeps its result and its errors.
	if err := f.router.Write(ctx, dream.AssignPlan{EnvironmentID: env, UserID: "user_1", Plan: "free"}, nil); err != nil {
		t.Fatalf("assigning a plan through the primary: error %v, want it applied", err)
	}
	if err := f.router.Write(ctx, dream.CreateCustomer{EnvironmentID: env, UserID: "user_2", Email: "a@example.com", CreatedAt: time.Now()}, nil); err != nil {
		t.Fatalf("creating a customer through the primary: error %v, want it applied", err)
	}
	err = f.router.Write(ctx, dream.CreateCustomer{EnvironmentID: env, UserID: "user_3", Email: "A@example.com"}, nil)
	var e *dream.Error
	if !errors.As(err, &e) || e.Kind != dream.KindConflict || e.Code != "Customer already exists" {
		t.Fatalf("a duplicate email forwarded to the primary: error %v, want a conflict Customer already exists", err)
	}
	if deleted, err := dream.Apply(ctx, f.router, dream.DeleteCustomer{EnvironmentID: env, UserID: "user_2"}); err != nil || !deleted {
		t.Fatalf("deleting the customer through the primary: deleted %v, error %v; want deleted, no error", deleted, err)
	}
	out, err := dream.Apply(ctx, f.router, dream.ApplyPaymentEvent{Event: subscriptionCreated(f.saas.Test.PublishableKey)})
	if err != nil || out.Result != dream.EventProcessed || len(out.PlanChanges) != 1 {
		t.Fatalf("a forwarded payment event: outcome %+v, error %v; want processed with one plan change", out, err)
	}
	if err := f.router.Write(ctx, dream.PutAsset{Asset: dream.Asset{Key: "k", PlatformID: f.saas.PlatformID, ContentType: "image/png", Data: []byte{1}, CreatedAt: time.Now()}}, nil); err != nil {
		t.Fatalf("storing an asset through the primary: error %v, want it applied", err)
	}
	_, hash := dream.NewSecretKey(dream.ModeTest)
	if err := f.router.Write(ctx, dream.RotateSecretKey{EnvironmentID: env, NewHash: hash}, nil); err != nil {
		t.Fatalf("rotating a secret key through the primary: error %v, want it applied", err)
	}
	if err := f.router.Write(ctx, dream.ConnectPaymentAccount{PlatformID: f.saas.PlatformID, Mode: dream.ModeLive, AccountID: "acct_2"}, nil); err != nil {
		t.Fatalf("connecting a live payment account through the primary: error %v, want it applied", err)
	}
	platform := dream.NewID("plt_")
	if err := f.router.Write(ctx, dream.CreatePlatform{ID: platform, Owner: "o"}, nil); err != nil {
		t.Fatalf("creating a platform through the primary: error %v, want it applied", err)
	}
	_, projectHash := dream.NewSecretKey(dream.ModeTest)
	if err := f.router.Write(ctx, dream.CreateProject{ID: dream.NewID("prj_"), PlatformID: platform, Name: "P", Type: dream.ProjectSaaS,
		Environments: []dream.NewEnvironment{{Mode: dream.ModeTest, PublishableKey: dream.NewPublishableKey(dream.ModeTest), SecretKeyHash: projectHash}}}, nil); err != nil {
		t.Fatalf("creating a project through the primary: error %v, want it applied", err)
	}

	// A refusal keeps its fields.
	for i := 0; i < 100; i++ {
		dream.Apply(ctx, f.router, dream.TrackUsage{EnvironmentID: env, UserID: "user_4"})
	}
	_, err = dream.Apply(ctx, f.router, dream.TrackUsage{EnvironmentID: env, UserID: "user_4"})
	if !errors.As(err, &e) || e.Code != "Tier limit reached" || e.Fields["usageCount"] != 100.0 || e.Fields["limit"] != 100.0 {
		t.Fatalf("the 101st unit forwarded to the primary: error %#v, want Tier limit reached with usageCount 100 and limit 100", err)
	}
}

// TestRouter_RetryAppliesOnce loses the primary's answer after it applied
// a write: the replica retries with the same write id and the unit is
// counted once.
func TestRouter_RetryAppliesOnce(t *testing.T) {
	f := newForwarding(t, "cluster-secret")
	env := f.saas.Test.EnvironmentID
	f.failAfterApplying.Store(2)
	u, err := dream.Apply(ctx, f.router, dream.TrackUsage{EnvironmentID: env, UserID: "user_1"})
	if err != nil || u.Count != 1 {
		t.Fatalf("a unit whose first two answers were lost: usage %+v, error %v; want count 1", u, err)
	}
	if f.requests.Load() != 3 {
		t.Fatalf("the replica sent %d requests to the primary, want 3", f.requests.Load())
	}
	if got := f.usage(env, "user_1").Count; got != 1 {
		t.Fatalf("the retried unit was counted %d times, want once", got)
	}
}

func TestRouter_PrimaryUnavailable(t *testing.T) {
	f := newForwarding(t, "cluster-secret")
	f.failAfterApplying.Store(10)
	_, err := dream.Apply(ctx, f.router, dream.TrackUsage{EnvironmentID: f.saas.Test.EnvironmentID, UserID: "user_1"})
	var e *dream.Error
	if !errors.As(err, &e) || e.Kind != dream.KindUnavailable || e.Code != "primary_unavailable" || e.Fields["retryAfter"] != 1 {
		t.Fatalf("a write to a primary that keeps answering 503: error %#v, want unavailable primary_unavailable, retryAfter 1", err)
	}
	f.server.Close()
	if _, err := dream.Apply(ctx, f.router, dream.TrackUsage{EnvironmentID: f.saas.Test.EnvironmentID, UserID: "user_1"}); dream.ErrorKind(err) != dream.KindUnavailable {
		t.Fatalf("a write with the primary down: error %v, want unavailable", err)
	}
}

func TestRouter_ReplicaBehind(t *testing.T) {
	f := newForwarding(t, "cluster-secret")
	f.replica.behind = true
	_, err := dream.Apply(ctx, f.router, dream.TrackUsage{EnvironmentID: f.saas.Test.EnvironmentID, UserID: "user_1"})
	if dream.ErrorKind(err) != dream.KindTimeout {
		t.Fatalf("a write while the replica stays behind: error %v, want a timeout", err)
	}
	// The write itself was applied.
	if got := f.usage(f.saas.Test.EnvironmentID, "user_1").Count; got != 1 {
		t.Fatalf("the primary counted %d units, want the write applied once", got)
	}
}

func TestRouter_WrongSecret(t *testing.T) {
	f := newForwarding(t, "another-secret")
	_, err := dream.Apply(ctx, f.router, dream.TrackUsage{EnvironmentID: f.saas.Test.EnvironmentID, UserID: "user_1"})
	if err == nil || dream.ErrorKind(err) != dream.KindInternal || !strings.Contains(err.Error(), "DREAM_CLUSTER_SECRET") {
		t.Fatalf("a write signed with the wrong secret: error %v, want an internal error naming DREAM_CLUSTER_SECRET", err)
	}
	if got := f.usage(f.saas.Test.EnvironmentID, "user_1").Count; got != 0 {
		t.Fatalf("a write signed with the wrong secret counted %d units, want none", got)
	}
}

func TestRouter_LocalOnPrimary(t *testing.T) {
	f := newForwarding(t, "cluster-secret")
	f.replica.primary = true
	if _, err := dream.Apply(ctx, f.router, dream.TrackUsage{EnvironmentID: f.saas.Test.EnvironmentID, UserID: "user_1"}); err != nil {
		t.Fatalf("a unit tracked on the primary itself: error %v, want it counted locally", err)
	}
	if f.requests.Load() != 0 {
		t.Fatalf("the primary sent %d requests to forward a write to itself, want none", f.requests.Load())
	}
}

func TestHandler_Refuses(t *testing.T) {
	f := newForwarding(t, "cluster-secret")
	post := func(path, at, signature, body string) int {
		req, _ := http.NewRequest("POST", f.server.URL+path, strings.NewReader(body))
		req.Header.Set("X-Dream-Time", at)
		req.Header.Set("X-Dream-Signature", signature)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	now := func(d time.Duration) string { return strconvMillis(time.Now().Add(d)) }
	if status := post(forward.WritesPath+"TrackUsage", now(0), "00", `{}`); status != http.StatusUnauthorized {
		t.Fatalf("a write with a bad signature: status %d, want 401", status)
	}
	body := `{"environmentId":1,"userId":"u"}`
	stale := now(-time.Minute)
	if status := post(forward.WritesPath+"TrackUsage", stale, signForTest("POST", forward.WritesPath+"TrackUsage", stale, body), body); status != http.StatusUnauthorized {
		t.Fatalf("a write signed a minute ago: status %d, want 401", status)
	}
	fresh := now(0)
	if status := post(forward.WritesPath+"Nothing", fresh, signForTest("POST", forward.WritesPath+"Nothing", fresh, body), body); status != http.StatusNotFound {
		t.Fatalf("an unknown kind of write: status %d, want 404", status)
	}
	f.primary.primary = false
	if status := post(forward.WritesPath+"TrackUsage", fresh, signForTest("POST", forward.WritesPath+"TrackUsage", fresh, body), body); status != http.StatusServiceUnavailable {
		t.Fatalf("a write to a node that lost the lease: status %d, want 503", status)
	}
}

func signForTest(method, path, at, body string) string {
	return forward.Sign([]byte("cluster-secret"), method, path, at, []byte(body))
}

func strconvMillis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
