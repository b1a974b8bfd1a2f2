package primary

import (
	"context"
	"encoding/json"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

// unitRecord is what the primary records under the write id of a unit that
// carried one: which node's unit claimed it.
type unitRecord struct {
	Node string `json:"node"`
	Seq  int64  `json:"seq"`
}

// trackUsage counts one unit of an end user at the primary. The plan is
// resolved and the unit counted inside one transaction that holds the
// write lock from its first read, and the count itself is a single
// conditional statement, so concurrent tracks at a limit never admit more
// than the limit.
func trackUsage(tx *store.Tx, ctx context.Context, w dream.TrackUsage, now time.Time) (dream.Usage, error) {
	if err := tx.RegisterEndUser(ctx, w.EnvironmentID, w.UserID, w.Email, now); err != nil {
		return dream.Usage{}, err
	}
	tiers, err := tx.Tiers(ctx, w.EnvironmentID)
	if err != nil {
		return dream.Usage{}, err
	}
	state, err := tx.UserState(ctx, w.EnvironmentID, w.UserID)
	if err != nil {
		return dream.Usage{}, err
	}
	plan := dream.ResolvePlan(tiers, dream.PlanSources{
		Subscription: state.Subscription,
		AssignedPlan: state.AssignedPlan,
		TokenPlan:    w.TokenPlan,
	})
	counter, admitted, err := tx.IncrementUsage(ctx, w.EnvironmentID, w.UserID, plan, now)
	if err != nil {
		return dream.Usage{}, err
	}
	if !admitted {
		return dream.Usage{}, dream.LimitReached(counter.Count, plan.Limit)
	}
	return dream.Usage{UserID: w.UserID, Plan: plan.Name, Count: counter.Count, Limit: plan.Limit, Period: counter.Period}, nil
}

// applyIncrements applies a node's batch of units it acknowledged itself.
// The batch is one write of the group commit: its units and the node's new
// high-water mark commit together or not at all, so a batch sent again
// after a lost answer, a crash of the node or of the primary skips every
// unit applied before. Units of a user on the same day are added in one
// statement.
func applyIncrements(tx *store.Tx, ctx context.Context, w dream.ApplyIncrements, now time.Time) (dream.IncrementsApplied, error) {
	mark, err := tx.EdgeMark(ctx, w.NodeID)
	if err != nil {
		return dream.IncrementsApplied{}, err
	}
	type groupKey struct {
		user store.UserRef
		day  string
	}
	var groups []store.UsageUnits
	index := make(map[groupKey]int)
	var result dream.IncrementsApplied
	for _, it := range w.Items {
		if checkHighWaterMark && it.Seq <= mark {
			continue
		}
		if it.WriteID != "" {
			dup, err := claimWriteID(ctx, tx, w.NodeID, it, now)
			if err != nil {
				return dream.IncrementsApplied{}, err
			}
			if dup {
				continue
			}
		}
		at := time.UnixMilli(it.At).UTC()
		k := groupKey{store.UserRef{EnvironmentID: it.EnvironmentID, UserID: it.UserID}, at.Format(dream.DateLayout)}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, store.UsageUnits{User: k.user})
		}
		g := &groups[i]
		g.N++
		g.Plan, g.At = it.Plan, at
		if it.Email != "" {
			g.Email = it.Email
		}
		result.Applied++
	}
	// Units of an environment deleted after the node acknowledged
	// them have nothing left to count against; refusing the batch
	// would block the node's outbox for good.
	counters, skipped, err := tx.AddUsages(ctx, groups)
	if err != nil {
		return dream.IncrementsApplied{}, err
	}
	for _, i := range skipped {
		result.Applied -= int(groups[i].N)
	}
	result.Mark = max(mark, w.Items[len(w.Items)-1].Seq)
	if err := tx.SetEdgeMark(ctx, w.NodeID, result.Mark, now); err != nil {
		return dream.IncrementsApplied{}, err
	}
	// The counters after the batch, with the mark they go with: the node
	// that sent it takes them for its views instead of reading them back.
	if len(counters) > 0 {
		if err := tx.LogBatchUsage(ctx, store.BatchUsage{NodeID: w.NodeID, Mark: result.Mark, Counters: counters}, now); err != nil {
			return dream.IncrementsApplied{}, err
		}
	}
	return result, nil
}

// claimWriteID records that the unit it claims the client's write id, and
// reports whether another unit claimed it first: the same call retried at
// another node, or appended twice by one node. The unit itself sent again
// is not a duplicate here; whether it was applied is the high-water mark's
// to say.
func claimWriteID(ctx context.Context, tx *store.Tx, nodeID string, it dream.Increment, now time.Time) (bool, error) {
	recorded, ok, err := tx.AppliedWrite(ctx, it.WriteID)
	if err != nil {
		return false, err
	}
	if ok {
		// A track forwarded synchronously under the same key recorded its
		// usage instead, which reads as no unit: a duplicate too.
		var first unitRecord
		json.Unmarshal(recorded, &first)
		return first != unitRecord{Node: nodeID, Seq: it.Seq}, nil
	}
	outcome, err := json.Marshal(unitRecord{Node: nodeID, Seq: it.Seq})
	if err != nil {
		return false, err
	}
	return false, tx.RecordWrite(ctx, it.WriteID, outcome, now)
}
