-- A node's outbox. Files made before the outbox had migrations hold these
-- tables already, hence IF NOT EXISTS.

-- node holds the node's id, made with the file.
CREATE TABLE IF NOT EXISTS node (
    id  TEXT NOT NULL
);

-- outbox holds the units acknowledged and not yet seen applied. seq is
-- AUTOINCREMENT so that a number is never used twice, even after the rows
-- holding the highest are deleted: the primary skips every sequence at or
-- below a node's mark.
CREATE TABLE IF NOT EXISTS outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    environment_id  INTEGER NOT NULL,
    user_id         TEXT NOT NULL,
    email           TEXT NOT NULL,
    plan            TEXT NOT NULL,
    at              INTEGER NOT NULL,
    write_id        TEXT NOT NULL
);

-- idempotency holds the idempotency keys this node acknowledged, for as
-- long as the primary remembers write ids: a retry of the same call at this
-- node is answered without counting again.
CREATE TABLE IF NOT EXISTS idempotency (
    write_id    TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_age ON idempotency (created_at);
