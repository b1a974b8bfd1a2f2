// Package edge is the HTTP API every node serves: the customer-facing API
// the published SDK calls, its request pipeline (request ids, logs, CORS and
// security headers, key and end-user token resolution, the platform gate,
// per-user rate limits) and, in dev mode, the dev identity routes.
//
// Reads are answered from the node's own database; every write goes through
// a dream.Writer, so a handler is the same on the primary and on a replica.
package edge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/dashboard"
	"github.com/dream-api/dream/docs"
	"github.com/dream-api/dream/edge/tally"
	"github.com/dream-api/dream/forward"
	"github.com/dream-api/dream/metrics"
	"github.com/dream-api/dream/outbox"
	"github.com/dream-api/dream/ratelimit"
	"github.com/dream-api/dream/store"
	"github.com/julienschmidt/httprouter"
)

// Options configure a Server.
type Options struct {
	// DB is the node's database, read locally.
	DB *store.DB
	// Writer applies writes on the primary.
	Writer dream.Writer
	// Tokens verifies end-user tokens.
	Tokens dream.TokenVerifier
	// Identity keeps end users' identity metadata in step with their plan.
	Identity dream.Identity
	// Payments creates checkout and portal pages.
	Payments dream.Payments
	// Webhooks verifies the payment provider's webhook signatures.
	Webhooks dream.WebhookVerifier
	// Limiter holds the per-user rate-limit buckets.
	Limiter *ratelimit.Limiter
	// RateLimitPerMinute is the per-user limit of projects that set none of
	// their own; zero disables it.
	RateLimitPerMinute int
	// AddressRateLimitPerMinute bounds the requests of one client address
	// to routes that act without a credential (sign-up, sign-in, token
	// exchange, the dev routes); SecretKeyRateLimitPerMinute those of one
	// environment's secret key to the routes that take it. Zero disables
	// either. Both count in Limiter.
	AddressRateLimitPerMinute   int
	SecretKeyRateLimitPerMinute int
	Logger                      *slog.Logger
	Now                         func() time.Time
	// Dev, when set, mounts the dev-mode routes: POST /dev/tokens and
	// GET /.well-known/jwks.json. It is nil in production.
	Dev DevIdentity
	// LiteFS is the mount of the database when it is replicated, nil for a
	// single node; readiness follows its replication lag.
	LiteFS *store.LiteFS
	// Internal, when set, is the primary's internal write endpoint, mounted
	// at forward.WritesPath for replicas to forward writes to.
	Internal http.Handler
	// Outbox, when set, is the node's outbox: usage units of projects
	// without strict limits are decided at this node, kept in the outbox
	// and shipped to the primary. Without it every unit is decided by the
	// primary.
	Outbox *outbox.Outbox
	// CachedEndUsers is how many end users the node keeps warm: their
	// verified tokens and their usage views. 0 is
	// tally.DefaultCachedUsers.
	CachedEndUsers int
	// WarmFile, when set, is a file on the node's own disk where Close
	// saves what the node keeps of its end users, and where Open reads it
	// back (warm.go).
	WarmFile string
	// TokenTrust names the identity configuration Tokens verifies
	// against: tokens saved under another are not restored. Empty
	// restores none.
	TokenTrust string
	// MaxPendingUnits bounds the units acknowledged at this node and not
	// yet seen applied that it holds in memory; at the bound, tracks answer
	// 503 until shipping catches up. 0 is tally.DefaultMaxPending.
	MaxPendingUnits int
	// Console, when set, is the developer's service behind the management
	// API under /v1.
	Console *dream.Console
	// Plan is what developers pay the platform: the platform gate follows
	// its grace period.
	Plan *dream.PlatformPlan
	// PlatformWebhooks, when set, verifies the platform webhook, mounted
	// at /webhook/platform.
	PlatformWebhooks dream.WebhookVerifier
	// Attempts counts sign-in attempts on the hosted pages.
	Attempts dream.AttemptLimiter
	// HostedClerk, when set, has the hosted end-user pages load Clerk's
	// components; without it, in dev mode, they are our own forms.
	HostedClerk *HostedClerk
	// Dashboard mounts the developer dashboard at /dashboard, on Console.
	Dashboard bool
	// DashboardClerkKey is the publishable key of the platform's own Clerk
	// application: the dashboard signs developers in with its components
	// when Console signs them in with Clerk.
	DashboardClerkKey string
	// SecureCookies marks developer session cookies Secure: every node
	// but one listening on loopback only, reached over plain HTTP.
	SecureCookies bool
	// Metrics, when set, counts the node's requests, cache lookups,
	// refusals, webhooks and shipping of usage.
	Metrics *metrics.Metrics
	// DevPayments, when set, is the payments emulator of dev mode, mounted
	// for its pages under /dev/checkout/ and /dev/portal/ and its clock at
	// /dev/clock/advance. It is nil in production.
	DevPayments http.Handler
}

