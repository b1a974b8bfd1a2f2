package primary

import (
	"context"
	"encoding/json"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

// maxIncrements bounds the units of one batch, and so the time one batch
// holds the write transaction.
const maxIncrements = 10_000

// unitRecord is what the primary records under the write id of a unit that
// carried one: which node's unit claimed it.
type unitRecord struct {
	Node string `json:"node"`
	Seq  int64  `json:"seq"`
}

// ApplyIncrements implements dream.Writer. The batch is one write of the
// group commit: its units and the node's new high-water mark commit
// together or not at all, so a batch sent again after a lost answer, a
// crash of the node or of the primary skips every unit applied before.
// Units of a user on the same day are added in one statement.
func (p *Primary) ApplyIncrements(ctx context.Context, w dream.ApplyIncrements) (dream.IncrementsApplied, error) {
	if err := validateIncrements(w); err != nil {
		return dream.IncrementsApplied{}, err
	}
	return apply(ctx, p, "", func(ctx context.Context, tx *store.Tx, now time.Time) (dream.IncrementsApplied, error) {
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
		skipped, err := tx.AddUsages(ctx, groups)
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
		return result, nil
	})
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

// validateIncrements checks a batch before it reaches the database: a
// node id, at most maxIncrements units in strictly increasing sequence,
// each naming an environment and a user.
func validateIncrements(w dream.ApplyIncrements) error {
	invalid := func(format string, args ...any) error {
		return dream.Errorf(dream.KindInvalid, "Invalid increments", format, args...)
	}
	if w.NodeID == "" {
		return invalid("a batch needs the id of its node")
	}
	if len(w.Items) == 0 || len(w.Items) > maxIncrements {
		return invalid("a batch has 1 to %d units, not %d", maxIncrements, len(w.Items))
	}
	var last int64
	for _, it := range w.Items {
		if it.Seq <= last {
			return invalid("sequences must increase: %d after %d", it.Seq, last)
		}
		last = it.Seq
		if it.EnvironmentID <= 0 || it.UserID == "" || it.At <= 0 {
			return invalid("unit %d needs an environment, a user and a time", it.Seq)
		}
	}
	return nil
}
