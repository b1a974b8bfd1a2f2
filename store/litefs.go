package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LiteFS is the node's view of the LiteFS mount that holds its database.
// LiteFS keeps one primary, which holds the write lease, and replicas that
// receive its transactions; it reports which node is primary and how far
// this node's copy has come through files in the mount.
type LiteFS struct {
	// dir is the mount directory.
	dir string
	// posPath is the database's "-pos" file.
	posPath string
}

// DetectLiteFS returns the LiteFS mount of the database at path, or nil
// when the database is a plain file. A LiteFS mount is recognised by its
// ".lag" file, which LiteFS serves in every mount.
func DetectLiteFS(path string) *LiteFS {
	dir := filepath.Dir(path)
	if _, err := os.Stat(filepath.Join(dir, ".lag")); err != nil {
		return nil
	}
	return &LiteFS{dir: dir, posPath: path + "-pos"}
}

// Primary reports whether this node is the primary and, if not, the lease
// hostname of the primary, "" while no primary is known. LiteFS serves a
// ".primary" file holding that hostname on replicas connected to a primary,
// and none on the primary, but none either on a replica that lost its
// primary (a failover under way): only the primary reads a lag of exactly
// zero, so both are asked.
func (l *LiteFS) Primary() (isPrimary bool, host string, err error) {
	b, err := os.ReadFile(filepath.Join(l.dir, ".primary"))
	if err == nil {
		return false, strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, "", fmt.Errorf("litefs: reading .primary: %w", err)
	}
	lag, err := l.Lag()
	if err != nil {
		return false, "", err
	}
	return lag == 0, "", nil
}

// Position is a point in the database's replication stream: the id of the
// last transaction applied. Positions of one database order its
// transactions.
type Position uint64

// String is the position in LiteFS's own form, 16 hex digits.
func (p Position) String() string { return fmt.Sprintf("%016x", uint64(p)) }

// ParsePosition reads a position in its String form.
func ParsePosition(s string) (Position, error) {
	n, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("litefs: malformed position %q", s)
	}
	return Position(n), nil
}

// Position is the transaction this node's copy of the database has reached,
// read from the database's "-pos" file ("<txid>/<checksum>").
func (l *LiteFS) Position() (Position, error) {
	b, err := os.ReadFile(l.posPath)
	if err != nil {
		return 0, fmt.Errorf("litefs: reading position: %w", err)
	}
	txid, _, _ := strings.Cut(strings.TrimSpace(string(b)), "/")
	return ParsePosition(txid)
}

// positionPoll is how often WaitPosition looks again: a replica applies a
// transaction within milliseconds of the primary committing it.
const positionPoll = time.Millisecond

// WaitPosition returns once this node's copy has reached target, or with
// the context's error when it is done first.
func (l *LiteFS) WaitPosition(ctx context.Context, target Position) error {
	ticker := time.NewTicker(positionPoll)
	defer ticker.Stop()
	for {
		pos, err := l.Position()
		if err != nil {
			return err
		}
		if pos >= target {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// Lag is how far this node's copy is behind the primary, from the mount's
// ".lag" file: zero on the primary, and very large on a replica that has
// not finished its first sync.
func (l *LiteFS) Lag() (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(l.dir, ".lag"))
	if err != nil {
		return 0, fmt.Errorf("litefs: reading lag: %w", err)
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("litefs: malformed lag %q", b)
	}
	return time.Duration(ms) * time.Millisecond, nil
}
