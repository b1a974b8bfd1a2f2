package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dream-api/dream"
)

// Config is the configuration of one dream command, read from flags and the
// environment by loadConfig, the one config loader. A flag wins over its
// environment variable; secrets are read from the environment only, so they
// never show in a process list.
type Config struct {
	// Command is "serve", "dev", "migrate", "strict-limits", "billing-setup",
	// "backup" or "restore".
	Command string
	// Addr is the HTTP listen address.
	Addr string
	// MetricsAddr is the listen address of the Prometheus metrics, ""
	// for none.
	MetricsAddr string
	// DataDir holds dev mode's database, issuer key and dev.json.
	DataDir string
	// Database is the SQLite file.
	Database string
	// Outbox is the node's outbox file, on its own disk.
	Outbox string
	// BackupFile is the file backup writes and restore reads.
	BackupFile string
	// Force lets backup replace an existing file and restore an existing
	// database.
	Force bool
	// Project and Strict are what strict-limits sets.
	Project string
	Strict  bool
	// RateLimitPerMinute is the default per-user rate limit; 0 disables it.
	RateLimitPerMinute int
	// AddressRateLimitPerMinute limits a client address on the routes that
	// act without a credential, SecretKeyRateLimitPerMinute a secret key on
	// the routes only it opens; 0 disables either.
	AddressRateLimitPerMinute   int
	SecretKeyRateLimitPerMinute int
	// MemoryBudget is the node's memory budget.
	MemoryBudget MemoryBudget
	// Timeouts bound how long slow clients hold a connection.
	Timeouts Timeouts
	LogLevel slog.Level
	// ClerkSecretKey and ClerkSecretKeyTest are the secret keys of the Clerk
	// instances that sign live and test end users' tokens.
	ClerkSecretKey     string
	ClerkSecretKeyTest string
	// ClerkAPIURL is Clerk's Backend API.
	ClerkAPIURL string
	// ClerkPublishableKey and ClerkPublishableKeyTest are the publishable
	// keys of the end-user Clerk instances, which the hosted pages load;
	// ClerkJWTTemplate names the JWT template of the tokens they return.
	ClerkPublishableKey     string
	ClerkPublishableKeyTest string
	ClerkJWTTemplate        string
	// StripeSecretKey and StripeSecretKeyTest are the platform's Stripe keys
	// for live and test mode; calls on connected accounts use them.
	StripeSecretKey     string
	StripeSecretKeyTest string
	// StripeWebhookSecret and StripeWebhookSecretTest sign the Connect
	// webhook endpoints of each mode.
	StripeWebhookSecret     string
	StripeWebhookSecretTest string
	// StripeAPIURL is Stripe's API.
	StripeAPIURL string
	// ClusterSecret authenticates writes forwarded between the nodes of a
	// LiteFS cluster.
	ClusterSecret string
	// ConsoleAuth is how developers sign in: "local" accounts or "clerk".
	ConsoleAuth string
	// ClerkPlatformSecretKey is the secret key of the platform's own Clerk
	// application, which signs developers in when ConsoleAuth is "clerk".
	ClerkPlatformSecretKey string
	// ClerkPlatformPublishableKey is that application's publishable key,
	// whose components the dashboard's sign-in pages mount.
	ClerkPlatformPublishableKey string
	// PublicURL is the server's own URL as browsers reach it.
	PublicURL string
	// StripeConnectClientID and StripeConnectClientIDTest are the
	// platform's Connect application ids of each mode.
	StripeConnectClientID     string
	StripeConnectClientIDTest string
	// Plan is what developers pay the platform.
	Plan dream.PlatformPlan
	// AdminEmails are the developers who may open the operator's page.
	AdminEmails []string
	// StripePlatformWebhookSecret signs the platform webhook endpoint,
	// which reports developers' own subscriptions.
	StripePlatformWebhookSecret string
}

// setting is one configuration value: its flag, environment variable and
// default, and the commands that take it and that cannot run without it.
type setting struct {
	flag, env string
	// boolean is a flag that may stand alone for "true" (--force).
	boolean     bool
	defaults    map[string]string // by command; "" key for all commands
	commands    []string
	requiredBy  []string
	description string
	dst         func(c *Config, v string) error
}

