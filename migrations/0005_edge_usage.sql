-- Usage acknowledged at the edge. A node that receives POST /api/data
-- decides it from its replicated copy plus its own units not yet applied,
-- keeps the unit in a local outbox and ships outboxes to the primary in
-- batches. Each unit carries its node's id and a sequence number; the
-- primary applies a batch in one transaction with the node's high-water
-- mark, so a batch sent again after a lost answer or a crash counts once.
CREATE TABLE edge_marks (
    node_id     TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL CHECK (seq >= 0),   -- the highest sequence applied
    updated_at  INTEGER NOT NULL
);

-- A project whose limits must never be exceeded, even by the few units
-- nodes acknowledge before they see each other's: every track is forwarded
-- to the primary and decided there.
ALTER TABLE projects ADD COLUMN strict_limits INTEGER NOT NULL DEFAULT 0;