// DevIdentity is the built-in identity issuer of dev mode, as its routes
// need it.
type DevIdentity interface {
	// IssueToken signs an end-user token for the end user with this email
	// in the project of publishableKey, storing plan when it is not empty.
	IssueToken(publishableKey, email, plan string) (token, userID string, err error)
	// SignIn checks an end user's password on the hosted sign-in page and
	// signs a token for them; a wrong one is KindUnauthenticated.
	SignIn(publishableKey, email, password string) (token, userID string, err error)
	// JWKS is the issuer's public key set document.
	JWKS() []byte
}

// Server is the HTTP API of one node.
type Server struct {
	db *store.DB
	// writer applies the requests' writes: every one is followed by a
	// refresh, so the request's next read at this node sees it.
	writer             dream.Writer
	tokens             dream.TokenVerifier
	payments           dream.Payments
	customers          dream.CustomerService
	carts              dream.CartService
	webhooks           dream.WebhookService
	platformWebhooks   *dream.PlatformWebhooks
	identity           dream.Identity
	dev                DevIdentity
	attempts           dream.AttemptLimiter
	hostedClerk        *HostedClerk
	console            *dream.Console
	plan               *dream.PlatformPlan
	secureCookies      bool
	limiter            *ratelimit.Limiter
	liteFS             *store.LiteFS
	rateLimitPerMinute int
	// addressRateLimit and secretKeyRateLimit are the Options' per-minute
	// limits of a client address and of a secret key.
	addressRateLimit, secretKeyRateLimit int
	logger                               *slog.Logger
	now                                  func() time.Time
	metrics                              *metrics.Metrics
	router                               *httprouter.Router
	// table is the routes mounted, in order.
	table  []dream.Route
	caches *caches
	// tally decides, reads and ships the end users' usage.
	tally *tally.Tally
	// lastChange is the change log entry the caches are in step with;
	// guarded by caches.refresh.
	lastChange int64
	// stopWatching ends the change watcher, which closes watched when it
	// has.
	stopWatching context.CancelFunc
	watched      chan struct{}
	// warmFile and tokenTrust are the Options'.
	warmFile, tokenTrust string
}

