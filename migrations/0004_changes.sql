-- A log of writes that change what nodes cache (keys, projects, catalogues,
-- platform subscriptions). The primary appends to it in the transaction of
-- the write; every node reads it once its copy passes that transaction and
-- drops the cache entries named, so a revoked key or a changed tier is seen
-- everywhere within the replication lag. Old entries are pruned.
CREATE TABLE changes (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,   -- environment | secret_keys | tiers | platform
    key         TEXT NOT NULL,   -- what of that kind changed: a publishable key, an environment id, a platform id
    created_at  INTEGER NOT NULL
);
CREATE INDEX changes_age ON changes (created_at);
