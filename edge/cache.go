package edge

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/internal/lru"
	"github.com/dream-api/dream/metrics"
	"github.com/dream-api/dream/store"
)

// Cache sizes. Entries are small (an environment, a key record, a short
// tier list, a few claims); the bounds keep a node's memory flat however
// many projects and end users it serves.
const (
	cachedEnvironments = 10_000
	cachedSecretKeys   = 10_000
	cachedPlatforms    = 10_000
	cachedCatalogues   = 10_000
)

// TokenEntryBytes is what one verified end-user token costs in the token
// cache: its hash, the end user it names and the cache's bookkeeping, as
// TestTokenEntryBytes measures it.
const TokenEntryBytes = 200

// tokenKey is what the token cache keys a verified token by: the first
// half of the SHA-256 of the mode, the publishable key it was checked
// against and the token. Half is collision-free for any number of tokens a
// node will see, and a token can only find the end user it names itself.
type tokenKey [sha256.Size / 2]byte

// endUser is a verified end user as a request needs them, which the token
// cache keeps: a node keeps hundreds of thousands, so the entry holds what
// the API's end-user routes read and nothing else, and no pointer but its
// strings'.
type endUser struct {
	UserID, Email string
	// Plan is the plan the token claims, the last resort of plan
	// resolution.
	Plan string
	// expires is when the token expires, in Unix seconds.
	expires int64
}

// caches hold what every request needs and rarely changes: environments by
// publishable key, secret keys, platforms' subscriptions, catalogues and
// verified end-user tokens. Entries read from the database are dropped when
// the node's copy passes a write that changed them (the change log), not
// after a time: a revoked key stops working at every node within the
// replication lag, and an unchanged one never costs a query. Tokens are
// kept until they expire.
type caches struct {
	environments cache[string, *dream.Environment] // nil value: no such key
	secretKeys   cache[dream.SecretKeyHash, *dream.SecretKeyRecord]
	platforms    cache[string, dream.PlatformSubscription]
	catalogues   cache[int64, *catalogue]
	tokens       cache[tokenKey, endUser]

	// generation moves on every invalidation. A value read from the
	// database is cached only if no invalidation happened while it was
	// read; otherwise a change could land between the read and the insert
	// and the stale value would stay.
	generation atomic.Uint64
	// refresh serialises reading the change log.
	refresh sync.Mutex
}

// cache is one of the caches, bounded, with the counts of its lookups.
type cache[K comparable, V any] struct {
	*lru.Cache[K, V]
	lookups *metrics.Cache
}

// newCaches returns the caches of a node that keeps the tokens of endUsers
// end users, whose lookups m counts.
func newCaches(m *metrics.Metrics, endUsers int) *caches {
	return &caches{
		environments: newCache[string, *dream.Environment](m, "environments", cachedEnvironments),
		secretKeys:   newCache[dream.SecretKeyHash, *dream.SecretKeyRecord](m, "secret_keys", cachedSecretKeys),
		platforms:    newCache[string, dream.PlatformSubscription](m, "platforms", cachedPlatforms),
		catalogues:   newCache[int64, *catalogue](m, "catalogues", cachedCatalogues),
		tokens:       newCache[tokenKey, endUser](m, "tokens", endUsers),
	}
}

func newCache[K comparable, V any](m *metrics.Metrics, name string, size int) cache[K, V] {
	c, err := lru.New[K, V](size)
	if err != nil {
		panic(err) // only for a size below 1, a programming error
	}
	return cache[K, V]{Cache: c, lookups: m.Cache(name)}
}

// cached returns c's entry for key, or loads it and caches it unless an
// invalidation happened meanwhile.
func cached[K comparable, V any](cs *caches, c cache[K, V], key K, load func() (V, error)) (V, error) {
	if v, ok := c.Get(key); ok {
		c.lookups.Hit()
		return v, nil
	}
	c.lookups.Miss()
	generation := cs.generation.Load()
	v, err := load()
	if err == nil && cs.generation.Load() == generation {
		c.Add(key, v)
	}
	return v, err
}

// invalidate drops the entries the changes name.
func (cs *caches) invalidate(changes []store.Change) {
	cs.generation.Add(1)
	for _, c := range changes {
		switch c.Kind {
		// A change of keys may also create the key behind a cached "no such
		// key", so those entries go too. Secret keys are cached by hash but
		// dropped by environment, which is rare enough (a rotation) for a
		// scan.
		case store.ChangeEnvironment:
			cs.environments.Remove(c.Key)
			cs.secretKeys.RemoveIf(func(_ dream.SecretKeyHash, k *dream.SecretKeyRecord) bool {
				return k == nil || k.Environment.PublishableKey == c.Key
			})
		case store.ChangeSecretKeys:
			cs.secretKeys.RemoveIf(func(_ dream.SecretKeyHash, k *dream.SecretKeyRecord) bool {
				return k == nil || strconv.FormatInt(k.Environment.ID, 10) == c.Key
			})
		case store.ChangeTiers:
			if id, err := strconv.ParseInt(c.Key, 10, 64); err == nil {
				cs.catalogues.Remove(id)
			}
		case store.ChangePlatform:
			cs.platforms.Remove(c.Key)
		}
	}
}

// purge drops every entry read from the database.
func (cs *caches) purge() {
	cs.generation.Add(1)
	cs.environments.Purge()
	cs.secretKeys.Purge()
	cs.platforms.Purge()
	cs.catalogues.Purge()
}

