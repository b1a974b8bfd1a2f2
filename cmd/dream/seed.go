package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/internal/safefile"
	"github.com/dream-api/dream/store"
)

// devEmail is the email of dev mode's demo developer, a local account like
// any other.
const devEmail = "demo@localhost"

// devProject is one demo project as dev.json lists it. dev.json is the only
// place the demo secret keys exist in plaintext: the database holds their
// hashes, as it does for every key.
type devProject struct {
	Type           dream.ProjectType `json:"type"`
	Name           string            `json:"name"`
	PublishableKey string            `json:"publishableKey"`
	SecretKey      string            `json:"secretKey"`
}

// devFile is the document at <data>/dev.json.
type devFile struct {
	Developer devDeveloper `json:"developer"`
	Projects  []devProject `json:"projects"`
}

// devDeveloper is how to sign in as the demo developer.
type devDeveloper struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// demoProjects is the demo developer's catalogue: one project of each type,
// in test mode.
var demoProjects = []struct {
	name  string
	typ   dream.ProjectType
	tiers []dream.Tier
}{
	{"Demo SaaS", dream.ProjectSaaS, []dream.Tier{
		subscriptionTier("free", "Free", 0, 100, 0, "100 requests a month", "Community support"),
		subscriptionTier("pro", "Pro", 2900, 10_000, 0, "10,000 requests a month", "Email support"),
		subscriptionTier("enterprise", "Enterprise", 9900, dream.Unlimited, 0, "Unlimited requests", "Priority support"),
	}},
	{"Demo Store", dream.ProjectStore, []dream.Tier{
		product("tshirt", "Dream T-shirt", "Soft cotton, one size.", 2500, inventory(5)),
		product("poster", "Launch poster", "Signed print, sold out.", 1500, inventory(0)),
		product("ebook", "Indie SaaS e-book", "Download after purchase.", 900, nil),
	}},
	{"Demo Membership", dream.ProjectMembership, []dream.Tier{
		subscriptionTier("free", "Free", 0, 100, 0, "Public articles"),
		subscriptionTier("member", "Member", 900, dream.Unlimited, 7, "Every article", "Members' forum"),
	}},
}

func subscriptionTier(slug, name string, cents int64, limit dream.Limit, trialDays int, features ...string) dream.Tier {
	t := catalogueEntry(slug, name, cents, dream.BillingSubscription)
	t.Limit, t.TrialDays, t.Features = limit, trialDays, features
	t.Popular = slug == "pro" || slug == "member"
	return t
}

func product(slug, name, description string, cents int64, stock *int64) dream.Tier {
	t := catalogueEntry(slug, name, cents, dream.BillingOneOff)
	t.Description, t.Inventory, t.Limit = description, stock, dream.Unlimited
	return t
}

// catalogueEntry is a tier before the payments emulator gave it a product
// and a price.
func catalogueEntry(slug, name string, cents int64, mode dream.BillingMode) dream.Tier {
	return dream.Tier{Slug: slug, DisplayName: name, PriceCents: cents, Currency: "usd", BillingMode: mode}
}

func inventory(n int64) *int64 { return &n }

// seedDev makes sure the demo developer and its projects exist and that
// dev.json holds working credentials for them, and returns that document.
// On first start it creates everything. Later starts read dev.json; if it
// is missing or its keys or password no longer open the database, the demo
// secret keys are rotated or the password set anew and dev.json is written
// again, since old secrets cannot be recovered from their hashes.
func seedDev(ctx context.Context, db *store.DB, w dream.Writer, catalogue dream.Catalogue, passwords dream.PasswordHasher, dataDir string, now time.Time) (*devFile, error) {
	path := filepath.Join(dataDir, "dev.json")
	p, err := db.PlatformByOwner(ctx, dream.LocalOwner(devEmail))
	if err != nil {
		return nil, err
	}
	if p == nil {
		f := &devFile{Developer: newDevDeveloper()}
		if f.Projects, err = createDemo(ctx, db, w, catalogue, passwords, f.Developer); err != nil {
			return nil, err
		}
		return f, writeDevFile(path, f)
	}
	if err := connectEmulator(ctx, db, w, p.ID); err != nil {
		return nil, err
	}
	f, err := readDevFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = &devFile{}, nil
	}
	if err != nil {
		return nil, err
	}
	changed := false
	if !keysWork(ctx, db, p.ID, f.Projects, now) {
		if f.Projects, err = rotateDemoKeys(ctx, db, w, p.ID); err != nil {
			return nil, err
		}
		changed = true
	}
	if login, err := db.Login(ctx, devEmail); err != nil {
		return nil, err
	} else if login == nil || login.PlatformID != p.ID || !passwords.Matches(login.PasswordHash, f.Developer.Password) {
		f.Developer = newDevDeveloper()
		hash, err := passwords.Hash(f.Developer.Password)
		if err != nil {
			return nil, err
		}
		if err := w.Write(ctx, dream.SetPassword{PlatformID: p.ID, Email: devEmail, PasswordHash: hash}, nil); err != nil {
			return nil, err
		}
		changed = true
	}
	if changed {
		return f, writeDevFile(path, f)
	}
	return f, nil
}

// newDevDeveloper is the demo developer with a new random password.
func newDevDeveloper() devDeveloper {
	return devDeveloper{Email: devEmail, Password: dream.NewID("demo-")}
}

