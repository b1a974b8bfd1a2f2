package edge

import (
	"net/http"

	"github.com/dream-api/dream"
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

// handleTrack counts one usage unit for the end user: POST /api/data.
func (s *Server) handleTrack(w http.ResponseWriter, r *http.Request, req *request) error {
	u, err := s.writer.TrackUsage(r.Context(), dream.TrackUsage{
		EnvironmentID: req.scope.ID,
		UserID:        req.user.UserID,
		Email:         req.user.Email,
		TokenPlan:     req.user.Plan,
	})
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
	tiers, err := s.db.Tiers(ctx, req.scope.ID)
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
