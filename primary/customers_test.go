package primary_test

import (
	"testing"
	"time"

	"github.com/dream-api/dream"
)

func TestPrimary_Customers(t *testing.T) {
	f := newPayments(t)
	env, pk := f.saas.Test.EnvironmentID, f.saas.Test.PublishableKey
	create := func(id, email string) error {
		return f.p.CreateCustomer(ctx, dream.CreateCustomer{EnvironmentID: env, UserID: id, Email: email, Plan: "pro"})
	}
	if err := create("user_1", "Ada@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := create("user_2", "ada@EXAMPLE.com"); dream.ErrorKind(err) != dream.KindConflict {
		t.Fatalf("duplicate email: %v", err)
	}
	if err := f.p.CreateCustomer(ctx, dream.CreateCustomer{EnvironmentID: f.shop.Test.EnvironmentID, UserID: "user_2", Email: "ada@example.com"}); err != nil {
		t.Fatalf("the same email in another project: %v", err)
	}
	if u := f.usage(env, "user_1"); u.Plan != "pro" {
		t.Fatalf("assigned plan: %+v", u)
	}

	if err := f.p.AssignPlan(ctx, dream.AssignPlan{EnvironmentID: env, UserID: "user_1", Plan: "enterprise"}); err != nil {
		t.Fatal(err)
	}
	if u := f.usage(env, "user_1"); u.Plan != "enterprise" {
		t.Fatalf("after assigning: %+v", u)
	}

	// A subscription, then the customer's deletion: later events about the
	// subscription must not bring the customer back.
	f.apply(f.event("customer.subscription.created", 100, subscription("sub_1", "active", "price_pro", false, pk)))
	deleted, err := f.p.DeleteCustomer(ctx, dream.DeleteCustomer{EnvironmentID: env, UserID: "user_1"})
	if err != nil || !deleted {
		t.Fatalf("delete: %v, %v", deleted, err)
	}
	out := f.apply(f.event("customer.subscription.updated", 200, subscription("sub_1", "active", "price_pro", true, pk)))
	if user, _ := f.db.EndUser(ctx, env, "user_1"); user != nil {
		t.Fatalf("the deleted customer came back: %+v (%+v)", user, out)
	}
	if again, err := f.p.DeleteCustomer(ctx, dream.DeleteCustomer{EnvironmentID: env, UserID: "user_1"}); err != nil || again {
		t.Fatalf("deleting twice: %v, %v", again, err)
	}
	if user, _ := f.db.EndUser(ctx, f.shop.Test.EnvironmentID, "user_2"); user == nil {
		t.Fatal("another project's customer was deleted")
	}
}

func TestPrimary_PutAsset(t *testing.T) {
	f := newPayments(t)
	asset := dream.Asset{Key: f.saas.PlatformID + "/1-a.png", PlatformID: f.saas.PlatformID, ContentType: "image/png", Data: []byte{1, 2}, CreatedAt: time.Now()}
	if err := f.p.PutAsset(ctx, dream.PutAsset{Asset: asset}); err != nil {
		t.Fatal(err)
	}
	if err := f.p.PutAsset(ctx, dream.PutAsset{Asset: asset}); dream.ErrorKind(err) != dream.KindConflict {
		t.Fatalf("same key twice: %v", err)
	}
	got, err := f.db.Asset(ctx, asset.Key)
	if err != nil || got == nil || string(got.Data) != string(asset.Data) || got.ContentType != "image/png" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if missing, err := f.db.Asset(ctx, "nope"); missing != nil || err != nil {
		t.Fatalf("unknown key: %+v, %v", missing, err)
	}
	if err := f.p.PutAsset(ctx, dream.PutAsset{Asset: dream.Asset{Key: "x"}}); dream.ErrorKind(err) != dream.KindInvalid {
		t.Fatalf("empty asset: %v", err)
	}
}