// Open returns the Server of a node with its routes, counting the usage
// units its outbox still holds, and starts what keeps it in step with the
// database: the change watcher and the tally's shipper. Close stops them.
func Open(ctx context.Context, o Options) (*Server, error) {
	s := &Server{
		db:                 o.DB,
		tokens:             o.Tokens,
		payments:           o.Payments,
		secureCookies:      o.SecureCookies,
		identity:           o.Identity,
		dev:                o.Dev,
		attempts:           o.Attempts,
		hostedClerk:        o.HostedClerk,
		plan:               o.Plan,
		limiter:            o.Limiter,
		liteFS:             o.LiteFS,
		rateLimitPerMinute: o.RateLimitPerMinute,
		addressRateLimit:   o.AddressRateLimitPerMinute,
		secretKeyRateLimit: o.SecretKeyRateLimitPerMinute,
		logger:             o.Logger,
		now:                o.Now,
		metrics:            o.Metrics,
		router:             httprouter.New(),
		caches:             newCaches(o.Metrics, cmp.Or(o.CachedEndUsers, tally.DefaultCachedUsers)),
		watched:            make(chan struct{}),
		warmFile:           o.WarmFile,
		tokenTrust:         o.TokenTrust,
	}
	// Caches start empty: only changes from now on matter.
	var err error
	if s.lastChange, err = o.DB.LastChange(ctx); err != nil {
		return nil, err
	}
	s.writer = readYourWrites{Writer: o.Writer, server: s}
	var warm []store.UserRef
	var warmTokens int
	warming := time.Now()
	if s.warmFile != "" {
		warm, warmTokens = s.loadWarm()
	}
	// The tally keeps its own state in step with its writes: a shipped
	// batch needs no read of the change log, and a unit decided by the
	// primary changes nothing but its user's usage.
	s.tally, err = tally.Open(ctx, tally.Options{DB: o.DB, Writer: o.Writer, Outbox: o.Outbox,
		CachedUsers: o.CachedEndUsers, MaxPending: o.MaxPendingUnits, Now: o.Now, Logger: o.Logger, Metrics: o.Metrics,
		Warm: warm})
	if err != nil {
		return nil, err
	}
	if len(warm) > 0 || warmTokens > 0 {
		s.logger.Info("restored the end users kept before the restart", "file", o.WarmFile,
			"tokens", warmTokens, "usage_views", len(warm), "duration", time.Since(warming).Round(time.Millisecond).String())
	}
	s.customers = &dream.Customers{Directory: o.DB, Writer: s.writer, Identity: o.Identity, Payments: o.Payments, Logger: o.Logger}
	s.carts = &dream.Carts{Directory: o.DB, Writer: s.writer, Payments: o.Payments, Logger: o.Logger, Now: o.Now}
	s.webhooks = &dream.PaymentWebhooks{Verifier: o.Webhooks, Directory: o.DB, Payments: o.Payments, Writer: s.writer,
		Identity: o.Identity, Logger: o.Logger}
	if o.PlatformWebhooks != nil {
		s.platformWebhooks = &dream.PlatformWebhooks{Verifier: o.PlatformWebhooks, Writer: s.writer}
	}
	if o.Console != nil {
		// The console's writes go through this node's writer, so that a
		// developer reads their own writes at this node; its customer
		// pages use the node's customers service.
		console := *o.Console
		console.Writer, console.EndUsers, console.Customers, console.Admin = s.writer, o.DB, s.customers, o.DB
		s.console = &console
	}
	s.routes(o)
	watching, stop := context.WithCancel(context.Background())
	s.stopWatching = stop
	go func() {
		defer close(s.watched)
		s.watch(watching)
	}()
	return s, nil
}

// Close stops the server's background work once the requests are over:
// the tally hands the units it holds to the primary, then the change
// watcher stops, then what the node keeps of its end users is saved to
// the warm file. The writer, the outbox and the database must stay open
// until it returns.
func (s *Server) Close() error {
	err := s.tally.Close()
	s.stopWatching()
	<-s.watched
	if s.warmFile != "" {
		if saveErr := s.saveWarm(); saveErr != nil {
			err = errors.Join(err, fmt.Errorf("saving the end users kept: %w", saveErr))
		}
	}
	return err
}

// readYourWrites is the writer of a node's requests. After a write it
// brings the node's caches and tally in step with the change log at once,
// instead of when the change watcher next looks, so that the request's
// next read at this node sees what it wrote: on a replica the forwarded
// write has reached the node's copy by then. This is the one place a
// request's write makes the node drop what it keeps; the tally, which owns
// usage, does the same for the units it sends the primary.
type readYourWrites struct {
	dream.Writer
	server *Server
}

func (w readYourWrites) Write(ctx context.Context, write dream.Write, result any) error {
	if err := w.Writer.Write(ctx, write, result); err != nil {
		return err
	}
	// The write stands whether or not the caller still waits for it.
	if err := w.server.Refresh(context.WithoutCancel(ctx)); err != nil {
		// What the node keeps goes, so nothing stale answers until the
		// watcher reads the change log again.
		w.server.logger.Error("reading the change log after a write", "request_id", dream.RequestIDFromContext(ctx), "error", err)
		w.server.forgetAll()
	}
	return nil
}

// Flush ships every usage unit the node holds to the primary now, and
// returns once the primary has applied them or ctx is done. Close does it
// too, for a while.
func (s *Server) Flush(ctx context.Context) error { return s.tally.Flush(ctx) }

