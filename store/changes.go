package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dream-api/dream"
)

// ChangeKind names what a change invalidates in the nodes' caches.
type ChangeKind string

// The kinds of change.
const (
	// ChangeEnvironment: the environment of a publishable key (Key) was
	// created, changed or deleted.
	ChangeEnvironment ChangeKind = "environment"
	// ChangeSecretKeys: the secret keys of an environment (Key, its id)
	// changed.
	ChangeSecretKeys ChangeKind = "secret_keys"
	// ChangeTiers: the catalogue of an environment (Key, its id) changed,
	// stock included.
	ChangeTiers ChangeKind = "tiers"
	// ChangePlatform: a platform's subscription (Key, its id) changed.
	ChangePlatform ChangeKind = "platform"
	// ChangeUsers: the plan or subscription of end users changed, or they
	// were created or deleted. Key is a JSON array of [environment id,
	// user id] pairs: a transaction logs every user it changed in one
	// entry.
	ChangeUsers ChangeKind = "users"
	// ChangeUsage: only the usage counters of end users changed. Key is a
	// JSON array with an element per user, as for ChangeUsers. Nodes read
	// the new counters in one query instead of dropping what they know of
	// the users. The entry of a batch of one node's units (LogBatchUsage)
	// says more, and the node that sent the batch takes the counters from
	// it instead of reading them back (ParseUsage).
	ChangeUsage ChangeKind = "usage"
)

// BatchUsage is what a batch of one node's units changed, as the change
// log holds it.
type BatchUsage struct {
	// NodeID is the node whose units the batch held, and Mark its
	// high-water mark after the batch.
	NodeID string
	Mark   int64
	// Counters are the end users' counters after the batch, in the same
	// transaction as Mark: each counts exactly the node's units up to
	// Mark, as Counters reads them.
	Counters []UserCounter
}

// UserCounter is an end user's usage counter.
type UserCounter struct {
	User    UserRef
	Counter dream.UsageCounter
}

// LogBatchUsage appends b to the change log as a ChangeUsage entry whose
// key a release that reads only [environment id, user id] pairs reads as
// the batch's users: its first element, [0, "", node id, mark], names no
// end user (no environment has id 0), and each user's element is
// [environment id, user id, count, period start, period end], whose
// elements past the pair such a release skips.
func (tx *Tx) LogBatchUsage(ctx context.Context, b BatchUsage, now time.Time) error {
	elements := make([][]any, 0, 1+len(b.Counters))
	elements = append(elements, []any{0, "", b.NodeID, b.Mark})
	for _, c := range b.Counters {
		elements = append(elements, []any{c.User.EnvironmentID, c.User.UserID, c.Counter.Count,
			c.Counter.Period.StartString(), c.Counter.Period.EndString()})
	}
	key, err := json.Marshal(elements)
	if err != nil {
		return err
	}
	return tx.LogChange(ctx, ChangeUsage, string(key), now)
}

// ParseUsage reads the Key of a ChangeUsage entry: the users it names,
// and, for the entry of a batch of one node's units, the batch.
func ParseUsage(key string) ([]UserRef, *BatchUsage, error) {
	var elements [][]json.RawMessage
	if err := json.Unmarshal([]byte(key), &elements); err != nil {
		return nil, nil, fmt.Errorf("usage change %q: %w", key, err)
	}
	var b *BatchUsage
	if len(elements) > 0 && len(elements[0]) == 4 && string(elements[0][0]) == "0" {
		b = &BatchUsage{}
		if err := unmarshalAll(elements[0][2:], &b.NodeID, &b.Mark); err != nil {
			return nil, nil, fmt.Errorf("usage change %q: %w", key, err)
		}
		elements = elements[1:]
	}
	users := make([]UserRef, len(elements))
	for i, e := range elements {
		if err := userOf(e, &users[i]); err != nil {
			return nil, nil, fmt.Errorf("usage change %q: element %d: %w", key, i, err)
		}
		if b == nil {
			continue
		}
		var count int64
		var start, end string
		if len(e) != 5 {
			return nil, nil, fmt.Errorf("usage change %q: element %d has no counter", key, i)
		}
		if err := unmarshalAll(e[2:], &count, &start, &end); err != nil {
			return nil, nil, fmt.Errorf("usage change %q: %w", key, err)
		}
		period, err := dream.ParsePeriod(start, end)
		if err != nil {
			return nil, nil, fmt.Errorf("usage change %q: %w", key, err)
		}
		b.Counters = append(b.Counters, UserCounter{User: users[i], Counter: dream.UsageCounter{Count: count, Period: period}})
	}
	return users, b, nil
}

// unmarshalAll decodes each of values into the destination of the same
// index.
func unmarshalAll(values []json.RawMessage, dsts ...any) error {
	for i, dst := range dsts {
		if err := json.Unmarshal(values[i], dst); err != nil {
			return err
		}
	}
	return nil
}

// UserRef names an end user of one environment.
type UserRef struct {
	EnvironmentID int64
	UserID        string
}

