package dream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

// provider records the calls the console makes on the payment provider's
// catalogue and answers with ids of its own.
type provider struct {
	mu    sync.Mutex
	calls []string
	// fail makes a call of this name fail, after skip more of them.
	fail string
	skip int
}

func (p *provider) record(call string, account dream.PaymentAccount, detail string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail == call {
		if p.skip == 0 {
			p.fail = ""
			return dream.Errorf(dream.KindUnavailable, "payment_provider_unavailable", "down")
		}
		p.skip--
	}
	p.calls = append(p.calls, fmt.Sprintf("%s %s/%s %s", call, account.Mode, account.AccountID, detail))
	return nil
}

func (p *provider) CreateProduct(_ context.Context, a dream.PaymentAccount, t dream.Tier) (string, error) {
	return "prod_" + string(a.Mode) + "_" + t.Slug, p.record("CreateProduct", a, t.Slug+" "+t.DisplayName)
}

func (p *provider) UpdateProduct(_ context.Context, a dream.PaymentAccount, t dream.Tier) error {
	return p.record("UpdateProduct", a, t.StripeProductID+" "+t.DisplayName)
}

func (p *provider) ArchiveProduct(_ context.Context, a dream.PaymentAccount, id string) error {
	return p.record("ArchiveProduct", a, id)
}

func (p *provider) CreatePrice(_ context.Context, a dream.PaymentAccount, t dream.Tier) (string, error) {
	return fmt.Sprintf("price_%s_%s_%d", a.Mode, t.Slug, t.PriceCents), p.record("CreatePrice", a, fmt.Sprintf("%s %d %s", t.StripeProductID, t.PriceCents, t.BillingMode))
}

func (p *provider) DeactivatePrice(_ context.Context, a dream.PaymentAccount, id string) error {
	return p.record("DeactivatePrice", a, id)
}

// take returns the calls recorded since the last take.
func (p *provider) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	calls := p.calls
	p.calls = nil
	return calls
}

// testPlan is the published plan, as cmd/dream's defaults make it.
var testPlan = dream.PlatformPlan{PriceCents: 1900, TrialDays: 14, IncludedUsers: 2000, OverageCents: 3,
	Grace: 7 * 24 * time.Hour, Retention: 30 * 24 * time.Hour, PriceID: "price_pro", MeteredPriceID: "price_users", MeterEvent: "live_end_users"}

type consoleFixture struct {
	db       *store.DB
	primary  *primary.Primary
	provider *provider
	console  *dream.Console
	platform *dream.Platform
	now      time.Time
}

