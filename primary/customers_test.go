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
		t.Fatalf("a second end user with the same email in different case: error %v, want a conflict", err)
	}
	if err := f.p.Write(ctx, dream.CreateCustomer{EnvironmentID: f.shop.Test.EnvironmentID, UserID: "user_2", Email: "ada@example.com"}, nil); err != nil {
		t.Fatalf("the same email in another project: error %v, want the customer created", err)
	}
	if u := f.usage(env, "user_1"); u.Plan != "pro" {
		t.Fatalf("a new customer created on pro has usage %+v, want plan pro", u)
	}

	if err := f.p.Write(ctx, dream.AssignPlan{EnvironmentID: env, UserID: "user_1", Plan: "enterprise"}, nil); err != nil {
		t.Fatal(err)
	}
	if u := f.usage(env, "user_1"); u.Plan != "enterprise" {
		t.Fatalf("after assigning enterprise the end user is on plan %q, want enterprise", u.Plan)
	}

	// A subscription, then the customer's deletion: later events about the
	// subscription must not bring the customer back.
	f.apply(f.subscription(100, rankCreated, "sub_1", dream.StatusActive, "price_pro", false, pk))
	deleted, err := dream.Apply(ctx, f.p, dream.DeleteCustomer{EnvironmentID: env, UserID: "user_1"})
	if err != nil || !deleted {
		t.Fatalf("deleting the customer: deleted %v, error %v; want deleted, no error", deleted, err)
	}
	out := f.apply(f.subscription(200, rankUpdated, "sub_1", dream.StatusActive, "price_pro", true, pk))
	if user, _ := f.db.EndUser(ctx, env, "user_1"); user != nil {
		t.Fatalf("a subscription event after the deletion brought the customer back: %+v (outcome %+v), want none", user, out)
	}
	if again, err := dream.Apply(ctx, f.p, dream.DeleteCustomer{EnvironmentID: env, UserID: "user_1"}); err != nil || again {
		t.Fatalf("deleting the customer a second time: deleted %v, error %v; want nothing deleted, no error", again, err)
	}
	if user, _ := f.db.EndUser(ctx, f.shop.Test.EnvironmentID, "user_2"); user == nil {
		t.Fatal("deleting a customer also deleted the end user of the same id in another project, want it kept")
	}
}

func TestPrimary_PutAsset(t *testing.T) {
	f := newPayments(t)
	asset := dream.Asset{Key: f.saas.PlatformID + "/1-a.png", PlatformID: f.saas.PlatformID, ContentType: "image/png", Data: []byte{1, 2}, CreatedAt: time.Now()}
	if err := f.p.Write(ctx, dream.PutAsset{Asset: asset}, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Write(ctx, dream.PutAsset{Asset: asset}, nil); dream.ErrorKind(err) != dream.KindConflict {
		t.Fatalf("storing an asset under a key already taken: error %v, want a conflict", err)
	}
	got, err := f.db.Asset(ctx, asset.Key)
	if err != nil || got == nil || string(got.Data) != string(asset.Data) || got.ContentType != "image/png" {
		t.Fatalf("reading the stored asset back: %+v, error %v; want the image/png with the same bytes", got, err)
	}
	if missing, err := f.db.Asset(ctx, "nope"); missing != nil || err != nil {
		t.Fatalf("reading an unknown asset key: %+v, error %v; want nothing, no error", missing, err)
	}
	if err := f.p.Write(ctx, dream.PutAsset{Asset: dream.Asset{Key: "x"}}, nil); dream.ErrorKind(err) != dream.KindInvalid {
		t.Fatalf("storing an asset with only a key: error %v, want it refused as invalid", err)
	}
}
