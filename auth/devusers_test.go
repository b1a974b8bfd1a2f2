package auth

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTestDevUsers(t testing.TB, dir string) *devUsers {
	t.Helper()
	u, err := openDevUsers(filepath.Join(dir, devUsersFile), filepath.Join(dir, devUsersDocument), func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.journal.Close() })
	return u
}

// TestDevUsers_NewUsersAppend: creating users appends to the journal and
// never rewrites it, however many there are.
func TestDevUsers_NewUsersAppend(t *testing.T) {
	dir := t.TempDir()
	u := openTestDevUsers(t, dir)
	before, err := os.Stat(u.path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if _, err := u.user("pk_test_1", fmt.Sprintf("user%d@example.com", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	after, err := os.Stat(u.path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || u.lines != 3000 {
		t.Fatalf("after 3000 new users the journal was rewritten (same file %v) and holds %d lines, want the same file with 3000",
			os.SameFile(before, after), u.lines)
	}
}

// TestDevUsers_Journal: what the journal says survives a restart, a
// change cut short by a crash is dropped, and a journal of many changes to
// few users is compacted.
func TestDevUsers_Journal(t *testing.T) {
	dir := t.TempDir()
	u := openTestDevUsers(t, dir)
	ann, _ := u.user("pk_test_1", "ann@example.com", "")
	bob, _ := u.user("pk_test_1", "bob@example.com", "pro")
	gone, _ := u.user("pk_test_2", "ann@example.com", "")
	if err := u.change(ann.ID, func(d *devUser) bool { d.Plan = "team"; return true }); err != nil {
		t.Fatal(err)
	}
	if err := u.change(gone.ID, func(*devUser) bool { return false }); err != nil {
		t.Fatal(err)
	}
	u.journal.Close()
	// A crash in the middle of a line.
	f, err := os.OpenFile(u.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"id":"user_torn","publishableKey":"pk_te`)
	f.Close()

	again := openTestDevUsers(t, dir)
	if got, err := again.byIDOf(ann.ID); err != nil || got.Plan != "team" || got.Email != "ann@example.com" {
		t.Errorf("after a restart ann is %+v, %v; want her plan team", got, err)
	}
	if got, ok := again.byEmailOf("pk_test_1", "BOB@example.com"); !ok || got.ID != bob.ID || got.Plan != "pro" {
		t.Errorf("after a restart bob is %+v, %v; want %s on pro", got, ok, bob.ID)
	}
	if _, err := again.byIDOf(gone.ID); err != errNoDevUser {
		t.Errorf("after a restart the deleted user answers %v, want errNoDevUser", err)
	}
	if _, err := again.byIDOf("user_torn"); err != errNoDevUser || len(again.byID) != 2 || again.lines != 2 {
		t.Errorf("after a restart there are %d users in %d lines (torn user: %v), want ann and bob in 2 lines", len(again.byID), again.lines, err)
	}

	for i := range 3 * compactAfter {
		if err := again.change(bob.ID, func(d *devUser) bool { d.Plan = fmt.Sprint("plan", i); return true }); err != nil {
			t.Fatal(err)
		}
	}
	if again.lines > compactAfter+1 {
		t.Errorf("after %d changes to one user the journal holds %d lines, want it compacted to at most %d", 3*compactAfter, again.lines, compactAfter+1)
	}
	data, _ := os.ReadFile(again.path)
	if n := strings.Count(string(data), "\n"); n != again.lines {
		t.Errorf("the journal file has %d lines, the users %d, want the same", n, again.lines)
	}
}

// TestDevUsers_ImportsTheDocument: the users file of earlier versions, one
// document rewritten on every change, becomes the journal.
func TestDevUsers_ImportsTheDocument(t *testing.T) {
	dir := t.TempDir()
	document := `{"users": [{"id": "user_1", "publishableKey": "pk_test_1", "email": "ann@example.com", "plan": "pro", "createdAt": "2025-01-01T00:00:00Z"}]}`
	if err := os.WriteFile(filepath.Join(dir, devUsersDocument), []byte(document), 0o600); err != nil {
		t.Fatal(err)
	}
	u := openTestDevUsers(t, dir)
	if got, ok := u.byEmailOf("pk_test_1", "ann@example.com"); !ok || got.ID != "user_1" || got.Plan != "pro" {
		t.Fatalf("after the import ann is %+v, %v; want user_1 on pro", got, ok)
	}
	if _, err := os.Stat(filepath.Join(dir, devUsersDocument)); !os.IsNotExist(err) {
		t.Fatalf("the document is still there (%v), want it removed once imported", err)
	}
}

// BenchmarkDevUsers_Create creates users in a journal that holds 0 or
// 100,000 already: the cost of one does not grow with them.
func BenchmarkDevUsers_Create(b *testing.B) {
	for _, existing := range []int{0, 100_000} {
		b.Run(fmt.Sprint("existing=", existing), func(b *testing.B) {
			u := openTestDevUsers(b, b.TempDir())
			for i := range existing {
				u.user("pk_test_1", fmt.Sprintf("seed%d@example.com", i), "")
			}
			for i := 0; b.Loop(); i++ {
				if _, err := u.user("pk_test_1", fmt.Sprintf("new%d@example.com", i), ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