// Refresh reads the change log entries the node's copy has received since
// the last refresh, drops the cache entries they name and brings the tally
// in step. The change watcher calls it whenever the database changes, and
// a request that wrote calls it to read its own write at once.
func (s *Server) Refresh(ctx context.Context) error {
	s.caches.refresh.Lock()
	defer s.caches.refresh.Unlock()
	return s.tally.Reconcile(ctx, func() ([]store.Change, error) {
		changes, err := s.db.ChangesSince(ctx, s.lastChange)
		if err != nil || len(changes) == 0 {
			return nil, err
		}
		s.lastChange = changes[len(changes)-1].ID
		s.caches.invalidate(changes)
		return changes, nil
	})
}

// forgetAll drops everything the node keeps that the database decides.
func (s *Server) forgetAll() {
	s.caches.purge()
	s.tally.ForgetAll()
}

// changePoll is how often the watcher looks whether the database changed.
const changePoll = 10 * time.Millisecond

// watch keeps the caches and the tally in step with the database until
// ctx is done. A failure to watch is logged and the watch starts over: a
// node must not stop serving because it could not read its change log for
// a moment, and what it knows is dropped whole so nothing stale outlives
// the gap.
func (s *Server) watch(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.db.WatchDataVersion(ctx, changePoll, func() {
			if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
				s.logger.Error("reading the change log", "error", err)
			}
		})
		if err == nil || ctx.Err() != nil {
			return
		}
		s.logger.Error("watching the database for changes", "error", err)
		s.forgetAll()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// environment is the environment of a publishable key, nil for a
// malformed or unknown one.
func (s *Server) environment(ctx context.Context, pk string) (*dream.Environment, error) {
	if _, err := dream.ParseKey(dream.PublishableKey, pk); err != nil {
		return nil, nil
	}
	return cached(s.caches, s.caches.environments, pk, func() (*dream.Environment, error) {
		return s.db.EnvironmentByPublishableKey(ctx, pk)
	})
}

// secretKey is the stored secret key with this hash, nil for none.
func (s *Server) secretKey(ctx context.Context, hash dream.SecretKeyHash) (*dream.SecretKeyRecord, error) {
	return cached(s.caches, s.caches.secretKeys, hash, func() (*dream.SecretKeyRecord, error) {
		return s.db.SecretKey(ctx, hash)
	})
}

// platformSubscription is the subscription state of a platform.
func (s *Server) platformSubscription(ctx context.Context, platformID string) (dream.PlatformSubscription, error) {
	return cached(s.caches, s.caches.platforms, platformID, func() (dream.PlatformSubscription, error) {
		p, err := s.db.Platform(ctx, platformID)
		if err != nil {
			return dream.PlatformSubscription{}, err
		}
		if p == nil {
			return dream.PlatformSubscription{}, errMissingPlatform
		}
		return p.Subscription, nil
	})
}

// errMissingPlatform is an environment whose platform is gone: the foreign
// keys make it impossible, so it is an internal error.
var errMissingPlatform = dream.Errorf(dream.KindInternal, "internal_error", "platform missing")

// catalogue is an environment's tiers with the bodies of GET /api/tiers and
// GET /api/products, encoded once when the catalogue is read: they are the
// most requested answers and change only with the catalogue.
type catalogue struct {
	tiers                  []dream.Tier
	tiersBody, productBody []byte
}

// catalogue is the catalogue of an environment.
func (s *Server) catalogue(ctx context.Context, envID int64) (*catalogue, error) {
	return cached(s.caches, s.caches.catalogues, envID, func() (*catalogue, error) {
		tiers, err := s.db.Tiers(ctx, envID)
		if err != nil {
			return nil, err
		}
		c := &catalogue{tiers: tiers}
		if c.tiersBody, err = json.Marshal(map[string][]tierJSON{"tiers": tierList(tiers)}); err != nil {
			return nil, err
		}
		if c.productBody, err = json.Marshal(map[string][]productJSON{"products": productList(tiers)}); err != nil {
			return nil, err
		}
		return c, nil
	})
}

// tiers is the tiers of an environment.
func (s *Server) tiers(ctx context.Context, envID int64) ([]dream.Tier, error) {
	c, err := s.catalogue(ctx, envID)
	if err != nil {
		return nil, err
	}
	return c.tiers, nil
}

// verifyToken verifies an end-user token for the environment of the
// publishable key presented with it, and returns the end user it names,
// remembering them until the token expires: verifying a signature costs
// tens of microseconds, the cache a lookup. The key hashes the mode, the
// publishable key and the token, so a token verified for one mode or
// project never passes for another.
func (s *Server) verifyToken(ctx context.Context, env *dream.Environment, token string) (endUser, error) {
	// Hashed from a buffer on the stack: a token is about a kilobyte.
	var buf [2048]byte
	sum := sha256.Sum256(append(append(append(append(append(buf[:0], env.Mode...), 0), env.PublishableKey...), 0), token...))
	key := tokenKey(sum[:len(tokenKey{})])
	now := s.now()
	if u, ok := s.caches.tokens.Get(key); ok {
		if now.Unix() < u.expires {
			s.caches.tokens.lookups.Hit()
			return u, nil
		}
		s.caches.tokens.Remove(key)
	}
	s.caches.tokens.lookups.Miss()
	claims, err := s.tokens.VerifyEndUserToken(ctx, env.Mode, token)
	if err != nil {
		return endUser{}, err
	}
	if err := claims.CheckProject(env.PublishableKey); err != nil {
		return endUser{}, err
	}
	u := endUser{UserID: claims.UserID, Email: claims.Email, Plan: claims.Plan, expires: claims.ExpiresAt.Unix()}
	s.caches.tokens.Add(key, u)
	return u, nil
}
