package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store/storetest"
)

// TestImagesGoWithTheirProducts holds an uploaded image to the rule that
// it is deleted with the last product of its platform that shows it, and
// never with another platform's product that merely links to it.
func TestImagesGoWithTheirProducts(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	w := primary.New(db, time.Now, nil)
	mine, theirs := storetest.Platform(t, w), storetest.Platform(t, w)
	asset := func(platformID, key string) string {
		if err := w.Write(ctx, dream.PutAsset{Asset: dream.Asset{Key: key, PlatformID: platformID, ContentType: "image/png",
			Data: []byte{1}, CreatedAt: time.Now()}}, nil); err != nil {
			t.Fatal(err)
		}
		return "/api/assets/" + key
	}
	shared, own, foreign := asset(mine, mine+"/1-shared.png"), asset(mine, mine+"/2-own.png"), asset(theirs, theirs+"/3-theirs.png")
	product := func(slug, image string) dream.Tier {
		return dream.Tier{Slug: slug, DisplayName: slug, BillingMode: dream.BillingOneOff, Currency: "usd", Limit: dream.Unlimited, ImageURL: image}
	}
	shop := storetest.CreateProject(t, db, w, mine, dream.ProjectStore, []dream.Tier{
		product("a", shared), product("b", "https://cdn.example.com"+shared), product("c", own), product("d", foreign),
	})
	// The project has the catalogue in both environments: an image goes
	// when no product of either shows it.
	var envs []int64
	for _, pk := range []string{shop.Test.PublishableKey, shop.Live.PublishableKey} {
		env, err := db.EnvironmentByPublishableKey(ctx, pk)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env.ID)
	}
	exists := func(image string) bool {
		a, err := db.Asset(ctx, image[len("/api/assets/"):])
		if err != nil {
			t.Fatal(err)
		}
		return a != nil
	}
	remove := func(slug string, envs ...int64) {
		for _, env := range envs {
			if err := w.Write(ctx, dream.DeleteTier{EnvironmentID: env, Slug: slug}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	remove("c", envs[0])
	if !exists(own) {
		t.Fatal("deleting the test product deleted the image its live copy still shows")
	}
	remove("c", envs[1])
	remove("a", envs...)
	remove("d", envs...)
	if exists(own) || !exists(shared) || !exists(foreign) {
		t.Fatalf("after deleting c, a and d: own %v, shared %v, foreign %v; want only the shared image (b shows it) and the other platform's kept",
			exists(own), exists(shared), exists(foreign))
	}
	if err := w.Write(ctx, dream.DeleteProject{ProjectID: shop.ID}, nil); err != nil {
		t.Fatal(err)
	}
	if exists(shared) || !exists(foreign) {
		t.Fatalf("after deleting the project: shared %v, foreign %v; want the shared image gone with its last product", exists(shared), exists(foreign))
	}
}