// touch records that the transaction changed the state of an end user at
// now; counterOnly when only their usage counter changed.
func (tx *Tx) touch(envID int64, userID string, now time.Time, counterOnly bool) {
	set := &tx.users
	if counterOnly {
		set = &tx.counters
	}
	if *set == nil {
		*set = make(map[UserRef]struct{})
	}
	u := UserRef{envID, userID}
	if _, ok := (*set)[u]; !ok {
		(*set)[u] = struct{}{}
		tx.touched = append(tx.touched, touchedUser{u, counterOnly})
	}
	tx.usersAt = now
}

// logUsers appends the users the transaction changed to the change log:
// one entry for those whose state changed, one for those whose counter
// alone did.
func (tx *Tx) logUsers(ctx context.Context) error {
	for u := range tx.users {
		delete(tx.counters, u)
	}
	for _, c := range []struct {
		kind  ChangeKind
		users map[UserRef]struct{}
	}{{ChangeUsers, tx.users}, {ChangeUsage, tx.counters}} {
		if len(c.users) == 0 {
			continue
		}
		pairs := make([][2]any, 0, len(c.users))
		for u := range c.users {
			pairs = append(pairs, [2]any{u.EnvironmentID, u.UserID})
		}
		key, err := json.Marshal(pairs)
		if err != nil {
			return err
		}
		if err := tx.LogChange(ctx, c.kind, string(key), tx.usersAt); err != nil {
			return err
		}
	}
	tx.users, tx.counters = nil, nil
	return nil
}

// ParseUsers reads the Key of a ChangeUsers or ChangeUsage entry.
func ParseUsers(key string) ([]UserRef, error) {
	var elements [][]json.RawMessage
	if err := json.Unmarshal([]byte(key), &elements); err != nil {
		return nil, fmt.Errorf("users change %q: %w", key, err)
	}
	users := make([]UserRef, len(elements))
	for i, e := range elements {
		if err := userOf(e, &users[i]); err != nil {
			return nil, fmt.Errorf("users change %q: element %d: %w", key, i, err)
		}
	}
	return users, nil
}

// userOf reads the [environment id, user id] an element of a users or
// usage change begins with into u.
func userOf(e []json.RawMessage, u *UserRef) error {
	if len(e) < 2 {
		return errors.New("it names no user")
	}
	return unmarshalAll(e[:2], &u.EnvironmentID, &u.UserID)
}

// Change is an entry of the change log.
type Change struct {
	ID   int64
	Kind ChangeKind
	Key  string
}

// LogChange appends to the change log in the transaction of the write
// that made the change.
func (tx *Tx) LogChange(ctx context.Context, kind ChangeKind, key string, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO changes (kind, key, created_at) VALUES (?, ?, ?)`, kind, key, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("log change: %w", err)
	}
	return nil
}

// ChangesSince returns the changes after id, oldest first.
func (db *DB) ChangesSince(ctx context.Context, id int64) ([]Change, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, kind, key FROM changes WHERE id > ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	defer rows.Close()
	var changes []Change
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.ID, &c.Kind, &c.Key); err != nil {
			return nil, fmt.Errorf("changes: %w", err)
		}
		changes = append(changes, c)
	}
	return changes, rows.Err()
}

// LastChange is the id of the newest change, 0 for none.
func (db *DB) LastChange(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	if err := db.read.QueryRowContext(ctx, `SELECT max(id) FROM changes`).Scan(&id); err != nil {
		return 0, fmt.Errorf("last change: %w", err)
	}
	return id.Int64, nil
}

// WatchDataVersion calls onChange every time the database changed, looking
// every interval, until ctx is done. It asks SQLite's data_version, which
// moves when another connection or a LiteFS replication commits, so an idle
// node costs one cheap pragma per interval.
func (db *DB) WatchDataVersion(ctx context.Context, interval time.Duration, onChange func()) error {
	conn, err := db.read.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	version := func() (int64, error) {
		var v int64
		err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v)
		return v, err
	}
	seen, err := version()
	if err != nil {
		return err
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		v, err := version()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if v != seen {
			seen = v
			onChange()
		}
	}
}

// Prune deletes change log entries, applied write records and end user
// tombstones older than the given ages, which no node, retry or delayed
// usage unit can still need, and developer sessions and Connect states
// that have expired.
func (tx *Tx) Prune(ctx context.Context, now time.Time, changesAge, writesAge, tombstonesAge time.Duration) error {
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM end_user_tombstones WHERE deleted_at < ?`, now.Add(-tombstonesAge).UnixMilli()); err != nil {
		return fmt.Errorf("prune end user tombstones: %w", err)
	}
	for _, table := range []string{"developer_sessions", "connect_states"} {
		if _, err := tx.tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE expires_at < ?`, now.UnixMilli()); err != nil {
			return fmt.Errorf("prune %s: %w", table, err)
		}
	}
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM changes WHERE created_at < ?`, now.Add(-changesAge).UnixMilli()); err != nil {
		return fmt.Errorf("prune changes: %w", err)
	}
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM applied_writes WHERE applied_at < ?`, now.Add(-writesAge).UnixMilli()); err != nil {
		return fmt.Errorf("prune applied writes: %w", err)
	}
	return nil
}
