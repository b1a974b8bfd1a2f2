package dream_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

// Fuzz targets of the domain's parsers of what a request carries. Each
// holds its parser to a property besides not panicking: what it accepts
// means what it says, and what it refuses is a refusal of the request's
// own fault, named after the field.

// FuzzParseCustomerCursor holds the page cursors of the dashboard's
// customers list to their form: a cursor written by String reads back as
// itself, and anything else is read as the cursor it names or refused as
// invalid, naming the request field.
func FuzzParseCustomerCursor(f *testing.F) {
	for _, seed := range []struct {
		s    string
		ms   int64
		user string
	}{
		{"1736931600000.user_2abc", 1736931600000, "user_2abc"},
		{"", 0, "user.with.dots"},
		{"-1.x", -62135596800000, "x"},
		{"9223372036854775807.u", 9223372036854775807, "u"},
		{"1.", -9223372036854775808, strings.Repeat("u", dream.MaxID)},
		{".user", 0, "\x00"},
		{"+12.user", 1, "é"},
		{"1e3.user", 0, ""},
		{"12", 12, strings.Repeat("u", dream.MaxID+1)},
	} {
		f.Add(seed.s, seed.ms, seed.user)
	}
	f.Fuzz(func(t *testing.T, s string, ms int64, user string) {
		c, err := dream.ParseCustomerCursor("after", s)
		switch {
		case err != nil:
			if e, _ := dream.Shown(err); e.Kind != dream.KindInvalid || e.Param() != "after" {
				t.Fatalf("the cursor %q was refused with %v (param %q), want a refusal of kind invalid naming after", s, err, e.Param())
			}
		case s == "":
			if c != nil {
				t.Fatalf("no cursor read as %+v, want none", c)
			}
		default:
			// What was accepted reads the same when written again.
			again, err := dream.ParseCustomerCursor("after", c.String())
			if err != nil || !again.CreatedAt.Equal(c.CreatedAt) || again.UserID != c.UserID {
				t.Fatalf("the cursor %q read as %+v, written as %q and read back as %+v (error %v), want the same cursor",
					s, c, c.String(), again, err)
			}
		}

		// A cursor of any customer's place reads back as that place.
		if user == "" || len(user) > dream.MaxID {
			return
		}
		want := dream.CursorOf(dream.Customer{EndUser: dream.EndUser{UserID: user, CreatedAt: time.UnixMilli(ms)}})
		got, err := dream.ParseCustomerCursor("before", want.String())
		if err != nil || !got.CreatedAt.Equal(want.CreatedAt) || got.UserID != want.UserID {
			t.Fatalf("the cursor of %+v is %q, which reads back as %+v (error %v), want the same place", want, want.String(), got, err)
		}
	})
}

// FuzzValidOrigin holds the origin check, which decides what CORS echoes
// and what a project may allow, to origins safe to echo in a header and to
// compare: scheme and host, nothing after them, no character a header or a
// comparison could trip on.
func FuzzValidOrigin(f *testing.F) {
	for _, seed := range []string{"https://app.example.com", "http://localhost:3000", "http://[::1]:8080", "https://", "ftp://x",
		"https://a.example/path", "https://user@a.example", "https://a.example\r\nSet-Cookie: x", "HTTPS://A.EXAMPLE", "https://xn--bcher-kva.example",
		"http://a.example:80:90", "https://" + strings.Repeat("a", 300)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		if !dream.ValidOrigin(origin) {
			return
		}
		host, ok := strings.CutPrefix(origin, "https://")
		if !ok {
			host, ok = strings.CutPrefix(origin, "http://")
		}
		if !ok || host == "" || len(origin) > 300 || strings.ContainsAny(host, "/?#@\\ %\t\r\n\x00,;\"'<>") {
			t.Fatalf("the origin %q was accepted, want only scheme://host[:port] over http or https", origin)
		}
		for i := 0; i < len(host); i++ {
			if host[i] >= 0x80 || host[i] < 0x20 {
				t.Fatalf("the origin %q was accepted with the byte %#x, want ASCII", origin, host[i])
			}
		}
		// Where a URL parser reads it, it reads an origin: nothing but a
		// scheme and a host.
		if u, err := url.Parse(origin); err == nil && (u.Scheme+"://"+u.Host != origin || u.Path != "" || u.RawQuery != "" || u.User != nil) {
			t.Fatalf("the origin %q was accepted, and reads as the URL %#v, want a scheme and a host only", origin, u)
		}
	})
}

