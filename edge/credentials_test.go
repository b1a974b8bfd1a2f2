package edge

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store/storetest"
)

// TestSecretOnlyRoutes checks the publishable-key allow-list: a route for
// the developer's backend refuses a publishable key before looking at it,
// so a front end learns the route is backend-only whatever key it holds.
func TestSecretOnlyRoutes(t *testing.T) {
	db := storetest.Open(t)
	p := primary.New(db, time.Now, nil)
	proj := storetest.CreateProject(t, db, p, storetest.Platform(t, p), dream.ProjectSaaS, nil)
	s, err := Open(context.Background(), Options{DB: db, Writer: p, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.handle(http.MethodGet, "/api/backend", dream.AccessSecret, func(w http.ResponseWriter, r *http.Request, req *request) error {
		writeJSON(w, http.StatusOK, map[string]string{"project": req.key.Project.ID})
		return nil
	})
	for _, tt := range []struct {
		name   string
		header []string
		status int
		body   string
	}{
		{"SecretKey", []string{"Authorization", "Bearer " + proj.Test.SecretKey}, 200, `{"project":"` + proj.ID + `"}`},
		{"PublishableKey", []string{"X-Publishable-Key", proj.Test.PublishableKey}, 403,
			`{"error":"Forbidden","message":"This endpoint requires a secret key (backend only)"}`},
		{"UnknownPublishableKey", []string{"X-Publishable-Key", "pk_test_whatever"}, 403,
			`{"error":"Forbidden","message":"This endpoint requires a secret key (backend only)"}`},
		{"Nothing", nil, 401, `{"error":"Missing authentication","message":"Provide Authorization: Bearer {secret_key} or X-Publishable-Key header"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/api/backend", nil)
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tt.status || rec.Body.String() != tt.body {
				t.Fatalf("a backend-only route with %s answered %d %s, want %d %s",
					tt.name, rec.Code, rec.Body.String(), tt.status, tt.body)
			}
		})
	}
}
