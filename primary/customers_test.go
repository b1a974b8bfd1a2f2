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
		return f.p.Write(ctx, dream.CreateCustomer{EnvironmentID: env, UserID: id, Email: email, Plan: "pro"}, nil)
	}
	if err := create("user_1", "Ada@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := create("user_2", "ada@EXAMPLE.com"); dream.ErrorKind(err) != dream.KindConflict {
		t.Fatalf("duplicate email: %v", err)
	}
	if err := f.p.Write(ctx, dream.CreateCustomer{EnvironmentID: f.shop.Test.EnvironmentID, UserID: "user_2", Email: "ada@example.com"}, nil); err != nil {
		t.Fatalf("the same email in another project: %v", err)
	}
	if u := f.usage(env, "user_1"); u.Plan != "pro" {
		t.Fatalf("assigned plan: %+v", u)
	}

	if err := f.p.Write(ctx, dream.AssignPlan{EnvironmentID: env, UserID: "user_1", Plan: "enterprise"}, nil); err != nil {
		t.Fatal(err)
	}
	if u := f.usage(env, "user_1"); u.Plan != "enterprise" {
		t.Fatalf("after assigning: %+v", u)
	}

	// A subscription, then the customer's deletion: later events about the
	// subscription must not bring the customer back.
	f.apply(f.subscription(100, rankCreated, "sub_1", dream.StatusActive, "price_pro", false, pk))
	deleted, err := dream.Apply(ctx, f.p, dream.DeleteCustomer{EnvironmentID: env, UserID: "user_1"})
	if err != nil || !deleted {
		t.Fatalf("delete: %v, %v", deleted, err)
	}
	out := f.apply(f.subscription(200, rankUpdated, "sub_1", dream.StatusActive, "price_pro", true, pk))
	if user, _ := f.db.EndUser(ctx, env, "user_1"); user != nil {
		t.Fatalf("the deleted customer came back: %+v (%+v)", user, out)
	}
	if again, err := dream.Apply(ctx, f.p, dream.DeleteCustomer{EnvironmentID: env, UserID: "user_1"}); err != nil || again {
		t.Fatalf("deleting twice: %v, %v", again, err)
	}
	if user, _ := f.db.EndUser(ctx, f.shop.Test.EnvironmentID, "user_2"); user == nil {
		t.Fatal("another project's customer was deleted")
	}
}

func TestPrimary_PutAsset(t *testing.T) {
	f := newPayments(t)
	asset := dream.Asset{Key: f.saas.PlatformID + "/1-a.png", PlatformID: f.saas.PlatformID, ContentType: "image/png", Data: []byte{1, 2}, CreatedAt: time.Now()}
	if err := f.p.Write(ctx, dream.PutAsset{Asset: asset}, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Write(ctx, dream.PutAsset{Asset: asset}, nil); dream.ErrorKind(err) != dream.KindConflict {
		t.Fatalf("same key twice: %v", err)
	}
	got, err := f.db.Asset(ctx, asset.Key)
	if err != nil || got == nil || string(got.Data) != string(asset.Data) || got.ContentType != "image/png" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if missing, err := f.db.Asset(ctx, "nope"); missing != nil || err != nil {
		t.Fatalf("unknown key: %+v, %v", missing, err)
	}
	if err := f.p.Write(ctx, dream.PutAsset{Asset: dream.Asset{Key: "x"}}, nil); dream.ErrorKind(err) != dream.KindInvalid {
		t.Fatalf("empty asset: %v", err)
	}
}