// routes mounts the routes o asks for.
func (s *Server) routes(o Options) {
	// Paths are matched exactly, as the SDK sends them: no redirects to a
	// cleaned or slash-adjusted path, whose answers would not be JSON.
	s.router.RedirectTrailingSlash = false
	s.router.RedirectFixedPath = false
	s.router.NotFound = http.HandlerFunc(s.notFound)
	s.router.MethodNotAllowed = http.HandlerFunc(s.methodNotAllowed)

	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		s.handle(method, "/health", dream.AccessNone, s.handleHealth)
	}
	s.handle(http.MethodGet, "/healthz", dream.AccessNone, s.handleHealth)
	s.handle(http.MethodGet, "/readyz", dream.AccessNone, s.handleReady)
	if o.Internal != nil {
		s.mount(dream.Route{Method: http.MethodPost, Path: forward.WritesPath + ":name", Access: dream.AccessCluster, MaxBody: forward.MaxWriteBody}, o.Internal)
	}
	s.handle(http.MethodGet, "/openapi.json", dream.AccessNone, s.handleOpenAPI)
	s.handle(http.MethodGet, "/api/tiers", dream.AccessPublishable, s.handleTiers)
	s.handle(http.MethodGet, "/api/products", dream.AccessPublishable, s.handleProducts)
	s.handle(http.MethodPost, "/api/data", dream.AccessEndUser, s.handleTrack)
	s.handle(http.MethodGet, "/api/usage", dream.AccessEndUser, s.handleUsage)
	s.handle(http.MethodPost, "/api/create-checkout", dream.AccessEndUser, s.handleCreateCheckout)
	s.handle(http.MethodPost, "/api/customer-portal", dream.AccessEndUser, s.handleCustomerPortal)
	s.handle(http.MethodPost, "/api/cart/checkout", dream.AccessPublishable, s.handleCartCheckout)
	s.handle(http.MethodPost, "/webhook/stripe", dream.AccessWebhook, s.handleWebhook)
	s.handle(http.MethodPost, "/api/customers", dream.AccessSecret, s.handleCreateCustomer)
	s.handle(http.MethodGet, "/api/customers/:id", dream.AccessSecret, s.handleGetCustomer)
	s.handle(http.MethodPatch, "/api/customers/:id", dream.AccessSecret, s.handleUpdateCustomer)
	s.handle(http.MethodDelete, "/api/customers/:id", dream.AccessSecret, s.handleDeleteCustomer)
	s.handle(http.MethodGet, "/api/dashboard", dream.AccessSecret, s.handleDashboard)
	s.handle(http.MethodGet, "/api/dashboard/totals", dream.AccessSecret, s.handleDashboardTotals)
	s.handleRoute(dream.Route{Method: http.MethodPost, Path: "/api/assets", Access: dream.AccessSecret, MaxBody: maxAssetBody}, s.handleUploadAsset)
	s.handle(http.MethodGet, "/api/assets/*key", dream.AccessNone, s.handleAsset)
	if s.console != nil {
		s.mountConsole()
		if o.Dashboard {
			d := dashboard.New(dashboard.Options{Console: s.console, Logger: s.logger, SecureCookies: s.secureCookies,
				ClerkKey: o.DashboardClerkKey, ClerkFrontendAPI: clerkFrontendAPI(o.DashboardClerkKey)})
			for _, route := range d.Routes() {
				s.mount(route, d)
			}
		}
	}
	if s.platformWebhooks != nil {
		s.handle(http.MethodPost, "/webhook/platform", dream.AccessWebhook, s.handlePlatformWebhook)
	}
	if s.dev != nil || s.hostedClerk != nil {
		s.mountHosted()
	}
	if o.Dev != nil {
		s.mountDev(o.Dev)
	}
	if o.DevPayments != nil {
		s.mountDevPayments(o.DevPayments)
	}
}

