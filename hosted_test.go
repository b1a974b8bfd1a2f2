package dream_test

import (
	"strings"
	"testing"

	"github.com/dream-api/dream"
)

func TestEnvironment_CheckRedirect(t *testing.T) {
	project := dream.Project{AllowedOrigins: []string{"https://app.example.com", "http://shop.example.com:8080"}}
	test := &dream.Environment{Mode: dream.ModeTest, Project: project}
	live := &dream.Environment{Mode: dream.ModeLive, Project: project}
	for _, c := range []struct {
		redirect   string
		test, live bool
	}{
		{"https://app.example.com/welcome?x=1#top", true, true},
		{"https://APP.example.com/", true, true},
		{"http://shop.example.com:8080/cart", true, true},
		{"http://localhost:3000/", true, false},
		{"http://127.0.0.1:5173/callback", true, false},
		{"http://localhost/", true, false},
		{"https://localhost:3000/", false, false},
		{"http://app.example.com/", false, false},
		{"https://app.example.com:444/", false, false},
		{"http://shop.example.com/", false, false},
		{"https://evil.example/", false, false},
		{"//evil.example", false, false},
		{"/relative/path", false, false},
		{"javascript:alert(1)", false, false},
		{"JavaScript:alert(document.cookie)//https://app.example.com", false, false},
		{"data:text/html,<script>alert(1)</script>", false, false},
		{"\"><script>alert(1)</script>", false, false},
		{"http://localhost.evil.example/", false, false},
		{"http://127.0.0.1.evil.example/", false, false},
		{"https://app.example.com.evil.example/", false, false},
		{"https://app.example.com@evil.example/", false, false},
		{"https://user:pw@app.example.com/", false, false},
		{"https://аpp.example.com/", false, false}, // Cyrillic а
		{"https://app.example.com\\@evil.example/", false, false},
		{"http://[::1]:3000/", false, false},
		{"https://app.example.com/" + strings.Repeat("a", dream.MaxURL), false, false},
		{"", false, false},
	} {
		for _, env := range []*dream.Environment{test, live} {
			want := map[dream.Mode]bool{dream.ModeTest: c.test, dream.ModeLive: c.live}[env.Mode]
			u, err := env.CheckRedirect(c.redirect)
			if (err == nil) != want {
				t.Errorf("%s key, redirect %q: allowed %v (%v), want %v", env.Mode, dream.Quote(c.redirect), err == nil, err, want)
			}
			if err != nil && dream.ErrorKind(err) != dream.KindInvalid {
				t.Errorf("redirect %q refused as %v, want invalid", dream.Quote(c.redirect), err)
			}
			if err == nil && u == nil {
				t.Errorf("redirect %q allowed without its URL", c.redirect)
			}
		}
	}
}

func TestWithToken(t *testing.T) {
	u, err := (&dream.Environment{Mode: dream.ModeTest}).CheckRedirect("http://localhost:3000/app?tab=billing&__clerk_jwt=old#section")
	if err != nil {
		t.Fatal(err)
	}
	got := dream.WithToken(u, "tok.en")
	if got != "http://localhost:3000/app?__clerk_jwt=tok.en&tab=billing#section" {
		t.Errorf("WithToken gave %s, want the query kept, the old token replaced and the fragment kept", got)
	}
}
