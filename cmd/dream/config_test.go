package main

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLoadConfig(t *testing.T) {
	t.Run("ServeNamesEveryMissingSetting", func(t *testing.T) {
		_, err := loadConfig("serve", nil, env(nil), io.Discard)
		if err == nil {
			t.Fatal("serve loaded a configuration from no settings, want an error naming the missing ones")
		}
		for _, name := range []string{"DREAM_DB (--db)", "CLERK_SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
			"CLERK_PLATFORM_SECRET_KEY", "CLERK_PLATFORM_PUBLISHABLE_KEY", "DREAM_PLATFORM_PRICE_ID", "STRIPE_PLATFORM_WEBHOOK_SECRET", "CLERK_PUBLISHABLE_KEY"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("serve without configuration reported %v, want it to name the missing %s", err, name)
			}
		}
		if strings.Contains(err.Error(), "CLERK_SECRET_KEY_TEST") || strings.Contains(err.Error(), "STRIPE_SECRET_KEY_TEST") {
			t.Errorf("serve without configuration reported %v, want the optional *_TEST keys left out", err)
		}
	})
	t.Run("Serve", func(t *testing.T) {
		c, err := loadConfig("serve", []string{"--addr", ":9000"}, env(map[string]string{
			"DREAM_ADDR": ":7000", "DREAM_DB": "/litefs/dream.db", "CLERK_SECRET_KEY": "sk_live_x",
			"CLERK_PLATFORM_SECRET_KEY": "sk_live_p", "CLERK_PLATFORM_PUBLISHABLE_KEY": "pk_live_p", "CLERK_PUBLISHABLE_KEY": "pk_live_x", "DREAM_PLATFORM_PRICE_ID": "price_1", "DREAM_PLATFORM_METERED_PRICE_ID": "price_2",
			"STRIPE_PLATFORM_WEBHOOK_SECRET": "whsec_p", "DREAM_PUBLIC_URL": "https://api.example.com", "DREAM_PLATFORM_GRACE_DAYS": "10",
			"STRIPE_SECRET_KEY": "sk_live_s", "STRIPE_WEBHOOK_SECRET": "whsec_l",
			"DREAM_RATE_LIMIT_PER_MINUTE": "0", "DREAM_LOG_LEVEL": "debug",
		}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Addr != ":9000" || c.MetricsAddr != ":9091" || c.Database != "/litefs/dream.db" || c.ClerkSecretKey != "sk_live_x" || c.RateLimitPerMinute != 0 ||
			c.LogLevel != slog.LevelDebug || c.ClerkAPIURL != "https://api.clerk.com/v1" || c.DataDir != "" ||
			c.StripeSecretKey != "sk_live_s" || c.StripeWebhookSecret != "whsec_l" || c.StripeAPIURL != "" ||
			c.ConsoleAuth != "clerk" || c.ClerkPlatformSecretKey != "sk_live_p" || c.ClerkPlatformPublishableKey != "pk_live_p" || c.ClerkPublishableKey != "pk_live_x" ||
			c.ClerkJWTTemplate != "end-user-api" ||
			!reflect.DeepEqual(c.Plan, dream.PlatformPlan{PriceCents: 1900, TrialDays: 14, IncludedUsers: 2000, OverageCents: 3, Grace: 10 * 24 * time.Hour,
				Retention: 30 * 24 * time.Hour, PriceID: "price_1", MeteredPriceID: "price_2", MeterEvent: "dream_live_end_users"}) {
			t.Fatalf("serve loaded %+v, want addr :9000 from the flag, database, keys and debug logs "+
				"from the environment, the default metrics address and Clerk API URL, no data dir and no Stripe API URL", c)
		}
	})
	t.Run("PlatformBillingOff", func(t *testing.T) {
		c, err := loadConfig("serve", []string{"--platform-billing", "off", "--console-auth", "local"}, env(map[string]string{
			"DREAM_DB": "/d.db", "CLERK_SECRET_KEY": "sk_live_x", "STRIPE_SECRET_KEY": "sk_live_s", "STRIPE_WEBHOOK_SECRET": "whsec_l",
			"CLERK_PUBLISHABLE_KEY": "pk_live_x",
		}), io.Discard)
		if err != nil || !c.Plan.Off {
			t.Fatalf("serve with platform billing off loaded %+v, %v; want no billing settings required", c, err)
		}
	})
	t.Run("BillingSetup", func(t *testing.T) {
		if _, err := loadConfig("billing-setup", nil, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "STRIPE_SECRET_KEY") {
			t.Fatalf("billing-setup without a key: %v, want STRIPE_SECRET_KEY named", err)
		}
		c, err := loadConfig("billing-setup", nil, env(map[string]string{"STRIPE_SECRET_KEY": "sk_live_s", "DREAM_PLATFORM_OVERAGE_CENTS": "5"}), io.Discard)
		if err != nil || c.Plan.OverageCents != 5 || c.Plan.IncludedUsers != 2000 || c.Plan.PriceCents != 1900 || c.Plan.MeterEvent != "dream_live_end_users" {
			t.Fatalf("billing-setup loaded %+v, %v; want the plan's figures with the overage set", c, err)
		}
	})
	t.Run("DevDefaults", func(t *testing.T) {
		c, err := loadConfig("dev", nil, env(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Addr != "127.0.0.1:8787" || c.DataDir != "./data" || c.Database != filepath.Join("data", "dream.db") ||
			c.RateLimitPerMinute != 100 || c.ClerkSecretKey != "" || c.ConsoleAuth != "local" || c.MetricsAddr != "" {
			t.Fatalf("dev without settings loaded %+v, want addr 127.0.0.1:8787, data dir ./data, "+
				"database data/dream.db, a rate limit of 100 a minute, no Clerk key and no metrics listener", c)
		}
		if c, err := loadConfig("dev", nil, env(map[string]string{"DREAM_METRICS_ADDR": "127.0.0.1:9091"}), io.Discard); err != nil || c.MetricsAddr != "127.0.0.1:9091" {
			t.Fatalf("dev with DREAM_METRICS_ADDR=127.0.0.1:9091 loaded %+v (error %v), want that metrics address", c, err)
		}
	})
	t.Run("DevNeedsNoClerk", func(t *testing.T) {
		// Dev mode must never read production secrets, even when set.
		c, err := loadConfig("dev", []string{"--data", "/tmp/d"}, env(map[string]string{"CLERK_SECRET_KEY": "sk_live_x"}), io.Discard)
		if err != nil || c.ClerkSecretKey != "" || c.Database != "/tmp/d/dream.db" {
			t.Fatalf("dev with --data /tmp/d and CLERK_SECRET_KEY set loaded %+v (error %v), "+
				"want database /tmp/d/dream.db and no Clerk key", c, err)
		}
	})
	t.Run("InvalidValues", func(t *testing.T) {
		_, err := loadConfig("dev", []string{"--rate-limit", "-3"}, env(map[string]string{"DREAM_LOG_LEVEL": "loud"}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--rate-limit") || !strings.Contains(err.Error(), "DREAM_LOG_LEVEL") {
			t.Fatalf("dev with --rate-limit -3 and DREAM_LOG_LEVEL=loud returned %v, "+
				"want an error naming both --rate-limit and DREAM_LOG_LEVEL", err)
		}
	})
	t.Run("Usage", func(t *testing.T) {
		for _, args := range [][]string{{"--nope"}, {"extra"}, {"-h"}} {
			if _, err := loadConfig("dev", args, env(nil), io.Discard); !errors.Is(err, errUsage) {
				t.Errorf("dev with arguments %q returned %v, want the usage error", args, err)
			}
		}
		// Secrets are not flags.
		if _, err := loadConfig("serve", []string{"--clerk-secret-key", "x"}, env(nil), io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("serve with --clerk-secret-key returned %v, want the usage error: secrets are not flags", err)
		}
	})
	t.Run("BackupAndRestore", func(t *testing.T) {
		_, err := loadConfig("backup", nil, env(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "DREAM_DB (--db)") || !strings.Contains(err.Error(), "--out") {
			t.Fatalf("backup without settings returned %v, want an error naming --db and --out", err)
		}
		c, err := loadConfig("backup", []string{"--out", "/data/b.db", "--force"}, env(map[string]string{"DREAM_DB": "/litefs/dream.db"}), io.Discard)
		if err != nil || c.BackupFile != "/data/b.db" || c.Database != "/litefs/dream.db" || !c.Force {
			t.Fatalf("backup --out /data/b.db --force loaded %+v, %v; want the file, the database from DREAM_DB and force", c, err)
		}
		c, err = loadConfig("restore", []string{"--from", "/data/b.db", "--db", "/srv/dream.db", "--force=false"}, env(nil), io.Discard)
		if err != nil || c.BackupFile != "/data/b.db" || c.Database != "/srv/dream.db" || c.Force {
			t.Fatalf("restore --from /data/b.db --db /srv/dream.db --force=false loaded %+v, %v; want the file, the database and no force", c, err)
		}
		if _, err := loadConfig("restore", []string{"--db", "/srv/dream.db", "--out", "x"}, env(nil), io.Discard); !errors.Is(err, errUsage) {
			t.Fatalf("restore with --out returned %v, want the usage error: --out is backup's", err)
		}
	})
	t.Run("MigrateNeedsDatabase", func(t *testing.T) {
		if _, err := loadConfig("migrate", nil, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "DREAM_DB") {
			t.Fatalf("migrate without a database returned %v, want an error naming DREAM_DB", err)
		}
	})
}
