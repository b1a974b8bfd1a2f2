-- Developers sign in to the management API and the dashboard. In dev mode
-- and with --console-auth local they hold a local login (email and bcrypt
-- password); with Clerk the platform's owner is the Clerk user and there is
-- no login row. Sessions are stored by the SHA-256 of their token, so a
-- copy of the database opens no session, and deleting the row signs the
-- session out at every node.
CREATE TABLE developer_logins (
    platform_id    TEXT PRIMARY KEY REFERENCES platforms(id) ON DELETE CASCADE,
    email          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash  TEXT NOT NULL,                      -- bcrypt
    updated_at     INTEGER NOT NULL
);

CREATE TABLE developer_sessions (
    hash         TEXT PRIMARY KEY,                     -- SHA-256 of the token, lowercase hex
    platform_id  TEXT NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX developer_sessions_platform ON developer_sessions (platform_id);
CREATE INDEX developer_sessions_expiry ON developer_sessions (expires_at);

-- The state of a Stripe Connect authorization in progress, by the SHA-256
-- of the value sent to Stripe: single use (the callback deletes it in the
-- transaction that connects the account) and short-lived.
CREATE TABLE connect_states (
    hash         TEXT PRIMARY KEY,
    platform_id  TEXT NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    mode         TEXT NOT NULL CHECK (mode IN ('test','live')),
    expires_at   INTEGER NOT NULL
);
CREATE INDEX connect_states_expiry ON connect_states (expires_at);