// FuzzCheckRedirect holds the hosted pages' redirect check to its rule: an
// accepted redirect is an absolute http or https URL, without user info,
// to an allowed origin or, for a test key, to localhost over http; the
// token added to it reads back from its query, its origin unchanged; and
// a refusal is the request's fault.
func FuzzCheckRedirect(f *testing.F) {
	for _, seed := range []struct {
		live     bool
		redirect string
	}{
		{false, "http://localhost:3000/after?x=1#top"},
		{true, "https://app.example.com/welcome"},
		{true, "https://APP.example.com"},
		{true, "http://localhost:3000/"},
		{false, "https://app.example.com.evil.example/"},
		{false, "https://app.example.com@evil.example/"},
		{false, "//evil.example"},
		{false, "javascript:alert(1)"},
		{false, "http://127.0.0.1:1/%zz"},
		{false, "http://localhost\\@evil.example/"},
		{true, "https://app.example.com/?" + dream.TokenParam + "=old&" + dream.TokenParam + "=older"},
		{false, "http:/localhost/"},
	} {
		f.Add(seed.live, seed.redirect, "eyJ.a.b")
	}
	const allowed = "https://app.example.com"
	f.Fuzz(func(t *testing.T, live bool, redirect, token string) {
		env := &dream.Environment{Mode: dream.ModeTest, Project: dream.Project{AllowedOrigins: []string{allowed}}}
		if live {
			env.Mode = dream.ModeLive
		}
		u, err := env.CheckRedirect(redirect)
		if err != nil {
			if e, _ := dream.Shown(err); e.Kind != dream.KindInvalid || e.Code != "redirect_not_allowed" {
				t.Fatalf("the redirect %q was refused with %v, want redirect_not_allowed of kind invalid", redirect, err)
			}
			return
		}
		origin := u.Scheme + "://" + u.Host
		local := env.Mode == dream.ModeTest && u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1")
		if u.User != nil || !(strings.EqualFold(origin, allowed) || local) {
			t.Fatalf("the redirect %q was accepted in %s mode as the origin %q, want only %s or a test localhost", redirect, env.Mode, origin, allowed)
		}
		back, err := url.Parse(dream.WithToken(u, token))
		if err != nil || back.Scheme+"://"+back.Host != origin || back.Query().Get(dream.TokenParam) != token || back.User != nil {
			t.Fatalf("the redirect %q with the token %q became %q (error %v), want the same origin and the token in its query",
				redirect, token, dream.WithToken(u, token), err)
		}
	})
}

// FuzzLimitJSON holds a tier's limit on the wire to its two forms: what
// is read writes back as the same limit, and what is refused is refused
// as invalid.
func FuzzLimitJSON(f *testing.F) {
	for _, seed := range []string{`1000`, `"unlimited"`, `null`, `-5`, `0`, `1e3`, `"1000"`, `9223372036854775808`, `"Unlimited"`, `1.5`, `[]`, `-9223372036854775808`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var l dream.Limit
		if err := l.UnmarshalJSON(data); err != nil {
			if dream.ErrorKind(err) != dream.KindInvalid {
				t.Fatalf("the limit %q was refused with %v, want a refusal of kind invalid", data, err)
			}
			return
		}
		written, err := json.Marshal(l)
		if err != nil {
			t.Fatalf("the limit %q read as %d does not write: %v", data, l, err)
		}
		var back dream.Limit
		if err := json.Unmarshal(written, &back); err != nil || back != l || (l < 0 && l != dream.Unlimited) {
			t.Fatalf("the limit %q read as %d, written as %s and read back as %d (error %v), want the same limit", data, l, written, back, err)
		}
	})
}