func newConsole(t *testing.T) *consoleFixture {
	t.Helper()
	f := &consoleFixture{db: storetest.Open(t), provider: &provider{}, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f.primary = primary.New(f.db, func() time.Time { return f.now }, nil)
	f.console = &dream.Console{Directory: f.db, Writer: f.primary, Provider: f.provider, Plan: &testPlan,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return f.now }}
	id := storetest.Platform(t, f.primary)
	var err error
	if f.platform, err = f.db.Platform(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *consoleFixture) connect(t *testing.T, mode dream.Mode) {
	t.Helper()
	err := f.primary.Write(context.Background(), dream.ConnectPaymentAccount{PlatformID: f.platform.ID, Mode: mode, AccountID: "acct_" + string(mode)}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func input(t *testing.T, js string) dream.TierInput {
	t.Helper()
	var in dream.TierInput
	if err := json.Unmarshal([]byte(js), &in); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestConsole_CatalogueFollowsTheProvider(t *testing.T) {
	f := newConsole(t)
	ctx := context.Background()
	v, err := f.console.CreateProject(ctx, f.platform, dream.NewProject{Name: "App", Type: dream.ProjectSaaS})
	if err != nil {
		t.Fatal(err)
	}
	create := func(js string) *dream.Tier {
		t.Helper()
		tier, err := f.console.CreateTier(ctx, f.platform, v.ID, dream.ModeTest, dream.BillingSubscription, input(t, js))
		if err != nil {
			t.Fatalf("creating %s: %v", js, err)
		}
		return tier
	}

	t.Run("SavedUntilConnected", func(t *testing.T) {
		tier := create(`{"name":"free","displayName":"Free","price":0,"limit":10}`)
		if tier.StripePriceID != "" || len(f.provider.take()) != 0 {
			t.Fatalf("a tier without a connected account is %+v, want it saved with no provider call", tier)
		}
		f.connect(t, dream.ModeTest)
		if err := f.console.SyncCatalogue(ctx, f.platform.ID, dream.ModeTest); err != nil {
			t.Fatal(err)
		}
		want := []string{"CreateProduct test/acct_test free Free", "CreatePrice test/acct_test prod_test_free 0 subscription"}
		if got := f.provider.take(); !slices.Equal(got, want) {
			t.Fatalf("connecting made %q, want %q", got, want)
		}
		tiers, _ := f.console.ListTiers(ctx, f.platform, v.ID, dream.ModeTest, dream.BillingSubscription)
		if tiers[0].StripePriceID != "price_test_free_0" || tiers[0].StripeProductID != "prod_test_free" {
			t.Fatalf("after connecting the tier is %+v, want the provider's ids stored", tiers[0])
		}
		if err := f.console.SyncCatalogue(ctx, f.platform.ID, dream.ModeTest); err != nil || len(f.provider.take()) != 0 {
			t.Fatalf("a second sync: %v, want nothing created twice", err)
		}
	})
	t.Run("PriceChangeReplacesThePrice", func(t *testing.T) {
		create(`{"name":"pro","displayName":"Pro","price":2900}`)
		f.provider.take()
		tier, err := f.console.UpdateTier(ctx, f.platform, v.ID, dream.ModeTest, dream.BillingSubscription, "pro", input(t, `{"price":3900}`))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"CreatePrice test/acct_test prod_test_pro 3900 subscription", "DeactivatePrice test/acct_test price_test_pro_2900"}
		if got := f.provider.take(); !slices.Equal(got, want) || tier.StripePriceID != "price_test_pro_3900" {
			t.Fatalf("a price change made %q and left price %s, want %q", got, tier.StripePriceID, want)
		}
	})
	t.Run("ProductChangeUpdatesTheProduct", func(t *testing.T) {
		if _, err := f.console.UpdateTier(ctx, f.platform, v.ID, dream.ModeTest, dream.BillingSubscription, "pro",
			input(t, `{"displayName":"Pro plan","features":["a"]}`)); err != nil {
			t.Fatal(err)
		}
		if got := f.provider.take(); !slices.Equal(got, []string{"UpdateProduct test/acct_test prod_test_pro Pro plan"}) {
			t.Fatalf("a name change made %q, want one product update", got)
		}
		if _, err := f.console.UpdateTier(ctx, f.platform, v.ID, dream.ModeTest, dream.BillingSubscription, "pro",
			input(t, `{"limit":5,"popular":true}`)); err != nil {
			t.Fatal(err)
		}
		if got := f.provider.take(); len(got) != 0 {
			t.Fatalf("a limit change made %q, want no provider call: the limit is ours", got)
		}
	})
	t.Run("ProviderFailureSavesNothing", func(t *testing.T) {
		f.provider.fail = "CreatePrice"
		_, err := f.console.CreateTier(ctx, f.platform, v.ID, dream.ModeTest, dream.BillingSubscription, input(t, `{"name":"team","displayName":"Team","price":1}`))
		if dream.ErrorKind(err) != dream.KindUnavailable {
			t.Fatalf("creating with the provider down: %v, want unavailable", err)
		}
		if got := f.provider.take(); !slices.Equal(got, []string{"CreateProduct test/acct_test team Team", "ArchiveProduct test/acct_test prod_test_team"}) {
			t.Fatalf("the failed creation made %q, want its product archived again", got)
		}
		tiers, _ := f.console.ListTiers(ctx, f.platform, v.ID, dream.ModeTest, dream.BillingSubscription)
		if len(tiers) != 2 {
			t.Fatalf("after the failure the tiers are %d, want the 2 before it", len(tiers))
		}
	})
	t.Run("PromoteFailureArchivesWhatItCreated", func(t *testing.T) {
		storetest.SetPlatformSubscription(t, f.db, f.platform.ID, dream.StatusActive, time.Time{})
		p, _ := f.db.Platform(ctx, f.platform.ID)
		f.connect(t, dream.ModeLive)
		f.provider.fail, f.provider.skip = "CreatePrice", 1
		if _, err := f.console.Promote(ctx, p, v.ID); dream.ErrorKind(err) != dream.KindUnavailable {
			t.Fatalf("promoting with the provider failing: %v, want unavailable", err)
		}
		got := f.provider.take()
		want := []string{"CreateProduct live/acct_live free Free", "CreatePrice live/acct_live prod_live_free 0 subscription",
			"CreateProduct live/acct_live pro Pro plan", "ArchiveProduct live/acct_live prod_live_pro", "ArchiveProduct live/acct_live prod_live_free"}
		if !slices.Equal(got, want) {
			t.Fatalf("the failed promotion made %q, want %q", got, want)
		}
		if v, _ := f.console.Project(ctx, p, v.ID); v.Environment(dream.ModeLive) != nil {
			t.Fatal("the failed promotion left a live environment")
		}
	})
	t.Run("PromoteCopiesIntoLive", func(t *testing.T) {
		p, _ := f.db.Platform(ctx, f.platform.ID)
		live, err := f.console.Promote(ctx, p, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := f.provider.take()
		for _, call := range got {
			if !strings.Contains(call, " live/acct_live ") {
				t.Errorf("promotion made %q on another account than the live one", call)
			}
		}
		if len(got) != 4 {
			t.Errorf("promotion made %q, want a product and a price for each of the 2 tiers", got)
		}
		tiers, _ := f.console.ListTiers(ctx, p, v.ID, dream.ModeLive, dream.BillingSubscription)
		if len(tiers) != 2 || tiers[1].StripePriceID != "price_live_pro_3900" || tiers[1].DisplayName != "Pro plan" || tiers[1].Limit != 5 {
			t.Fatalf("the live catalogue is %+v, want the test tiers with live ids", tiers)
		}
		if !strings.HasPrefix(live.Environment(dream.ModeLive).SecretKey, "sk_live_") {
			t.Fatalf("promotion answered %+v, want the live secret key", live.Environment(dream.ModeLive))
		}
	})
	t.Run("DeleteArchivesEveryProduct", func(t *testing.T) {
		p, _ := f.db.Platform(ctx, f.platform.ID)
		if err := f.console.DeleteProject(ctx, p, v.ID, "App"); err != nil {
			t.Fatal(err)
		}
		got := f.provider.take()
		slices.Sort(got)
		want := []string{"ArchiveProduct live/acct_live prod_live_free", "ArchiveProduct live/acct_live prod_live_pro",
			"ArchiveProduct test/acct_test prod_test_free", "ArchiveProduct test/acct_test prod_test_pro"}
		if !slices.Equal(got, want) {
			t.Fatalf("deleting the project made %q, want %q", got, want)
		}
	})
}

func TestConsole_ProjectRules(t *testing.T) {
	f := newConsole(t)
	ctx := context.Background()
	for _, n := range []dream.NewProject{
		{Name: " ", Type: dream.ProjectSaaS},
		{Name: "x", Type: "shop"},
		{Name: strings.Repeat("n", dream.MaxName+1), Type: dream.ProjectSaaS},
		{Name: "x", Type: dream.ProjectSaaS, AllowedOrigins: []string{"https://app.example.com/path"}},
		{Name: "x", Type: dream.ProjectSaaS, AllowedOrigins: []string{"javascript:alert(1)"}},
		{Name: "x", Type: dream.ProjectSaaS, AllowedOrigins: slices.Repeat([]string{"https://a.example"}, dream.MaxAllowedOrigins+1)},
	} {
		if _, err := f.console.CreateProject(ctx, f.platform, n); dream.ErrorKind(err) != dream.KindInvalid {
			t.Errorf("creating %+v: %v, want it refused as invalid", n, err)
		}
	}
	v, err := f.console.CreateProject(ctx, f.platform, dream.NewProject{Name: " Shop ", Type: dream.ProjectStore,
		AllowedOrigins: []string{"https://shop.example.com", "http://localhost:3000"}})
	if err != nil || v.Name != "Shop" || len(v.AllowedOrigins) != 2 {
		t.Fatalf("creating a store: %+v, %v", v, err)
	}
	negative, tooMany := -1, dream.MaxRateLimitPerMinute+1
	for _, ch := range []dream.ProjectChanges{{RateLimitPerMinute: dream.Optional[*int]{Set: true, Value: &negative}},
		{RateLimitPerMinute: dream.Optional[*int]{Set: true, Value: &tooMany}}} {
		if _, err := f.console.UpdateProject(ctx, f.platform, v.ID, ch); dream.ErrorKind(err) != dream.KindInvalid {
			t.Errorf("updating with %+v: %v, want it refused", ch, err)
		}
	}
	zero, on := 0, true
	v, err = f.console.UpdateProject(ctx, f.platform, v.ID, dream.ProjectChanges{RateLimitPerMinute: dream.Optional[*int]{Set: true, Value: &zero}, EnableTax: &on})
	if err != nil || v.RateLimitPerMinute == nil || *v.RateLimitPerMinute != 0 || !v.EnableTax || v.Name != "Shop" {
		t.Fatalf("updating the rate limit and tax: %+v, %v; want both set and the rest as it was", v, err)
	}
	// Through the JSON a replica forwards: null is the server's default
	// again, and a change that names no rate limit keeps it.
	var ch dream.ProjectChanges
	if err := json.Unmarshal([]byte(`{"name":"Store"}`), &ch); err != nil {
		t.Fatal(err)
	}
	if v, err = f.console.UpdateProject(ctx, f.platform, v.ID, ch); err != nil || v.RateLimitPerMinute == nil {
		t.Fatalf("renaming: %+v, %v; want the rate limit kept", v, err)
	}
	if err := json.Unmarshal([]byte(`{"rateLimitPerMinute":null}`), &ch); err != nil {
		t.Fatal(err)
	}
	forwarded, _ := json.Marshal(dream.UpdateProject{ProjectID: v.ID, Changes: ch})
	var w dream.UpdateProject
	if err := json.Unmarshal(forwarded, &w); err != nil || !w.Changes.RateLimitPerMinute.Set || w.Changes.Name == nil {
		t.Fatalf("the change %s read back as %+v, %v; want the rate limit set to null and the name kept", forwarded, w.Changes, err)
	}
	if v, err = f.console.UpdateProject(ctx, f.platform, v.ID, ch); err != nil || v.RateLimitPerMinute != nil || v.Name != "Store" {
		t.Fatalf("setting the rate limit to null: %+v, %v; want the server's default", v, err)
	}
	if _, _, err := f.console.RotateSecretKey(ctx, f.platform, v.ID, dream.ModeTest, 25*time.Hour); dream.ErrorKind(err) != dream.KindInvalid {
		t.Errorf("rotating with a 25 h overlap: %v, want it refused", err)
	}
	if _, _, err := f.console.RotateSecretKey(ctx, f.platform, v.ID, dream.ModeLive, 0); dream.ErrorKind(err) != dream.KindNotFound {
		t.Errorf("rotating the live key of a project that is not live: %v, want not found", err)
	}
}

// developers is the platform's identity provider in a test: a token names
// its user.
type developers map[string]string

func (d developers) VerifyDeveloper(_ context.Context, token string) (string, string, error) {
	if user, ok := d[token]; ok {
		return user, user + "@example.com", nil
	}
	return "", "", dream.ErrInvalidEndUserToken
}

func TestConsole_AuthenticateWithTheIdentityProvider(t *testing.T) {
	f := newConsole(t)
	f.console.Identity = developers{"jwt-ann": "user_ann", "jwt-bob": "user_bob"}
	ctx := context.Background()
	first, err := f.console.Authenticate(ctx, "jwt-ann")
	if err != nil || first.Owner != dream.ClerkOwner("user_ann") || first.Email != "user_ann@example.com" {
		t.Fatalf("the first sign-in gave %+v, %v; want a platform created for the Clerk user", first, err)
	}
	again, err := f.console.Authenticate(ctx, "jwt-ann")
	if err != nil || again.ID != first.ID {
		t.Fatalf("the second sign-in gave %+v, %v; want the same platform %s", again, err, first.ID)
	}
	if bob, err := f.console.Authenticate(ctx, "jwt-bob"); err != nil || bob.ID == first.ID {
		t.Fatalf("another Clerk user gave %+v, %v; want a platform of their own", bob, err)
	}
	for _, token := range []string{"", "jwt-forged", "dss_" + strings.Repeat("0", 64)} {
		if _, err := f.console.Authenticate(ctx, token); err != dream.ErrDeveloperUnauthenticated {
			t.Errorf("authenticating with %q: %v, want ErrDeveloperUnauthenticated", token, err)
		}
	}
	if _, _, err := f.console.SignUp(ctx, dream.Credentials{Email: "a@example.com", Password: "long enough pass"}, "127.0.0.1"); err != dream.ErrLocalAccountsOff {
		t.Errorf("signing up with local accounts off: %v, want ErrLocalAccountsOff", err)
	}
}
