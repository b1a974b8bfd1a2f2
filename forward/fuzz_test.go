package forward_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/forward"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store/storetest"
)

// FuzzHandler sends the primary's internal write endpoint arbitrary
// requests: any write name, time and signature headers and body, unsigned,
// signed now, or signed at the time the request gives. It holds the
// endpoint to its protocol: every answer is JSON with the status the
// protocol gives; a request without a fresh signature is refused and
// writes nothing; a signed body that does not decode is refused as
// invalid; and a write that fails leaves the database as it was.
func FuzzHandler(f *testing.F) {
	const secret = "cluster-secret"
	db := storetest.Open(f)
	p := primary.New(db, time.Now, nil)
	f.Cleanup(func() { p.Close() })
	saas := storetest.CreateProject(f, db, p, storetest.Platform(f, p), dream.ProjectSaaS, storetest.SaaSTiers())
	handler := forward.NewHandler(p, &fakeCluster{primary: true}, secret, time.Now, quiet)
	dumper := storetest.NewDumper(f, db)

	env := saas.Test.EnvironmentID
	for _, seed := range []struct {
		how        uint8
		name, at   string
		signature  string
		write      any
		rawPayload string
	}{
		{1, "TrackUsage", "", "", dream.TrackUsage{EnvironmentID: env, UserID: "user_1", TokenPlan: "pro"}, ""},
		{1, "CreateCustomer", "", "", dream.CreateCustomer{EnvironmentID: env, UserID: "user_2", Email: "b@example.com", Plan: "free"}, ""},
		{1, "AssignPlan", "", "", dream.AssignPlan{EnvironmentID: env, UserID: "user_1", Plan: "enterprise"}, ""},
		{1, "PutTier", "", "", dream.PutTier{EnvironmentID: env, Tier: dream.Tier{Slug: "x", DisplayName: "X", Limit: -1}}, ""},
		{1, "DeleteCustomer", "", "", dream.DeleteCustomer{EnvironmentID: env + 1000, UserID: "user_1"}, ""},
		{1, "TrackUsage", "", "", nil, `{"environmentId":"1","userId":[]}`},
		{1, "NoSuchWrite", "", "", nil, `{}`},
		{1, "ApplyIncrements", "", "", nil, `{"node":"n","increments":[{"seq":-1}]}`},
		{0, "TrackUsage", "0", "00", dream.TrackUsage{EnvironmentID: env, UserID: "user_1"}, ""},
		{2, "TrackUsage", "99999999999999999999", "", dream.TrackUsage{EnvironmentID: env, UserID: "user_1"}, ""},
		{2, "TrackUsage", "-9223372036854775808", "", dream.TrackUsage{EnvironmentID: env, UserID: "user_1"}, ""},
		{2, "", "+1", "", nil, `null`},
	} {
		body := []byte(seed.rawPayload)
		if seed.write != nil {
			body, _ = json.Marshal(seed.write)
		}
		f.Add(seed.how, seed.name, seed.at, seed.signature, body)
	}
	f.Fuzz(func(t *testing.T, how uint8, name, at, signature string, body []byte) {
		path := forward.WritesPath + name
		if _, err := url.ParseRequestURI(path); err != nil || strings.ContainsAny(name, " \t\r\n?#") {
			return // not a request line net/http would deliver
		}
		signed := how%3 != 0
		if how%3 == 1 {
			at = strconv.FormatInt(time.Now().UnixMilli(), 10)
		}
		req := httptest.NewRequest(http.MethodPost, "http://primary"+path, strings.NewReader(string(body)))
		if signed {
			// Signed as the endpoint reads the path: unescaped.
			signature = forward.Sign([]byte(secret), http.MethodPost, req.URL.Path, at, body)
		}
		req.Header.Set("X-Dream-Time", at)
		req.Header.Set("X-Dream-Signature", signature)
		before := dumper.Dump(t)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)

		var answer struct {
			Error string     `json:"error"`
			Kind  dream.Kind `json:"kind"`
		}
		if rec.Header().Get("Content-Type") != "application/json" || json.Unmarshal(rec.Body.Bytes(), &answer) != nil {
			t.Fatalf("the write %q answered %d with %q, want a JSON answer", name, rec.Code, rec.Body.String())
		}
		// The endpoint allows 30 s of age either way; the slack is for
		// the time the request took.
		ms, err := strconv.ParseInt(at, 10, 64)
		age := time.Since(time.UnixMilli(ms)).Abs()
		switch {
		case !signed || err != nil || age > 35*time.Second:
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("the write %q with time %q and signature %q answered %d %s, want 401: it holds no fresh signature",
					name, at, signature, rec.Code, rec.Body.String())
			}
		case age < 25*time.Second:
			if rec.Code != http.StatusOK && rec.Code != http.StatusNotFound {
				t.Fatalf("the write %q signed at %q answered %d %s, want 200, or 404 for a name no write has", name, at, rec.Code, rec.Body.String())
			}
		}
		if answer.Error == "" {
			return
		}
		if answer.Error == "invalid_write" && answer.Kind != dream.KindInvalid {
			t.Fatalf("the signed write %q that does not decode was refused as kind %d, want invalid: %s", name, answer.Kind, rec.Body.String())
		}
		if after := dumper.Dump(t); after != before {
			t.Fatalf("the write %q was refused with %s, yet changed the database:\nbefore\n%s\nafter\n%s", name, rec.Body.String(), before, after)
		}
	})
}
