// Command dream runs Dream API.
//
//	dream serve    production: configuration from flags and environment
//	dream dev      one node with embedded defaults and a seeded demo developer
//	dream migrate  apply pending schema migrations and exit
//	dream backup   copy a running node's database to a checked backup file
//	dream restore  install a backup file as a node's database
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/auth"
	"github.com/dream-api/dream/billing"
	"github.com/dream-api/dream/billing/emulator"
	"github.com/dream-api/dream/edge"
	"github.com/dream-api/dream/forward"
	"github.com/dream-api/dream/metrics"
	"github.com/dream-api/dream/outbox"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/ratelimit"
	"github.com/dream-api/dream/store"
)

const usage = `usage: dream <command> [flags]

commands:
  serve          run in production (configuration from flags and environment)
  dev            run one node offline with a seeded demo developer
  migrate        apply pending database migrations and exit
  strict-limits  turn a project's strict usage limits on or off (run it on the primary)
  billing-setup  create the platform plan's product, prices and meter on the platform's Stripe account, once
  backup         copy the database of a running node to a checked file: dream backup --db <db> --out <file>
  restore        install a backup as a node's database, migrated: dream restore --from <file> --db <db>

Run 'dream <command> -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := tuneMalloc(); err != nil {
		fmt.Fprintln(os.Stderr, "dream:", err)
	}
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run runs the command in args until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve", "dev", "migrate", "strict-limits", "billing-setup", "backup", "restore":
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "dream: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
	config, err := loadConfig(args[0], args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	logs := newLogWriter(stderr)
	defer logs.Close()
	m := &Main{Config: config, Stdout: stdout, Logger: newLogger(config, logs), Now: time.Now}
	defer m.Close()
	switch config.Command {
	case "migrate":
		return m.Migrate(ctx)
	case "strict-limits":
		return m.SetStrictLimits(ctx)
	case "billing-setup":
		return m.SetUpBilling(ctx)
	case "backup":
		return m.Backup(ctx)
	case "restore":
		return m.Restore(ctx)
	}
	if err := m.Open(ctx); err != nil {
		return err
	}
	m.Memory.applyGC(getenv)
	return m.Serve(ctx)
}

// newLogger logs JSON lines in production and readable text in dev mode.
func newLogger(c *Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.Command == "dev" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Main is the whole program, wired from a Config. Tests construct it
// directly.
type Main struct {
	Config *Config
	Stdout io.Writer
	Logger *slog.Logger
	Now    func() time.Time

	DB       *store.DB
	Outbox   *outbox.Outbox
	Primary  *primary.Primary
	Server   *edge.Server
	Listener net.Listener
	// Metrics are the node's metrics, served on MetricsListener when
	// the configuration gives it an address.
	Metrics         *metrics.Metrics
	MetricsListener net.Listener
	// LiteFS is the mount of a replicated database, nil for a plain file.
	LiteFS *store.LiteFS
	// DevIssuer is dev mode's identity issuer and Emulator its payments
	// emulator; both nil in production.
	DevIssuer *auth.DevIssuer
	Emulator  *emulator.Emulator
	// Jobs are the primary's daily jobs.
	Jobs *primary.Jobs
	// Memory is how the node spends its memory budget.
	Memory memoryPlan
	// passwords hashes local accounts' passwords; nil when developers sign
	// in with Clerk.
	passwords *auth.Passwords
	// warmFile is where the server keeps its end users across a restart,
	// beside the outbox.
	warmFile string
}

// Migrate applies pending migrations to the configured database and gives
// a database created without it incremental auto_vacuum, which rewrites the
// file once: an operator's step, never a node's start.
func (m *Main) Migrate(ctx context.Context) error {
	if err := m.openDB(); err != nil {
		return err
	}
	if err := m.migrate(ctx); err != nil {
		return err
	}
	converted, err := m.DB.ConvertToIncrementalVacuum(ctx)
	if converted {
		fmt.Fprintln(m.Stdout, "converted the database to incremental auto_vacuum: its free pages now return to the file system")
	}
	return err
}

// SetStrictLimits sets the configured project's strict limits. It writes
// to the database file directly, so on a cluster it runs on the primary;
// every node sees the change through replication and the change log.
func (m *Main) SetStrictLimits(ctx context.Context) error {
	if err := m.openDB(); err != nil {
		return err
	}
	if m.LiteFS != nil {
		if isPrimary, host, err := m.LiteFS.Primary(); err != nil {
			return err
		} else if !isPrimary {
			return fmt.Errorf("dream strict-limits: this node is a replica; run it on the primary (%s)", host)
		}
	}
	if pending, err := m.DB.PendingMigrations(ctx); err != nil {
		return err
	} else if len(pending) > 0 {
		return fmt.Errorf("dream strict-limits: the database lacks migrations %v; run dream migrate first", pending)
	}
	m.Primary = primary.New(m.DB, m.Now, nil)
	if err := m.Primary.Write(ctx, dream.UpdateProject{ProjectID: m.Config.Project, Changes: dream.ProjectChanges{StrictLimits: &m.Config.Strict}}, nil); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "project %s: strict limits %v\n", m.Config.Project, m.Config.Strict)
	return nil
}

// SetUpBilling creates the platform plan's objects on the platform's own
// Stripe account, those that do not exist yet, and prints the settings
// that name them.
func (m *Main) SetUpBilling(ctx context.Context) error {
	stripe := billing.NewStripe(billing.StripeConfig{SecretKey: m.Config.StripeSecretKey, APIURL: m.Config.StripeAPIURL, Logger: m.Logger})
	setup, err := stripe.SetUpPlatformPlan(ctx, m.Config.Plan)
	if err != nil {
		return fmt.Errorf("dream billing-setup: %w", err)
	}
	if len(setup.Created) == 0 {
		fmt.Fprintln(m.Stdout, "The platform plan exists already; nothing was created.")
	}
	for _, c := range setup.Created {
		fmt.Fprintf(m.Stdout, "created %s\n", c)
	}
	fmt.Fprintf(m.Stdout, "\nSet these for dream serve (product %s, meter %s):\n  DREAM_PLATFORM_PRICE_ID=%s\n  DREAM_PLATFORM_METERED_PRICE_ID=%s\n  DREAM_PLATFORM_METER_EVENT=%s\n",
		setup.ProductID, setup.MeterID, setup.PriceID, setup.MeteredPriceID, m.Config.Plan.MeterEvent)
	return nil
}

// openDB opens the database and notes whether it lives on LiteFS.
func (m *Main) openDB() error {
	db, err := store.Open(m.Config.Database, false)
	if err != nil {
		return err
	}
	m.DB, m.LiteFS = db, store.DetectLiteFS(m.Config.Database)
	return nil
}

func (m *Main) migrate(ctx context.Context) error {
	applied, err := m.DB.Migrate(ctx)
	for _, name := range applied {
		fmt.Fprintf(m.Stdout, "applied %s\n", name)
	}
	if err == nil && len(applied) == 0 {
		fmt.Fprintln(m.Stdout, "database is up to date")
	}
	return err
}

// Open opens and migrates the database, wires the parts for the command's
// mode and starts listening. In dev mode it also seeds the demo developer.
func (m *Main) Open(ctx context.Context) error {
	if m.Config.Command == "dev" {
		if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
			return err
		}
	}
	if err := m.openDB(); err != nil {
		return err
	}
	if err := m.prepareSchema(ctx); err != nil {
		return err
	}
	m.Metrics = metrics.New(billing.EventTypes())
	m.Metrics.CollectReplication(m.replication())
	if err := m.openOutbox(); err != nil {
		return err
	}
	var err error
	if m.Listener, err = net.Listen("tcp", m.Config.Addr); err != nil {
		return err
	}
	if m.Config.MetricsAddr != "" {
		if m.MetricsListener, err = net.Listen("tcp", m.Config.MetricsAddr); err != nil {
			return err
		}
	}
	httpClient := &http.Client{Timeout: 15 * time.Second}
	plan := &m.Config.Plan
	if m.Config.Command == "dev" {
		if err := m.openEmulator(httpClient); err != nil {
			return err
		}
	}
	m.Primary = primary.New(m.DB, m.Now, m.Metrics)
	node, err := readNodeMemory(os.DirFS("/"))
	if err != nil {
		return err
	}
	m.Memory = planMemory(node, m.Config.MemoryBudget)
	m.Logger.Info("memory budget", "node_bytes", node.Bytes, "node_memory_from", node.Source, "budget_bytes", m.Memory.Budget,
		"cached_end_users", m.Memory.CachedEndUsers, "bytes_per_end_user", endUserBytes)
	// The buckets of client addresses and secret keys share the limiter
	// with those of end users; they are far fewer.
	limiter, err := ratelimit.New(m.Memory.CachedEndUsers)
	if err != nil {
		return err
	}
	opts := edge.Options{
		Plan:                        plan,
		DB:                          m.DB,
		Writer:                      m.Primary,
		Limiter:                     limiter,
		RateLimitPerMinute:          m.Config.RateLimitPerMinute,
		AddressRateLimitPerMinute:   m.Config.AddressRateLimitPerMinute,
		SecretKeyRateLimitPerMinute: m.Config.SecretKeyRateLimitPerMinute,
		Logger:                      m.Logger,
		Now:                         m.Now,
		LiteFS:                      m.LiteFS,
		Outbox:                      m.Outbox,
		WarmFile:                    m.warmFile,
		CachedEndUsers:              m.Memory.CachedEndUsers,
		Metrics:                     m.Metrics,
	}
	if m.LiteFS != nil {
		// Every node takes writes: the primary applies them, replicas
		// forward them to it over the internal endpoint.
		_, port, err := net.SplitHostPort(m.Listener.Addr().String())
		if err != nil {
			return err
		}
		client := forward.NewClient(m.Config.ClusterSecret, port, m.Now, m.Logger)
		opts.Writer = forward.NewRouter(m.Primary, m.LiteFS, client)
		opts.Internal = forward.NewHandler(m.Primary, m.LiteFS, m.Config.ClusterSecret, m.Now, m.Logger)
	}
	console := &dream.Console{Directory: m.DB, Plan: plan, AdminEmails: m.Config.AdminEmails, Logger: m.Logger, Now: m.Now}
	opts.Console, opts.SecureCookies, opts.Dashboard = console, !loopbackOnly(m.Listener.Addr()), true
	attempts, err := ratelimit.New(signInBuckets)
	if err != nil {
		return err
	}
	// Developers' and end users' sign-ins share the per-address count.
	opts.Attempts = signInAttempts{limiter: attempts, now: m.Now, metrics: m.Metrics}
	switch m.Config.ConsoleAuth {
	case "local":
		if m.passwords, err = auth.NewPasswords(0); err != nil {
			return err
		}
		console.Passwords, console.Attempts = m.passwords, opts.Attempts
	case "clerk":
		console.Identity = auth.NewClerkDevelopers(auth.ClerkInstance{SecretKey: m.Config.ClerkPlatformSecretKey, APIURL: m.Config.ClerkAPIURL},
			m.Now, httpClient, m.Logger)
		opts.DashboardClerkKey = m.Config.ClerkPlatformPublishableKey
	}
	var operator dream.OperatorBilling
	var catalogue dream.Catalogue
	switch m.Config.Command {
	case "dev":
		if m.DevIssuer, err = auth.OpenDevIssuer(m.Config.DataDir, m.Now); err != nil {
			return err
		}
		opts.Tokens, opts.TokenTrust, opts.Identity, opts.Dev = m.DevIssuer, m.DevIssuer.Fingerprint(), m.DevIssuer, m.DevIssuer
		opts.Payments, opts.DevPayments = m.Emulator, m.Emulator
		console.Provider, console.Connect = m.Emulator, m.Emulator
		operator, catalogue = m.Emulator, m.Emulator
		opts.Webhooks = billing.NewWebhookVerifier(m.Emulator.WebhookSecret())
		opts.PlatformWebhooks = opts.Webhooks
		console.DashboardURL = "http://" + m.Listener.Addr().String() + "/dashboard"
		// The emulator plays the operator's account, whose plan has prices
		// of its own.
		plan.PriceID, plan.MeteredPriceID = "price_dev_platform", "price_dev_platform_end_users"
	case "serve":
		live := auth.ClerkInstance{SecretKey: m.Config.ClerkSecretKey, APIURL: m.Config.ClerkAPIURL}
		test := auth.ClerkInstance{SecretKey: m.Config.ClerkSecretKeyTest, APIURL: m.Config.ClerkAPIURL}
		verifier := auth.NewClerkVerifier(live, test, m.Now, httpClient, m.Logger)
		opts.Tokens, opts.TokenTrust = verifier, verifier.Fingerprint()
		users := auth.NewClerkUsers(live, test, httpClient)
		opts.Identity = users
		opts.HostedClerk = &edge.HostedClerk{Template: m.Config.ClerkJWTTemplate, Sessions: users, PublishableKeys: map[dream.Mode]string{
			dream.ModeLive: m.Config.ClerkPublishableKey, dream.ModeTest: m.Config.ClerkPublishableKeyTest}}
		stripe := billing.NewStripe(billing.StripeConfig{
			SecretKey: m.Config.StripeSecretKey, SecretKeyTest: m.Config.StripeSecretKeyTest,
			APIURL: m.Config.StripeAPIURL, Logger: m.Logger,
			ConnectClientID: m.Config.StripeConnectClientID, ConnectClientIDTest: m.Config.StripeConnectClientIDTest,
			PublicURL: m.Config.PublicURL,
		})
		opts.Payments, console.Provider, console.Connect = stripe, stripe, stripe
		operator, catalogue = stripe, stripe
		opts.Webhooks = billing.NewWebhookVerifier(m.Config.StripeWebhookSecret, m.Config.StripeWebhookSecretTest)
		if !plan.Off {
			opts.PlatformWebhooks = billing.NewWebhookVerifier(m.Config.StripePlatformWebhookSecret)
		}
		console.DashboardURL = strings.TrimRight(m.Config.PublicURL, "/") + "/dashboard"
	}
	console.Operator = operator
	host, _ := os.Hostname()
	m.Jobs = &primary.Jobs{DB: m.DB, Writer: m.Primary, Plan: plan, Operator: operator, Catalogue: catalogue,
		Node: host, Logger: m.Logger, Now: plan.Now}
	m.Server, err = edge.Open(ctx, opts)
	return err
}

// openEmulator opens dev mode's payments emulator, which delivers its
// webhooks to this very server, through the same verification as
// Stripe's. Platform billing then goes by the emulator's clock, so that
// moving it forward (POST /dev/clock/advance) ends trials, passes grace
// periods and runs the daily jobs for every midnight passed; end users'
// tokens and usage periods keep the wall clock.
func (m *Main) openEmulator(httpClient *http.Client) error {
	base := "http://" + m.Listener.Addr().String()
	var err error
	m.Emulator, err = emulator.Open(filepath.Join(m.Config.DataDir, "emulator.db"), emulator.Config{
		BaseURL: base, WebhookURL: base + "/webhook/stripe", PlatformWebhookURL: base + "/webhook/platform",
		Now: m.Now, HTTPClient: httpClient, Logger: m.Logger,
		Advanced: func(ctx context.Context, _ time.Time) error { return m.Jobs.RunDue(ctx) },
	})
	if err != nil {
		return err
	}
	m.Config.Plan.Clock = func() time.Time { return m.Now().Add(m.Emulator.Offset()) }
	return nil
}

// openOutbox opens the node's outbox. On LiteFS it must live outside the
// mount: LiteFS replicates every file there from the primary, and the
// outbox is this node's alone.
func (m *Main) openOutbox() error {
	path := m.Config.Outbox
	if path == "" {
		if m.LiteFS != nil {
			return fmt.Errorf("dream %s: bad configuration:\n  missing required settings: DREAM_OUTBOX (the database %s is on a LiteFS mount; the outbox goes on the node's own disk)",
				m.Config.Command, m.Config.Database)
		}
		path = m.Config.Database + "-outbox"
	}
	if m.LiteFS != nil && filepath.Dir(path) == filepath.Dir(m.Config.Database) {
		return fmt.Errorf("dream %s: bad configuration:\n  DREAM_OUTBOX (--outbox): %s is on the LiteFS mount; put it on the node's own disk",
			m.Config.Command, path)
	}
	o, err := outbox.Open(path, m.Now, m.Metrics)
	if err != nil {
		return err
	}
	m.Outbox = o
	// What the node keeps of its end users across a restart is its own
	// too, and goes beside the outbox.
	m.warmFile = path + "-warm"
	m.Metrics.CollectOutbox(o)
	return nil
}

// replication is how the metrics read where the node stands: on LiteFS
// from the mount, and a node of its own is its own primary.
func (m *Main) replication() metrics.Replication {
	if m.LiteFS == nil {
		return metrics.Replication{IsPrimary: func() (bool, error) { return true, nil }}
	}
	return metrics.Replication{
		IsPrimary: func() (bool, error) {
			isPrimary, _, err := m.LiteFS.Primary()
			return isPrimary, err
		},
		Position: func() (uint64, error) {
			pos, err := m.LiteFS.Position()
			return uint64(pos), err
		},
		Lag: m.LiteFS.Lag,
	}
}

// schemaWait bounds how long a replica waits for the primary to migrate
// the database to the schema this binary expects.
const schemaWait = 2 * time.Minute

// prepareSchema migrates the database on the primary; a replica instead
// waits until the primary's migrations have reached it, since it cannot
// write and must not serve an older schema than it expects.
func (m *Main) prepareSchema(ctx context.Context) error {
	if m.LiteFS != nil && m.Config.ClusterSecret == "" {
		return fmt.Errorf("dream %s: bad configuration:\n  missing required settings: DREAM_CLUSTER_SECRET (the database %s is on a LiteFS mount)",
			m.Config.Command, m.Config.Database)
	}
	isPrimary := true
	if m.LiteFS != nil {
		var err error
		if isPrimary, _, err = m.LiteFS.Primary(); err != nil {
			return err
		}
	}
	if isPrimary {
		return m.migrate(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, schemaWait)
	defer cancel()
	for {
		pending, err := m.DB.PendingMigrations(ctx)
		if err == nil && len(pending) == 0 {
			return nil
		}
		m.Logger.Info("waiting for the primary to migrate the database", "pending", pending, "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("the primary has not applied migrations %v after %s", pending, schemaWait)
		case <-time.After(time.Second):
		}
	}
}

// pruneInterval is how often the primary prunes the change log and the
// record of applied writes; stockInterval how often it returns the stock
// of reservations that lapsed;
// dailyInterval how often it looks for a day its daily jobs have not run.
const (
	pruneInterval = 10 * time.Minute
	stockInterval = time.Minute
	dailyInterval = time.Minute
)

// maxHeaderBytes bounds a request's headers: a session cookie, a token and
// the keys take a few kilobytes.
const maxHeaderBytes = 64 << 10

// signInBuckets bounds the buckets of sign-in attempts.
const signInBuckets = 10_000

// signInAttempts counts developers' and end users' sign-in attempts in
// token buckets, and the attempts refused in metrics.
type signInAttempts struct {
	limiter *ratelimit.Limiter
	now     func() time.Time
	metrics *metrics.Metrics
}

// Allow implements dream.AttemptLimiter.
func (a signInAttempts) Allow(key string) bool {
	if a.limiter.Allow(key, dream.SignInAttemptsPerMinute, a.now()).Allowed {
		return true
	}
	a.metrics.RateLimited("sign_in")
	return false
}

// loopbackOnly reports whether addr is a loopback address, reached over
// plain HTTP on the machine itself, where cookies cannot be Secure.
func loopbackOnly(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// Serve serves HTTP until ctx is done, then shuts down gracefully.
func (m *Main) Serve(ctx context.Context) error {
	if m.Config.Command == "dev" {
		seeded, err := seedDev(ctx, m.DB, m.Primary, m.Emulator, m.passwords, m.Config.DataDir, m.Now())
		if err != nil {
			return fmt.Errorf("seeding dev data: %w", err)
		}
		printDevBanner(m.Stdout, "http://"+m.Listener.Addr().String(), m.Config.DataDir, seeded)
	}
	m.Logger.Info("listening", "addr", m.Listener.Addr().String(), "mode", m.Config.Command, "db", m.DB.Path())
	unused := newUnusedConns()
	timeouts := m.Config.Timeouts
	srv := &http.Server{
		Handler:           m.Server,
		ConnState:         unused.track,
		ReadHeaderTimeout: timeouts.ReadHeader,
		ReadTimeout:       timeouts.Read,
		WriteTimeout:      timeouts.Write,
		IdleTimeout:       timeouts.Idle,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(m.Listener) }()
	// The metrics have a listener of their own, which the public one
	// never reaches: Fly's scraper and the operator's Prometheus read
	// them over the private network.
	var metricsSrv *http.Server
	if m.MetricsListener != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Metrics.Handler(m.Logger))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			ErrorLog: slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn)}
		m.Logger.Info("serving metrics", "addr", m.MetricsListener.Addr().String())
		go func() { errc <- metricsSrv.Serve(m.MetricsListener) }()
	}
	background, stop := context.WithCancel(ctx)
	defer stop()
	go m.jobs(background)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	m.Logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := shutdown(shutdownCtx, srv, unused, unusedConnGrace)
	if metricsSrv != nil {
		err = errors.Join(err, metricsSrv.Shutdown(shutdownCtx))
	}
	return err
}

// jobs runs the primary's periodic work: returning the stock of
// reservations that lapsed, and trimming its bookkeeping. Only the node
// holding the lease runs them; replicas get the result through
// replication.
func (m *Main) jobs(ctx context.Context) {
	stock := time.NewTicker(stockInterval)
	defer stock.Stop()
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	daily := time.NewTicker(dailyInterval)
	defer daily.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stock.C:
			m.runJob(ctx, "release_stock", "releasing lapsed stock reservations", m.Primary.ReleaseLapsedStock)
		case <-prune.C:
			m.runJob(ctx, "prune", "pruning", m.Primary.Prune)
		case <-daily.C:
			m.runJob(ctx, "daily", "daily jobs", m.Jobs.RunDue)
		}
	}
}

// runJob runs job if this node holds the lease, records the run in the
// metrics under name, and logs a failure as what it was doing.
func (m *Main) runJob(ctx context.Context, name, doing string, job func(context.Context) error) {
	if m.LiteFS != nil {
		if isPrimary, _, err := m.LiteFS.Primary(); err != nil || !isPrimary {
			return
		}
	}
	start := m.Now()
	err := job(ctx)
	m.Metrics.JobRan(name, start, m.Now(), err)
	if err != nil {
		m.Logger.Error(doing, "error", err)
	}
}

// Close releases what Open acquired, in the order that loses nothing: the
// server hands the usage units it holds to the primary while the primary,
// the outbox and the database are still open.
func (m *Main) Close() error {
	var errs []error
	if m.Server != nil {
		if err := m.Server.Close(); err != nil {
			// What cannot be shipped in time stays in the outbox for the
			// next start.
			m.Logger.Warn("closing the server", "error", err)
		}
	}
	if m.Primary != nil {
		errs = append(errs, m.Primary.Close())
	}
	if m.Outbox != nil {
		errs = append(errs, m.Outbox.Close())
	}
	for _, l := range []net.Listener{m.Listener, m.MetricsListener} {
		if l == nil {
			continue
		}
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if m.Emulator != nil {
		errs = append(errs, m.Emulator.Close())
	}
	if m.DB != nil {
		errs = append(errs, m.DB.Close())
	}
	return errors.Join(errs...)
}