// settings is every setting of every command; the README's configuration
// table describes the same list.
var settings = []setting{
	{flag: "addr", env: "DREAM_ADDR", commands: []string{"serve", "dev"},
		defaults:    map[string]string{"serve": ":8080", "dev": "127.0.0.1:8787"},
		description: "HTTP listen address",
		dst:         func(c *Config, v string) error { c.Addr = v; return nil }},
	{flag: "metrics-addr", env: "DREAM_METRICS_ADDR", commands: []string{"serve", "dev"},
		defaults:    map[string]string{"serve": ":9091"},
		description: "listen address of the Prometheus metrics, GET /metrics (default off in dev mode)",
		dst:         func(c *Config, v string) error { c.MetricsAddr = v; return nil }},
	{flag: "data", env: "DREAM_DATA", commands: []string{"dev"},
		defaults:    map[string]string{"dev": "./data"},
		description: "directory of dev mode's database, issuer key and dev.json",
		dst:         func(c *Config, v string) error { c.DataDir = v; return nil }},
	{flag: "db", env: "DREAM_DB", commands: []string{"serve", "migrate", "dev", "strict-limits", "backup", "restore"},
		requiredBy:  []string{"serve", "migrate", "strict-limits", "backup", "restore"},
		description: "SQLite database file (in dev mode, default <data>/dream.db)",
		dst:         func(c *Config, v string) error { c.Database = v; return nil }},
	{flag: "out", commands: []string{"backup"}, requiredBy: []string{"backup"},
		description: "the backup file to write, on the node's own disk (not the LiteFS mount)",
		dst:         func(c *Config, v string) error { c.BackupFile = v; return nil }},
	{flag: "from", commands: []string{"restore"}, requiredBy: []string{"restore"},
		description: "the backup file to restore",
		dst:         func(c *Config, v string) error { c.BackupFile = v; return nil }},
	{flag: "force", boolean: true, commands: []string{"backup", "restore"},
		description: "backup: replace an existing file at --out; restore: replace an existing database at --db, which nothing may have open",
		dst: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("must be true or false")
			}
			c.Force = b
			return nil
		}},
	{flag: "outbox", env: "DREAM_OUTBOX", commands: []string{"serve", "dev"},
		description: "SQLite file of the usage units this node acknowledged and has not seen applied; on a LiteFS node it must be outside the mount (default <db>-outbox, in dev mode <data>/outbox.db)",
		dst:         func(c *Config, v string) error { c.Outbox = v; return nil }},
	{flag: "rate-limit", env: "DREAM_RATE_LIMIT_PER_MINUTE", commands: []string{"serve", "dev"},
		defaults:    map[string]string{"": "100"},
		description: "requests per minute per end user per project, unless the project sets its own; 0 disables",
		dst:         func(c *Config, v string) error { return perMinute(v, &c.RateLimitPerMinute) }},
	{flag: "address-rate-limit", env: "DREAM_ADDRESS_RATE_LIMIT_PER_MINUTE", commands: []string{"serve", "dev"},
		defaults:    map[string]string{"serve": "60", "dev": "600"},
		description: "requests per minute per client address to the routes that act without a credential (sign-up, sign-in, token exchange, the dev routes); 0 disables",
		dst:         func(c *Config, v string) error { return perMinute(v, &c.AddressRateLimitPerMinute) }},
	{flag: "secret-key-rate-limit", env: "DREAM_SECRET_KEY_RATE_LIMIT_PER_MINUTE", commands: []string{"serve", "dev"},
		defaults:    map[string]string{"": "6000"},
		description: "requests per minute per secret key to the routes only a secret key opens; 0 disables",
		dst:         func(c *Config, v string) error { return perMinute(v, &c.SecretKeyRateLimitPerMinute) }},
	{flag: "memory-budget", env: "DREAM_MEMORY_BUDGET", commands: []string{"serve", "dev"},
		defaults:    map[string]string{"": "50%"},
		description: "the node's memory budget, a share of its memory (the cgroup's limit, else the machine's) or a size such as 256MiB: the collector's soft limit, half of it for the caches of end users",
		dst: func(c *Config, v string) error {
			var err error
			c.MemoryBudget, err = parseMemoryBudget(v)
			return err
		}},
	{flag: "read-header-timeout", env: "DREAM_READ_HEADER_TIMEOUT", commands: []string{"serve", "dev"},
		defaults:    map[string]string{"": "10s"},
		description: "how long a client may take to send a request's headers before the connection is closed",
		dst:         func(c *Config, v string) error { return timeout(v, &c.Timeouts.ReadHeader) }},
	{flag: "read-timeout", env: "DREAM_READ_TIMEOUT", commands: []string{"serve", "dev"},
		defaults:    map[string]string{"": "30s"},
		description: "how long a client may take to send a whole request, body included",
		dst:         func(c *Config, v string) error { return timeout(v, &c.Timeouts.Read) }},
	{flag: "write-timeout", env: "DREAM_WRITE_TIMEOUT", commands: []string{"serve", "dev"},
		defaults:    map[string]string{"": "30s"},
		description: "how long the answer to a request may take, from the end of its headers",
		dst:         func(c *Config, v string) error { return timeout(v, &c.Timeouts.Write) }},
	{flag: "idle-timeout", env: "DREAM_IDLE_TIMEOUT", commands: []string{"serve", "dev"},
		defaults:    map[string]string{"": "2m"},
		description: "how long a kept-alive connection may wait for its next request",
		dst:         func(c *Config, v string) error { return timeout(v, &c.Timeouts.Idle) }},
	{flag: "project", commands: []string{"strict-limits"}, requiredBy: []string{"strict-limits"},
		description: "id of the project (prj_…)",
		dst:         func(c *Config, v string) error { c.Project = v; return nil }},
	{flag: "strict", commands: []string{"strict-limits"}, requiredBy: []string{"strict-limits"},
		description: "true: the primary decides every usage unit, no limit is ever exceeded; false: nodes decide units themselves",
		dst: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("must be true or false")
			}
			c.Strict = b
			return nil
		}},
	{flag: "log-level", env: "DREAM_LOG_LEVEL", commands: []string{"serve", "dev", "migrate", "strict-limits", "billing-setup", "backup", "restore"},
		defaults:    map[string]string{"": "info"},
		description: "debug, info, warn or error",
		dst:         func(c *Config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
	{env: "CLERK_SECRET_KEY", commands: []string{"serve"}, requiredBy: []string{"serve"},
		description: "secret key of the live Clerk instance that signs end users' tokens",
		dst:         func(c *Config, v string) error { c.ClerkSecretKey = v; return nil }},
	{env: "CLERK_SECRET_KEY_TEST", commands: []string{"serve"},
		description: "secret key of the test Clerk instance; without it test-mode tokens are verified against the live instance",
		dst:         func(c *Config, v string) error { c.ClerkSecretKeyTest = v; return nil }},
	{env: "CLERK_PUBLISHABLE_KEY", commands: []string{"serve"}, requiredBy: []string{"serve"},
		description: "publishable key of the live end-user Clerk instance, whose sign-up and sign-in components the hosted pages load",
		dst:         func(c *Config, v string) error { c.ClerkPublishableKey = v; return nil }},
	{env: "CLERK_PUBLISHABLE_KEY_TEST", commands: []string{"serve"},
		description: "publishable key of the test end-user Clerk instance; without it test keys' hosted pages use the live instance",
		dst:         func(c *Config, v string) error { c.ClerkPublishableKeyTest = v; return nil }},
	{env: "CLERK_JWT_TEMPLATE", commands: []string{"serve"}, defaults: map[string]string{"serve": "end-user-api"},
		description: "the Clerk JWT template whose tokens the hosted pages return (top-level publishableKey and plan claims)",
		dst:         func(c *Config, v string) error { c.ClerkJWTTemplate = v; return nil }},
	{env: "CLERK_API_URL", commands: []string{"serve"},
		defaults:    map[string]string{"serve": "https://api.clerk.com/v1"},
		description: "Clerk Backend API base URL",
		dst:         func(c *Config, v string) error { c.ClerkAPIURL = v; return nil }},
	{env: "STRIPE_SECRET_KEY", commands: []string{"serve", "billing-setup"}, requiredBy: []string{"serve", "billing-setup"},
		description: "the platform's live Stripe secret key, for calls on developers' connected accounts",
		dst:         func(c *Config, v string) error { c.StripeSecretKey = v; return nil }},
	{env: "STRIPE_SECRET_KEY_TEST", commands: []string{"serve"},
		description: "the platform's test Stripe secret key; without it test-mode checkouts fail with 503",
		dst:         func(c *Config, v string) error { c.StripeSecretKeyTest = v; return nil }},
	{env: "STRIPE_WEBHOOK_SECRET", commands: []string{"serve"}, requiredBy: []string{"serve"},
		description: "signing secret of the live Connect webhook endpoint",
		dst:         func(c *Config, v string) error { c.StripeWebhookSecret = v; return nil }},
	{env: "STRIPE_WEBHOOK_SECRET_TEST", commands: []string{"serve"},
		description: "signing secret of the test Connect webhook endpoint",
		dst:         func(c *Config, v string) error { c.StripeWebhookSecretTest = v; return nil }},
	{env: "DREAM_CLUSTER_SECRET", commands: []string{"serve"},
		description: "shared secret that authenticates writes forwarded between nodes; required when the database is on a LiteFS mount",
		dst:         func(c *Config, v string) error { c.ClusterSecret = v; return nil }},
	{flag: "console-auth", env: "DREAM_CONSOLE_AUTH", commands: []string{"serve", "dev"},
		defaults:    map[string]string{"serve": "clerk", "dev": "local"},
		description: "how developers sign in to the management API: local (email and password) or clerk (the platform's Clerk application)",
		dst: func(c *Config, v string) error {
			if v != "local" && v != "clerk" {
				return fmt.Errorf("must be local or clerk")
			}
			c.ConsoleAuth = v
			return nil
		}},
	{env: "CLERK_PLATFORM_SECRET_KEY", commands: []string{"serve"},
		description: "secret key of the platform's own Clerk application, which signs developers in; required with --console-auth clerk",
		dst:         func(c *Config, v string) error { c.ClerkPlatformSecretKey = v; return nil }},
	{env: "CLERK_PLATFORM_PUBLISHABLE_KEY", commands: []string{"serve"},
		description: "publishable key of the platform's own Clerk application, whose sign-in the dashboard shows; required with --console-auth clerk",
		dst:         func(c *Config, v string) error { c.ClerkPlatformPublishableKey = v; return nil }},
	{env: "DREAM_PUBLIC_URL", commands: []string{"serve"},
		description: "the server's URL as browsers reach it (https://api.example.com); Stripe Connect returns there",
		dst:         func(c *Config, v string) error { c.PublicURL = v; return nil }},
	{env: "STRIPE_CONNECT_CLIENT_ID", commands: []string{"serve"},
		description: "the platform's live Stripe Connect client id (ca_…); without it live accounts cannot connect",
		dst:         func(c *Config, v string) error { c.StripeConnectClientID = v; return nil }},
	{env: "STRIPE_CONNECT_CLIENT_ID_TEST", commands: []string{"serve"},
		description: "the platform's test Stripe Connect client id (ca_…); without it test accounts cannot connect",
		dst:         func(c *Config, v string) error { c.StripeConnectClientIDTest = v; return nil }},
	{env: "DREAM_ADMIN_EMAILS", commands: []string{"serve", "dev"}, defaults: map[string]string{"dev": "demo@localhost"},
		description: "comma-separated emails of the developers who may open the operator's page, /admin",
		dst: func(c *Config, v string) error {
			for _, e := range strings.Split(v, ",") {
				if e = strings.TrimSpace(e); e != "" {
					c.AdminEmails = append(c.AdminEmails, e)
				}
			}
			return nil
		}},
	{flag: "platform-billing", env: "DREAM_PLATFORM_BILLING", commands: []string{"serve", "dev"},
		defaults:    map[string]string{"": "on"},
		description: "on: developers pay the platform plan; off: this deployment charges nobody and every platform counts as active",
		dst: func(c *Config, v string) error {
			if v != "on" && v != "off" {
				return fmt.Errorf("must be on or off")
			}
			c.Plan.Off = v == "off"
			return nil
		}},
	{env: "DREAM_PLATFORM_PRICE_CENTS", commands: []string{"serve", "dev", "billing-setup"}, defaults: map[string]string{"": "1900"},
		description: "the plan's monthly price in cents",
		dst:         func(c *Config, v string) error { return wholeNumber(v, &c.Plan.PriceCents) }},
	{env: "DREAM_PLATFORM_TRIAL_DAYS", commands: []string{"serve", "dev"}, defaults: map[string]string{"": "14"},
		description: "the days of trial before the first payment, once per developer",
		dst: func(c *Config, v string) error {
			var n int64
			if err := wholeNumber(v, &n); err != nil || n > 730 {
				return fmt.Errorf("must be a whole number of days from 0 to 730")
			}
			c.Plan.TrialDays = int(n)
			return nil
		}},
	{env: "DREAM_PLATFORM_INCLUDED_USERS", commands: []string{"serve", "dev", "billing-setup"}, defaults: map[string]string{"": "2000"},
		description: "the live end users the monthly price includes",
		dst:         func(c *Config, v string) error { return wholeNumber(v, &c.Plan.IncludedUsers) }},
	{env: "DREAM_PLATFORM_OVERAGE_CENTS", commands: []string{"serve", "dev", "billing-setup"}, defaults: map[string]string{"": "3"},
		description: "the price in cents of each live end user above the included ones",
		dst:         func(c *Config, v string) error { return wholeNumber(v, &c.Plan.OverageCents) }},
	{env: "DREAM_PLATFORM_GRACE_DAYS", commands: []string{"serve", "dev"}, defaults: map[string]string{"": "7"},
		description: "the days live keys keep working after a developer's subscription ended",
		dst:         func(c *Config, v string) error { return days(v, &c.Plan.Grace) }},
	{env: "DREAM_PLATFORM_RETENTION_DAYS", commands: []string{"serve", "dev"}, defaults: map[string]string{"": "30"},
		description: "the days after a developer's subscription ended until their projects are deleted",
		dst:         func(c *Config, v string) error { return days(v, &c.Plan.Retention) }},
	{env: "DREAM_PLATFORM_METER_EVENT", commands: []string{"serve", "dev", "billing-setup"}, defaults: map[string]string{"": "dream_live_end_users"},
		description: "the event name of the Stripe billing meter of live end users",
		dst:         func(c *Config, v string) error { c.Plan.MeterEvent = v; return nil }},
	{env: "DREAM_PLATFORM_PRICE_ID", commands: []string{"serve"},
		description: "the plan's monthly price on the platform's Stripe account (dream billing-setup prints it); required with platform billing on",
		dst:         func(c *Config, v string) error { c.Plan.PriceID = v; return nil }},
	{env: "DREAM_PLATFORM_METERED_PRICE_ID", commands: []string{"serve"},
		description: "the plan's metered price of live end users (dream billing-setup prints it); required with platform billing on",
		dst:         func(c *Config, v string) error { c.Plan.MeteredPriceID = v; return nil }},
	{env: "STRIPE_PLATFORM_WEBHOOK_SECRET", commands: []string{"serve"},
		description: "signing secret of the platform webhook endpoint (/webhook/platform); required with platform billing on",
		dst:         func(c *Config, v string) error { c.StripePlatformWebhookSecret = v; return nil }},
	{env: "STRIPE_API_URL", commands: []string{"serve", "billing-setup"},
		description: "Stripe API base URL (default Stripe's)",
		dst:         func(c *Config, v string) error { c.StripeAPIURL = v; return nil }},
}

// errUsage reports bad command-line usage; its text has been printed.
var errUsage = errors.New("usage")

// loadConfig reads the configuration of command from args and getenv. A
// setting the command needs but nobody set is an error that names every
// such setting at once.
func loadConfig(command string, args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("dream "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	values := map[string]*string{}
	for _, s := range settings {
		if s.flag == "" || !slices.Contains(s.commands, command) {
			continue
		}
		description := s.description
		if s.env != "" {
			description += " (env " + s.env + ")"
		}
		value := new(string)
		values[s.flag] = value
		if s.boolean {
			fs.Var(boolFlag{value}, s.flag, description)
		} else {
			fs.StringVar(value, s.flag, "", description)
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: dream %s [flags]\n\nflags:\n", command)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, errUsage // the flag package has printed why
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dream %s: unexpected argument %q\n", command, fs.Arg(0))
		fs.Usage()
		return nil, errUsage
	}

	c := &Config{Command: command}
	var missing, invalid []string
	for _, s := range settings {
		if !slices.Contains(s.commands, command) {
			continue
		}
		v, name := "", s.env
		if p := values[s.flag]; p != nil && *p != "" {
			v, name = *p, "--"+s.flag
		} else if e := getenv(s.env); s.env != "" && e != "" {
			v = e
		} else if d, ok := s.defaults[command]; ok {
			v = d
		} else {
			v = s.defaults[""]
		}
		if v == "" {
			if slices.Contains(s.requiredBy, command) {
				missing = append(missing, s.name())
			}
			continue
		}
		if err := s.dst(c, v); err != nil {
			invalid = append(invalid, fmt.Sprintf("%s: %v", name, err))
		}
	}
	if command == "serve" && !c.Plan.Off {
		for _, required := range []struct{ name, value string }{
			{"DREAM_PLATFORM_PRICE_ID", c.Plan.PriceID}, {"DREAM_PLATFORM_METERED_PRICE_ID", c.Plan.MeteredPriceID},
			{"STRIPE_PLATFORM_WEBHOOK_SECRET", c.StripePlatformWebhookSecret}, {"DREAM_PUBLIC_URL", c.PublicURL},
		} {
			if required.value == "" {
				missing = append(missing, required.name+" (platform billing is on; run dream billing-setup, or set --platform-billing off)")
			}
		}
	}
	if command == "serve" && c.ConsoleAuth == "clerk" && c.ClerkPlatformSecretKey == "" {
		missing = append(missing, "CLERK_PLATFORM_SECRET_KEY (developers sign in with Clerk; or set --console-auth local)")
	}
	if command == "serve" && c.ConsoleAuth == "clerk" && c.ClerkPlatformPublishableKey == "" {
		missing = append(missing, "CLERK_PLATFORM_PUBLISHABLE_KEY (the dashboard signs developers in with Clerk; or set --console-auth local)")
	}
	if len(missing) > 0 {
		invalid = append(invalid, "missing required settings: "+strings.Join(missing, ", "))
	}
	if len(invalid) > 0 {
		return nil, fmt.Errorf("dream %s: bad configuration:\n  %s", command, strings.Join(invalid, "\n  "))
	}
	if command == "dev" && c.Database == "" {
		c.Database = filepath.Join(c.DataDir, "dream.db")
	}
	if command == "dev" && c.Outbox == "" {
		c.Outbox = filepath.Join(c.DataDir, "outbox.db")
	}
	return c, nil
}

// boolFlag is the flag of a boolean setting: given alone (--force) it is
// "true", and it takes a value only with "=" (--force=false).
type boolFlag struct{ value *string }

func (f boolFlag) String() string {
	if f.value == nil {
		return ""
	}
	return *f.value
}

func (f boolFlag) Set(v string) error { *f.value = v; return nil }

// IsBoolFlag tells the flag package that the flag may stand alone.
func (f boolFlag) IsBoolFlag() bool { return true }

// wholeNumber reads a whole number, 0 or more, into n.
func wholeNumber(v string, n *int64) error {
	i, err := strconv.ParseInt(v, 10, 64)
	if err != nil || i < 0 || i > 1<<40 {
		return fmt.Errorf("must be a whole number, 0 or more")
	}
	*n = i
	return nil
}

// days reads a whole number of days into d.
func days(v string, d *time.Duration) error {
	var n int64
	if err := wholeNumber(v, &n); err != nil || n > 3650 {
		return fmt.Errorf("must be a whole number of days from 0 to 3650")
	}
	*d = time.Duration(n) * 24 * time.Hour
	return nil
}

// perMinute reads a rate limit in requests per minute, 0 for none.
func perMinute(v string, n *int) error {
	var i int64
	if err := wholeNumber(v, &i); err != nil {
		return fmt.Errorf("must be a whole number of requests per minute, 0 or more")
	}
	*n = int(i)
	return nil
}

// timeout reads a duration from a second to an hour.
func timeout(v string, d *time.Duration) error {
	t, err := time.ParseDuration(v)
	if err != nil || t < time.Second || t > time.Hour {
		return fmt.Errorf("must be a duration from 1s to 1h, such as 10s or 2m")
	}
	*d = t
	return nil
}

// Timeouts are the HTTP server's bounds on slow clients.
type Timeouts struct {
	// ReadHeader bounds the request's headers, Read the whole request,
	// Write the answer from the end of the headers, and Idle the wait of
	// a kept-alive connection for its next request.
	ReadHeader, Read, Write, Idle time.Duration
}

// name is how error messages name a setting: its variable and its flag.
func (s setting) name() string {
	if s.flag == "" {
		return s.env
	}
	if s.env == "" {
		return "--" + s.flag
	}
	return s.env + " (--" + s.flag + ")"
}
