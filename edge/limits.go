package edge

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/dream-api/dream"
)

// Bounds of request bodies, which routes declare as their MaxBody.
const (
	// maxJSONBody bounds the JSON bodies of the API's routes.
	maxJSONBody = 1 << 20
	// maxFormBody bounds the forms of the hosted pages and of dev mode's
	// payment pages, which hold a few short fields.
	maxFormBody = 64 << 10
	// maxAssetBody bounds an upload request: the image base64-encoded in
	// JSON, or in a multipart form, with room for the rest of the request.
	maxAssetBody = dream.MaxAssetSize*4/3 + 64<<10
)

// errBodyTooLarge refuses a body larger than a route's MaxBody.
func errBodyTooLarge(limit int64) error {
	return dream.Errorf(dream.KindTooLarge, "Request too large", "The request body is larger than %d bytes", limit)
}

// admit applies what a route's declaration bounds before its credential is
// read: the size of its body and, on a route that acts without a
// credential, the client address's rate.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, route dream.Route) error {
	if r.ContentLength > route.MaxBody {
		return errBodyTooLarge(route.MaxBody)
	}
	// A request without a body, as most reads are, has nothing to bound:
	// the warm path allocates no reader for it.
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, route.MaxBody)
	}
	if route.Access == dream.AccessNone && !safeMethod(r.Method) {
		return s.take(w, "address", "address\x00"+dream.ClientAddress(r), s.addressRateLimit)
	}
	return nil
}

// limitSecretKey takes one request from the bucket of the secret key's
// environment.
func (s *Server) limitSecretKey(w http.ResponseWriter, req *request) error {
	return s.take(w, "secret_key", "secret key\x00"+strconv.FormatInt(req.key.ID, 10), s.secretKeyRateLimit)
}

// limitEndUser takes one request from the end user's bucket in the
// project: the project's own limit, else the server's.
func (s *Server) limitEndUser(w http.ResponseWriter, project dream.Project, userID string) error {
	perMinute := s.rateLimitPerMinute
	if project.RateLimitPerMinute != nil {
		perMinute = *project.RateLimitPerMinute
	}
	return s.take(w, "end_user", project.ID+"\x00"+userID, perMinute)
}

// take takes one request from key's bucket of perMinute under the limit
// named limit, reports the bucket in RateLimit-* headers and refuses the
// request when it is empty. perMinute 0 is no limit.
func (s *Server) take(w http.ResponseWriter, limit, key string, perMinute int) error {
	if perMinute <= 0 {
		return nil
	}
	d := s.limiter.Allow(key, perMinute, s.now())
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset)))
	if d.Allowed {
		return nil
	}
	s.metrics.RateLimited(limit)
	return dream.RateLimitExceeded(perMinute, max(1, ceilSeconds(d.RetryAfter)))
}

// ceilSeconds rounds d up to whole seconds, the unit of rate-limit headers.
func ceilSeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}
