package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dream-api/dream/store"
)

// Backup writes a consistent copy of the database of a running node,
// primary or replica, to the configured file, without stopping its
// writes, and says what the copy holds.
func (m *Main) Backup(ctx context.Context) error {
	// Opening the database for writing would create a missing one.
	if _, err := os.Stat(m.Config.Database); err != nil {
		return fmt.Errorf("dream backup: %w", err)
	}
	if err := m.openDB(); err != nil {
		return err
	}
	b, err := m.DB.Backup(ctx, m.Config.BackupFile, m.LiteFS, m.Config.Force)
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("dream backup: %w; pass --force to replace it", err)
	}
	if err != nil {
		return fmt.Errorf("dream backup: %w", err)
	}
	attrs := []any{"file", b.Path, "bytes", b.Size, "db", m.Config.Database, "migration", b.Migration.Name,
		"last_change", b.LastChange, "usage_marks", b.UsageMarks}
	if m.LiteFS != nil {
		attrs = append(attrs, "litefs_txid", b.Position.String())
	}
	m.Logger.Info("backup written", attrs...)
	fmt.Fprintf(m.Stdout, "backup of %s written to %s (%d bytes)\n", m.Config.Database, b.Path, b.Size)
	fmt.Fprintf(m.Stdout, "  schema:      %s\n", b.Migration.Name)
	printPosition(m.Stdout, b.Snapshot)
	if m.LiteFS != nil {
		fmt.Fprintf(m.Stdout, "  LiteFS:      transaction %s, the last the copy holds\n", b.Position)
	}
	return nil
}

// Restore installs the configured backup file as the configured database,
// migrated to this binary's schema, and says what it restored. A database
// on a LiteFS mount is LiteFS's to replace.
func (m *Main) Restore(ctx context.Context) error {
	r, err := store.Restore(ctx, m.Config.BackupFile, m.Config.Database, m.Config.Force)
	switch {
	case errors.Is(err, store.ErrOnLiteFS):
		return fmt.Errorf("dream restore: %s is on a LiteFS mount, which only LiteFS may write: restore to a file off the mount "+
			"(which checks and migrates it), then on the primary run\n  litefs import -name %s <that file>\n"+
			"which replaces the database on every node (docs/DEPLOY.md, Backups)", m.Config.Database, filepath.Base(m.Config.Database))
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("dream restore: %w; stop the node that uses it and pass --force to replace it", err)
	case err != nil:
		return fmt.Errorf("dream restore: %w", err)
	}
	m.Logger.Info("backup restored", "file", m.Config.BackupFile, "bytes", r.Size, "db", r.Path, "migration", r.Migration.Name,
		"applied", r.Applied, "last_change", r.LastChange, "usage_marks", r.UsageMarks)
	fmt.Fprintf(m.Stdout, "restored %s (%d bytes) to %s\n", m.Config.BackupFile, r.Size, r.Path)
	schema := r.Migration.Name
	if len(r.Applied) > 0 {
		schema += " (applied now: " + strings.Join(r.Applied, ", ") + ")"
	}
	fmt.Fprintf(m.Stdout, "  schema:      %s\n", schema)
	printPosition(m.Stdout, r.Snapshot)
	return nil
}

// printPosition says how far a copy of the database goes: its change log
// and each node's usage units.
func printPosition(w io.Writer, s store.Snapshot) {
	fmt.Fprintf(w, "  change log:  up to entry %d\n", s.LastChange)
	nodes := make([]string, 0, len(s.UsageMarks))
	for node := range s.UsageMarks {
		nodes = append(nodes, node)
	}
	slices.Sort(nodes)
	if len(nodes) == 0 {
		fmt.Fprintln(w, "  usage units: none counted from nodes' outboxes")
	}
	for i, node := range nodes {
		label := "  usage units:"
		if i > 0 {
			label = strings.Repeat(" ", len(label))
		}
		fmt.Fprintf(w, "%s %s up to unit %d\n", label, node, s.UsageMarks[node])
	}
}
