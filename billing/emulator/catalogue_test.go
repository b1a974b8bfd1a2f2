package emulator

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dream-api/dream"
)

func TestEmulator_Catalogue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	account := dream.PaymentAccount{Mode: dream.ModeTest, AccountID: "acct_dev_1"}
	other := dream.PaymentAccount{Mode: dream.ModeTest, AccountID: "acct_dev_2"}
	tier := dream.Tier{Slug: "pro", DisplayName: "Pro", BillingMode: dream.BillingSubscription, PriceCents: 900, Currency: "usd"}

	productID, err := f.emulator.CreateProduct(ctx, account, tier)
	if err != nil || !strings.HasPrefix(productID, "prod_dev_") {
		t.Fatalf("creating a product: %q, %v", productID, err)
	}
	tier.StripeProductID = productID
	priceID, err := f.emulator.CreatePrice(ctx, account, tier)
	if err != nil || !strings.HasPrefix(priceID, "price_dev_") {
		t.Fatalf("creating a price: %q, %v", priceID, err)
	}
	if _, err := f.emulator.CreatePrice(ctx, other, tier); dream.ErrorKind(err) != dream.KindNotFound {
		t.Errorf("a price on another account's product: %v, want not found", err)
	}
	if err := f.emulator.ArchiveProduct(ctx, other, productID); dream.ErrorKind(err) != dream.KindNotFound {
		t.Errorf("archiving another account's product: %v, want not found", err)
	}
	tier.DisplayName = "Pro plan"
	if err := f.emulator.UpdateProduct(ctx, account, tier); err != nil {
		t.Fatalf("updating the product: %v", err)
	}
	if err := f.emulator.DeactivatePrice(ctx, account, priceID); err != nil {
		t.Fatalf("deactivating the price: %v", err)
	}
	if err := f.emulator.ArchiveProduct(ctx, account, productID); err != nil {
		t.Fatalf("archiving the product: %v", err)
	}
	var p product
	var price productPrice
	get(ctx, f.emulator.db, productsTable, productID, &p)
	get(ctx, f.emulator.db, pricesTable, priceID, &price)
	if p.Active || p.Name != "Pro plan" || price.Active || !price.Recurring || price.UnitAmount != 900 {
		t.Errorf("product %+v and price %+v, want both inactive, the product renamed, the price monthly at 900", p, price)
	}
}

func TestEmulator_Connect(t *testing.T) {
	f := newFixture(t)
	raw, _ := f.emulator.AuthorizeURL(dream.ModeTest, "cst_1")
	u, _ := url.Parse(raw)
	if page := f.do(t, http.MethodGet, u.RequestURI(), nil); page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "cst_1") {
		t.Fatalf("the Connect page answered %d: %s", page.Code, page.Body)
	}
	allow := f.do(t, http.MethodPost, "/dev/connect/authorize", url.Values{"mode": {"test"}, "state": {"cst_1"}, "decision": {"allow"}})
	back, _ := url.Parse(allow.Header().Get("Location"))
	if allow.Code != http.StatusSeeOther || back.Path != "/v1/connect/test/callback" || back.Query().Get("state") != "cst_1" {
		t.Fatalf("connecting answered %d to %s, want a redirect to the callback with the state", allow.Code, back)
	}
	code := back.Query().Get("code")
	if _, err := f.emulator.Exchange(context.Background(), dream.ModeLive, code); err == nil {
		t.Error("a test-mode code traded in live mode, want a refusal")
	}
	account, err := f.emulator.Exchange(context.Background(), dream.ModeTest, code)
	if err != nil || !strings.HasPrefix(account, "acct_dev_") {
		t.Fatalf("trading the code: %q, %v", account, err)
	}
	if _, err := f.emulator.Exchange(context.Background(), dream.ModeTest, code); err == nil {
		t.Error("a code traded twice, want it used up")
	}
	deny := f.do(t, http.MethodPost, "/dev/connect/authorize", url.Values{"mode": {"test"}, "state": {"cst_2"}, "decision": {"deny"}})
	if back, _ := url.Parse(deny.Header().Get("Location")); back.Query().Get("error") != "access_denied" || back.Query().Get("code") != "" {
		t.Errorf("declining redirected to %s, want error=access_denied and no code", back)
	}
}
