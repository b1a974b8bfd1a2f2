-- End users deleted through the customers API. Nodes acknowledge usage
-- units before the primary applies them, so a unit can arrive after its
-- user was deleted; applying it would bring the user back. Units from
-- before the deletion are dropped; units from after it are a new start
-- (a deleted user whose token still works and who uses the API again).
CREATE TABLE end_user_tombstones (
    environment_id  INTEGER NOT NULL,
    user_id         TEXT NOT NULL,
    deleted_at      INTEGER NOT NULL,
    PRIMARY KEY (environment_id, user_id)
);
CREATE INDEX end_user_tombstones_age ON end_user_tombstones (deleted_at);