// request is what the pipeline resolved for a handler.
type request struct {
	params httprouter.Params
	// key is the environment of the credential presented. With a
	// publishable key it is the only environment; with a secret key it
	// scopes checkout, the token check and the customers routes.
	key *dream.Environment
	// scope is the environment whose catalogue and usage the request reads
	// and writes: the secret key's validated X-Publishable-Key override
	// when one is sent, otherwise key.
	scope *dream.Environment
	// user is the verified end user on endUser routes.
	user endUser
	// developer is the signed-in developer on developer routes, and
	// sessionToken the credential they presented.
	developer    *dream.Platform
	sessionToken string
}

// platformID is the platform a request acts for: the developer's, or that
// of the key's project.
func (r *request) platformID() string {
	if r.developer != nil {
		return r.developer.ID
	}
	return r.key.Project.PlatformID
}

// customerEnvironment is the environment the customers routes act in: the
// secret key's own, whatever X-Publishable-Key says. A customer belongs to
// the environment of the key that created it, and a key of one project
// never reads, changes or deletes another project's customers.
func (r *request) customerEnvironment() *dream.Environment { return r.key }

// handlerFunc is a route handler. It writes its success response itself
// and returns errors for the one error writer to answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request, req *request) error

// Routes lists the routes the server mounted with the credential each
// takes, so that tests and the API document can be held to the router's own
// table.
func (s *Server) Routes() []dream.Route { return append([]dream.Route(nil), s.table...) }

// mount registers a handler that checks the credential its route declares
// itself.
func (s *Server) mount(route dream.Route, h http.Handler) {
	s.table = append(s.table, route)
	measured := s.metrics.Route(route.Method, route.Path)
	s.router.Handler(route.Method, route.Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		info.route, info.measured = route.Path, measured
		if err := s.admit(w, r, route); err != nil {
			s.writeError(w, r, err)
			return
		}
		h.ServeHTTP(w, r)
	}))
}

// handle registers a route that reads at most a JSON body of the API's
// bound, behind the pipeline's checks of the credential a declares.
func (s *Server) handle(method, path string, a dream.Access, h handlerFunc) {
	s.handleRoute(dream.Route{Method: method, Path: path, Access: a, MaxBody: maxJSONBody}, h)
}

// handleRoute registers a route behind the pipeline's checks of the
// credential it declares.
func (s *Server) handleRoute(route dream.Route, h handlerFunc) {
	s.table = append(s.table, route)
	measured := s.metrics.Route(route.Method, route.Path)
	s.router.Handle(route.Method, route.Path, func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		info := infoFrom(r.Context())
		info.route, info.measured = route.Path, measured
		req := &request{params: ps}
		err := s.admit(w, r, route)
		if err == nil {
			err = s.authenticate(w, r, route.Access, req)
		}
		if req.scope != nil {
			info.project = req.scope.Project.ID
		}
		if err == nil {
			err = h(w, r, req)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, _ *request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// maxReadyLag is the replication lag past which a replica reports itself
// not ready, so the load balancer sends its traffic elsewhere.
const maxReadyLag = 10 * time.Second

// handleReady answers GET /readyz: 200 when the database answers and, on a
// replica, its copy is less than maxReadyLag behind; 503 otherwise.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request, _ *request) error {
	if err := s.db.Ping(r.Context()); err != nil {
		s.logger.Error("readiness: database", "error", err)
		return errNotReady("the database is not available")
	}
	if s.liteFS != nil {
		lag, err := s.liteFS.Lag()
		if err != nil {
			s.logger.Error("readiness: replication lag", "error", err)
			return errNotReady("the replication lag is unknown")
		}
		if lag > maxReadyLag {
			return errNotReady(fmt.Sprintf("replication is %s behind", lag.Round(time.Millisecond)))
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func errNotReady(why string) error {
	return &dream.Error{Kind: dream.KindUnavailable, Code: "not_ready", Message: "Not ready: " + why}
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, dream.Errorf(dream.KindNotFound, "Not found", "No route for %s %s", r.Method, r.URL.Path))
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, dream.Errorf(dream.KindMethod, "Method not allowed",
		"%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, w.Header().Get("Allow")))
}

// handleOpenAPI serves the API's OpenAPI document.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request, _ *request) error {
	writeBody(w, http.StatusOK, docs.OpenAPI)
	return nil
}
