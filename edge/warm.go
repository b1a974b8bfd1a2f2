package edge

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/dream-api/dream/internal/safefile"
	"github.com/dream-api/dream/store"
)

// A node's warm state is what it keeps of its end users that a restart
// would otherwise rebuild one request at a time: the tokens it verified,
// each a signature check, and the end users whose usage views it holds,
// each a read. At 100,000 end users that rebuilding is some ten seconds of
// a 2-core machine's CPU. Close saves it to a file on the node's own disk
// and Open reads it back and removes the file, so a node that is stopped
// and started again, as a deploy does, comes back warm; after a crash it
// comes back cold, as before.
//
// The file holds no token: a token is saved as its cache key (128 bits of
// the SHA-256 of mode, publishable key and token), with the claims the
// cache keeps and its expiry. The tokens come back only under the same
// identity configuration (Options.TokenTrust) and only if not expired; the
// views come back as a list of end users, read afresh from the database.
type warmState struct {
	// Trust is the Options.TokenTrust the tokens were verified under.
	Trust string
	// Tokens and Users are each the most recently used first.
	Tokens []warmToken
	Users  []store.UserRef
}

// warmToken is a token cache entry as the file holds it.
type warmToken struct {
	Key                 tokenKey
	UserID, Email, Plan string
	Expires             int64
}

// maxWarmFile bounds the file Open reads. At about 130 bytes an end user
// it holds some 8,000,000 of them, thirty times what the fly.toml Machine
// keeps; a node that keeps more comes back cold, as after a crash, with
// the error logged.
const maxWarmFile = 1 << 30

// saveWarm writes the node's warm state to its warm file, replacing it
// whole: a node stopped while saving leaves the last state, or none.
func (s *Server) saveWarm() error {
	state := warmState{Trust: s.tokenTrust, Users: s.tally.Users()}
	now := s.now().Unix()
	for key, u := range s.caches.tokens.All() {
		if u.expires > now {
			state.Tokens = append(state.Tokens, warmToken{Key: key, UserID: u.UserID, Email: u.Email, Plan: u.Plan, Expires: u.expires})
		}
	}
	err := safefile.Write(s.warmFile, func(w io.Writer) error { return gob.NewEncoder(w).Encode(&state) })
	if err != nil {
		return err
	}
	s.logger.Info("saved the end users kept for the next start", "file", s.warmFile,
		"tokens", len(state.Tokens), "usage_views", len(state.Users))
	return nil
}

// loadWarm reads the warm state in the node's warm file, removes the file,
// and keeps the tokens in the token cache if they were verified under the
// node's identity configuration and have not expired. It returns the end users whose views to read and how many
// tokens it kept, none when there is no file. A file it cannot read costs
// the node its warm start, nothing else.
func (s *Server) loadWarm() ([]store.UserRef, int) {
	state, err := readWarm(s.warmFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.logger.Error("reading the end users kept before the restart", "file", s.warmFile, "error", err)
		}
		return nil, 0
	}
	tokens := 0
	if s.tokenTrust != "" && state.Trust == s.tokenTrust {
		now := s.now().Unix()
		// The least recently used first, so that the cache's order of use
		// is the saved one.
		for _, t := range slices.Backward(state.Tokens) {
			if t.Expires > now {
				s.caches.tokens.Add(t.Key, endUser{UserID: t.UserID, Email: t.Email, Plan: t.Plan, expires: t.Expires})
				tokens++
			}
		}
	}
	return state.Users, tokens
}

// readWarm decodes the file at path and removes it, read or not: the
// state it holds is that of one stop.
func readWarm(path string) (warmState, error) {
	f, err := os.Open(path)
	if err != nil {
		return warmState{}, err
	}
	defer f.Close()
	defer os.Remove(path)
	var state warmState
	if err := gob.NewDecoder(bufio.NewReader(io.LimitReader(f, maxWarmFile))).Decode(&state); err != nil {
		return warmState{}, fmt.Errorf("decoding: %w", err)
	}
	return state, nil
}
