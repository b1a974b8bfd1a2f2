package edge

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"

	"github.com/dream-api/dream"
)

// maxIdempotencyKey bounds an Idempotency-Key header.
const maxIdempotencyKey = 255

// usageJSON is the usage object of POST /api/data. "count" is what the
// original server sent; the names the SDK's typings use are added beside it.
type usageJSON struct {
	Count       int64       `json:"count"`
	UsageCount  int64       `json:"usageCount"`
	Limit       dream.Limit `json:"limit"`
	Remaining   dream.Limit `json:"remaining"`
	Plan        string      `json:"plan"`
	PeriodStart string      `json:"periodStart"`
	PeriodEnd   string      `json:"periodEnd"`
}

// trackJSON is the body of POST /api/data.
type trackJSON struct {
	Success bool              `json:"success"`
	Data    map[string]string `json:"data"`
	Usage   usageJSON         `json:"usage"`
}

// usageCheckJSON is the flat body of GET /api/usage.
type usageCheckJSON struct {
	UserID      string      `json:"userId"`
	Plan        string      `json:"plan"`
	UsageCount  int64       `json:"usageCount"`
	Limit       dream.Limit `json:"limit"`
	Remaining   dream.Limit `json:"remaining"`
	PeriodStart string      `json:"periodStart"`
	PeriodEnd   string      `json:"periodEnd"`
}

// handleTrack counts one usage unit for the end user: POST /api/data. A
// client that sends an Idempotency-Key may retry the call after a timeout
// or a 503: the unit is counted once per key, and the retry answers what
// the first call did.
func (s *Server) handleTrack(w http.ResponseWriter, r *http.Request, req *request) error {
	track := dream.TrackUsage{
		EnvironmentID: req.scope.ID,
		UserID:        req.user.UserID,
		Email:         req.user.Email,
		TokenPlan:     req.user.Plan,
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if len(key) > maxIdempotencyKey {
			return dream.Errorf(dream.KindInvalid, "Invalid idempotency key", "Idempotency-Key is at most %d characters", maxIdempotencyKey)
		}
		// Scoped to the environment and end user: one client's keys never
		// meet another's.
		scoped := sha256.Sum256([]byte(strconv.FormatInt(track.EnvironmentID, 10) + "\x00" + track.UserID + "\x00" + key))
		track.WriteID = "idem_" + hex.EncodeToString(scoped[:])
	}
	u, err := s.writer.TrackUsage(r.Context(), track)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, trackJSON{
		Success: true,
		Data:    map[string]string{"message": "Request processed successfully"},
		Usage: usageJSON{
			Count:       u.Count,
			UsageCount:  u.Count,
			Limit:       u.Limit,
			Remaining:   u.Limit.Remaining(u.Count),
			Plan:        u.Plan,
			PeriodStart: u.Period.StartString(),
			PeriodEnd:   u.Period.EndString(),
		},
	})
	return nil
}

// handleUsage reports the end user's usage without counting: GET
// /api/usage. A period that has ended reads as the new, empty one.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	tiers, err := s.tiers(ctx, req.scope.ID)
	if err != nil {
		return err
	}
	state, err := s.db.UserState(ctx, req.scope.ID, req.user.UserID)
	if err != nil {
		return err
	}
	u := dream.UsageAt(tiers, req.user.UserID, state, req.user.Plan, s.now())
	writeJSON(w, http.StatusOK, usageCheckJSON{
		UserID:      u.UserID,
		Plan:        u.Plan,
		UsageCount:  u.Count,
		Limit:       u.Limit,
		Remaining:   u.Limit.Remaining(u.Count),
		PeriodStart: u.Period.StartString(),
		PeriodEnd:   u.Period.EndString(),
	})
	return nil
}
