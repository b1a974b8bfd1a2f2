package edge

import (
	"net/http"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

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

// trackedMessage is the data of every counted track, as the original
// server sent it. It is shared and never written to.
var trackedMessage = map[string]string{"message": "Request processed successfully"}

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
// or a 503: the unit is counted once per key.
//
// By default the unit is decided here, from this node's copy and the units
// it has not seen applied yet, kept in the outbox and answered: a track
// costs no round trip to the primary and works while the primary is away.
// A project with strict limits has every unit decided by the primary
// instead, so no limit is ever exceeded.
func (s *Server) handleTrack(w http.ResponseWriter, r *http.Request, req *request) error {
	var writeID string
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if len(key) > dream.MaxIdempotencyKey {
			return dream.Errorf(dream.KindInvalid, "Invalid idempotency key", "Idempotency-Key is at most %d bytes", dream.MaxIdempotencyKey)
		}
		writeID = dream.TrackWriteID(req.scope.ID, req.user.UserID, key)
	}
	tiers, err := s.tiers(r.Context(), req.scope.ID)
	if err != nil {
		return err
	}
	u, err := s.tally.Track(r.Context(), tiers, dream.TrackUsage{
		WriteID:       writeID,
		EnvironmentID: req.scope.ID,
		UserID:        req.user.UserID,
		Email:         req.user.Email,
		TokenPlan:     req.user.Plan,
	}, req.scope.Project.StrictLimits)
	if err != nil {
		return err
	}
	answer := trackJSON{
		Success: true,
		Data:    trackedMessage,
		Usage: usageJSON{
			Count:       u.Count,
			UsageCount:  u.Count,
			Limit:       u.Limit,
			Remaining:   u.Limit.Remaining(u.Count),
			Plan:        u.Plan,
			PeriodStart: u.Period.StartString(),
			PeriodEnd:   u.Period.EndString(),
		},
	}
	writeBody(w, http.StatusOK, answer.appendJSON(make([]byte, 0, 256)))
	return nil
}

// handleUsage reports the end user's usage without counting: GET
// /api/usage. A period that has ended reads as the new, empty one.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request, req *request) error {
	tiers, err := s.tiers(r.Context(), req.scope.ID)
	if err != nil {
		return err
	}
	u, err := s.tally.Usage(r.Context(), tiers, store.UserRef{EnvironmentID: req.scope.ID, UserID: req.user.UserID}, req.user.Plan)
	if err != nil {
		return err
	}
	answer := usageCheckJSON{
		UserID:      u.UserID,
		Plan:        u.Plan,
		UsageCount:  u.Count,
		Limit:       u.Limit,
		Remaining:   u.Limit.Remaining(u.Count),
		PeriodStart: u.Period.StartString(),
		PeriodEnd:   u.Period.EndString(),
	}
	writeBody(w, http.StatusOK, answer.appendJSON(make([]byte, 0, 192)))
	return nil
}
