package store_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

// TestCustomersPage pages through an environment's customers both ways by
// cursor and searches them, against the list the test made: every customer
// once, in order, with the kept total following registrations and
// deletions.
func TestCustomersPage(t *testing.T) {
	db, p := fixture(t)
	env := p.Test.EnvironmentID
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var want []string // newest first
	tx := begin(t, db)
	for i := range 23 {
		// Pairs share a creation time: the id orders them.
		id := fmt.Sprintf("u%02d", i)
		if err := tx.RegisterEndUser(ctx, env, id, fmt.Sprintf("%s@example.com", []string{"ada", "bob", "cy"}[i%3]+id), t0.Add(time.Duration(i/2)*time.Second)); err != nil {
			t.Fatal(err)
		}
		want = append([]string{id}, want...)
	}
	// Registering a known user again counts nobody twice.
	if err := tx.RegisterEndUser(ctx, env, "u00", "ada-again@example.com", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	ids := func(page *dream.CustomersPage) []string {
		var out []string
		for _, c := range page.Customers {
			out = append(out, c.UserID)
		}
		return out
	}
	read := func(q dream.CustomerQuery) *dream.CustomersPage {
		t.Helper()
		q.Limit = 5
		page, err := db.CustomersPage(ctx, env, q)
		if err != nil {
			t.Fatal(err)
		}
		return page
	}

	// Forward by cursor: every customer once, newest first.
	var got []string
	page := read(dream.CustomerQuery{})
	for {
		if page.Total != 23 {
			t.Fatalf("the list's total is %d, want 23", page.Total)
		}
		got = append(got, ids(page)...)
		if (len(got) > 5) != page.Previous {
			t.Fatalf("after %d customers the page says previous=%v", len(got), page.Previous)
		}
		if !page.Next {
			break
		}
		page = read(dream.CustomerQuery{After: dream.CursorOf(page.Customers[len(page.Customers)-1])})
	}
	if !slices.Equal(got, wantNewestFirst(want)) {
		t.Fatalf("paging forward read %v, want %v", got, wantNewestFirst(want))
	}
	// Back from the last page.
	var back []string
	for page.Previous {
		page = read(dream.CustomerQuery{Before: dream.CursorOf(page.Customers[0])})
		back = append(ids(page), back...)
	}
	if n := len(got) - len(back); !slices.Equal(back, got[:len(back)]) || n < 1 || n > 5 {
		t.Fatalf("paging back read %v, want the pages before the last of %v", back, got)
	}

	// A search: emails by prefix, in email order, or the id itself.
	page = read(dream.CustomerQuery{Search: "BOB"})
	if page.Total != 8 || page.AtLeast || !page.Next || page.Previous || !slices.Equal(ids(page), []string{"u01", "u04", "u07", "u10", "u13"}) {
		t.Fatalf("searching BOB found %v of %d (next %v), want the first 5 of 8 bob emails in order", ids(page), page.Total, page.Next)
	}
	page = read(dream.CustomerQuery{Search: "BOB", Offset: 5})
	if page.Next || !page.Previous || !slices.Equal(ids(page), []string{"u16", "u19", "u22"}) {
		t.Fatalf("the second page of BOB is %v (next %v)", ids(page), page.Next)
	}
	if page = read(dream.CustomerQuery{Search: "u05"}); !slices.Equal(ids(page), []string{"u05"}) || page.Total != 1 {
		t.Fatalf("searching an id found %v of %d", ids(page), page.Total)
	}
	if page = read(dream.CustomerQuery{Search: "%"}); page.Total != 0 {
		t.Fatalf("searching %% found %d, want it taken literally", page.Total)
	}

	// Deleting a customer takes them off the total.
	tx = begin(t, db)
	if _, err := tx.DeleteCustomer(ctx, dream.DeleteCustomer{EnvironmentID: env, UserID: "u03"}, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if page = read(dream.CustomerQuery{}); page.Total != 22 {
		t.Fatalf("after a deletion the total is %d, want 22", page.Total)
	}

	// A search counts its matches up to a bound.
	tx = begin(t, db)
	for i := range dream.MaxCountedMatches + 1 {
		if err := tx.RegisterEndUser(ctx, env, fmt.Sprintf("z%d", i), fmt.Sprintf("zed%d@example.com", i), t0.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if page = read(dream.CustomerQuery{Search: "zed"}); page.Total != dream.MaxCountedMatches || !page.AtLeast || !page.Next {
		t.Fatalf("searching 1,001 matches counted %d (at least %v), want %d and more", page.Total, page.AtLeast, dream.MaxCountedMatches)
	}
	if page = read(dream.CustomerQuery{}); page.Total != 22+dream.MaxCountedMatches+1 {
		t.Fatalf("the total is %d, want %d", page.Total, 22+dream.MaxCountedMatches+1)
	}
}

// wantNewestFirst is ids registered in order, pairs at one time, as the
// list orders them: newest time first, and within a time the higher id.
func wantNewestFirst(registered []string) []string {
	out := slices.Clone(registered)
	slices.SortFunc(out, func(a, b string) int {
		var i, j int
		fmt.Sscanf(a, "u%d", &i)
		fmt.Sscanf(b, "u%d", &j)
		if i/2 != j/2 {
			return j/2 - i/2
		}
		return j - i
	})
	return out
}