func createDemo(ctx context.Context, db *store.DB, w dream.Writer, catalogue dream.Catalogue, passwords dream.PasswordHasher, developer devDeveloper) ([]devProject, error) {
	hash, err := passwords.Hash(developer.Password)
	if err != nil {
		return nil, err
	}
	platformID := dream.NewID("plt_")
	err = w.Write(ctx, dream.CreatePlatform{ID: platformID, Owner: dream.LocalOwner(devEmail), Email: devEmail,
		Login: &dream.NewLogin{Email: devEmail, PasswordHash: hash}}, nil)
	if err != nil {
		return nil, err
	}
	if err := connectEmulator(ctx, db, w, platformID); err != nil {
		return nil, err
	}
	account := dream.PaymentAccount{Mode: dream.ModeTest, AccountID: devAccount}
	var projects []devProject
	for _, demo := range demoProjects {
		tiers := slices.Clone(demo.tiers)
		for i := range tiers {
			t := &tiers[i]
			if t.StripeProductID, err = catalogue.CreateProduct(ctx, account, *t); err != nil {
				return nil, err
			}
			if t.StripePriceID, err = catalogue.CreatePrice(ctx, account, *t); err != nil {
				return nil, err
			}
		}
		pk := dream.NewPublishableKey(dream.ModeTest)
		sk, hash := dream.NewSecretKey(dream.ModeTest)
		err := w.Write(ctx, dream.CreateProject{
			ID: dream.NewID("prj_"), PlatformID: platformID, Name: demo.name, Type: demo.typ,
			Environments: []dream.NewEnvironment{{Mode: dream.ModeTest, PublishableKey: pk, SecretKeyHash: hash, Tiers: tiers}},
		}, nil)
		if err != nil {
			return nil, err
		}
		projects = append(projects, devProject{Type: demo.typ, Name: demo.name, PublishableKey: pk, SecretKey: sk})
	}
	return projects, nil
}

// devAccount is the demo developer's connected account at the payments
// emulator.
const devAccount = "acct_dev_demo"

// connectEmulator connects the demo developer's test mode to the payments
// emulator, for data dirs seeded before payments existed.
func connectEmulator(ctx context.Context, db *store.DB, w dream.Writer, platformID string) error {
	account, err := db.PaymentAccount(ctx, platformID, dream.ModeTest)
	if err != nil || account != "" {
		return err
	}
	return w.Write(ctx, dream.ConnectPaymentAccount{PlatformID: platformID, Mode: dream.ModeTest, AccountID: devAccount}, nil)
}

// keysWork reports whether every key of dev.json opens a project of the
// demo platform.
func keysWork(ctx context.Context, db *store.DB, platformID string, projects []devProject, now time.Time) bool {
	if len(projects) == 0 {
		return false
	}
	for _, p := range projects {
		key, err := db.SecretKey(ctx, dream.HashSecretKey(p.SecretKey))
		if err != nil || key == nil || !key.ValidAt(now) || key.Environment.PublishableKey != p.PublishableKey ||
			key.Environment.Project.PlatformID != platformID {
			return false
		}
	}
	return true
}

func rotateDemoKeys(ctx context.Context, db *store.DB, w dream.Writer, platformID string) ([]devProject, error) {
	envs, err := db.Environments(ctx, platformID)
	if err != nil {
		return nil, err
	}
	var projects []devProject
	for _, env := range envs {
		if env.Mode != dream.ModeTest {
			continue
		}
		sk, hash := dream.NewSecretKey(env.Mode)
		if err := w.Write(ctx, dream.RotateSecretKey{EnvironmentID: env.ID, NewHash: hash}, nil); err != nil {
			return nil, err
		}
		projects = append(projects, devProject{Type: env.Project.Type, Name: env.Project.Name, PublishableKey: env.PublishableKey, SecretKey: sk})
	}
	return projects, nil
}

func readDevFile(path string) (*devFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f devFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// writeDevFile writes dev.json readable by its owner only: it holds secret
// keys and the demo developer's password.
func writeDevFile(path string, f *devFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return safefile.WriteBytes(path, append(b, '\n'))
}

// printDevBanner prints how to sign in as the demo developer, the demo
// keys and a ready-to-paste SDK snippet.
func printDevBanner(w io.Writer, baseURL, dataDir string, f *devFile) {
	projects := f.Projects
	fmt.Fprintf(w, "\nDream API dev server listening on %s\n", baseURL)
	fmt.Fprintf(w, "Data in %s (database dream.db, keys and password in dev.json)\n\n", dataDir)
	fmt.Fprintf(w, `Dashboard: %[1]s/dashboard
Demo developer: %[2]s, password %[3]s
  or from a script: curl -s %[1]s/v1/session -H 'Content-Type: application/json' \
    -d '{"email":"%[2]s","password":"%[3]s"}'
  then: curl -s %[1]s/v1/projects -H 'Authorization: Bearer <token>'

`, baseURL, f.Developer.Email, f.Developer.Password)
	fmt.Fprintln(w, "Demo projects (test mode):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range projects {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.Type, p.Name, p.PublishableKey, p.SecretKey)
	}
	tw.Flush()
	if len(projects) == 0 {
		return
	}
	pk := projects[0].PublishableKey
	fmt.Fprintf(w, `
An end-user token for any email (dev mode only):
  curl -s %[1]s/dev/tokens -H 'Content-Type: application/json' \
    -d '{"publishableKey":"%[2]s","email":"ada@example.com"}'

With the SDK (npm install @dream-api/sdk):
  import { DreamAPI } from '@dream-api/sdk';
  const api = new DreamAPI({ publishableKey: '%[2]s', baseUrl: '%[1]s', signupUrl: '%[1]s' });
  await api.auth.init();   // reads the token the hosted pages return
  if (!api.auth.isSignedIn()) location.href = api.auth.getSignUpUrl({ redirect: location.href });
  // or, from a script: api.setUserToken(token) with the "token" of /dev/tokens
  console.log(await api.products.listTiers());
  console.log(await api.usage.track());
  console.log(await api.usage.check());

`, baseURL, pk)
	fmt.Fprintln(w, strings.Repeat("-", 72))
}
