package auth

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
)

const (
	// maxKeyAge is how long fetched keys are used before they are fetched
	// again, so that a key Clerk has revoked stops verifying tokens even
	// when no token with a new kid ever shows up.
	maxKeyAge = time.Hour

	// minFetchInterval spaces out fetches of one instance's keys. Anyone can
	// send a token with a made-up kid; without this, each such request would
	// cost a call to Clerk's API and could exhaust its rate limit.
	minFetchInterval = 30 * time.Second

	// fetchTimeout bounds a fetch even when the HTTP client has no timeout,
	// because a fetch can hold up every request with an unknown kid.
	fetchTimeout = 10 * time.Second
)

// keySet caches the JSON Web Key Set of one Clerk instance so that verifying
// a token costs no HTTP call. A kid not in the cache means either that the
// instance's keys changed, which a refetch learns, or a forged token, which
// is why refetches are spaced by minFetchInterval.
type keySet struct {
	client *jwks.Client
	apiURL string // for logs
	now    func() time.Time
	logger *slog.Logger

	mu sync.Mutex
	// keys are the instance's keys by kid, replaced whole by each fetch, so
	// memory is bounded by the size of one JWKS. nil until a fetch succeeds.
	keys      map[string]*clerk.JSONWebKey
	fetchedAt time.Time // of keys
	// attemptedAt is when the last fetch started, successful or not; a
	// failing Clerk is not retried more often than a working one.
	attemptedAt time.Time
	// fetching is closed when the fetch in flight ends; nil when there is
	// none. Callers with an unknown kid wait for it instead of fetching too.
	fetching chan struct{}
}

// newKeySet returns the empty key cache of instance; nothing is fetched
// until a token needs a key.
func newKeySet(instance ClerkInstance, now func() time.Time, httpClient *http.Client, logger *slog.Logger) *keySet {
	apiURL := instance.APIURL
	if apiURL == "" {
		apiURL = clerk.APIURL
	}
	return &keySet{client: &jwks.Client{Backend: instance.backend(httpClient)}, apiURL: apiURL, now: now, logger: logger}
}

// key is the keyLookup of the instance's tokens.
func (s *keySet) key(ctx context.Context, kid string) (*clerk.JSONWebKey, error) {
	s.mu.Lock()
	key, known := s.keys[kid]
	now := s.now()
	stale := now.Sub(s.fetchedAt) >= maxKeyAge
	done := s.fetching
	fetch := done == nil && (!known || stale) && now.Sub(s.attemptedAt) >= minFetchInterval
	if fetch {
		done = make(chan struct{})
		s.fetching = done
		s.attemptedAt = now
	}
	s.mu.Unlock()

	switch {
	case fetch:
		s.fetch(ctx, done)
	case known:
		// Fresh, or stale while a refresh is running or may not start
		// yet: the instance still published the key at the last fetch,
		// which beats refusing every token until the next one.
		return key, nil
	case done != nil:
		select {
		case <-done:
		case <-ctx.Done():
			return nil, errIdentityUnavailable
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		return nil, errIdentityUnavailable
	}
	key, known = s.keys[kid]
	if !known {
		return nil, errUnknownKeyID
	}
	return key, nil
}

// fetch fetches the instance's keys and closes done. On failure the keys
// already cached stay in use.
func (s *keySet) fetch(ctx context.Context, done chan struct{}) {
	// The fetch serves every caller waiting on done, so the caller that
	// started it giving up must not fail it for the others.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	set, err := s.client.Get(ctx, &jwks.GetParams{})

	s.mu.Lock()
	defer s.mu.Unlock()
	// Deferred after the Unlock so it runs first: waiters wake to the keys
	// this fetch leaves in place.
	defer close(done)
	s.fetching = nil
	if err != nil {
		s.logger.ErrorContext(ctx, "fetching Clerk JWKS", "api_url", s.apiURL, "error", err.Error())
		return
	}
	keys := make(map[string]*clerk.JSONWebKey, len(set.Keys))
	for _, key := range set.Keys {
		if key != nil {
			keys[key.KeyID] = key
		}
	}
	s.keys = keys
	s.fetchedAt = s.now()
}
