-- The whole product's schema. Times are Unix milliseconds (UTC) in INTEGER
-- columns named *_at; usage period boundaries are YYYY-MM-DD text so that
-- they compare as strings. Money is integer minor units (cents).

-- A developer account: owns projects, pays the platform subscription.
CREATE TABLE platforms (
    id                      TEXT PRIMARY KEY,           -- plt_ + 32 hex
    owner                   TEXT NOT NULL UNIQUE,       -- identity of the developer; one platform each
    email                   TEXT,
    stripe_customer_id      TEXT,                       -- platform billing, not Connect
    stripe_subscription_id  TEXT,
    subscription_status     TEXT NOT NULL DEFAULT 'none' CHECK (subscription_status IN
        ('none','trialing','active','past_due','canceled','incomplete','incomplete_expired','unpaid','paused')),
    trial_ends_at           INTEGER,
    current_period_end      INTEGER,
    subscription_ended_at   INTEGER,                    -- start of the grace period
    created_at              INTEGER NOT NULL
);

-- The developer's Stripe Connect account, per mode.
CREATE TABLE stripe_accounts (
    platform_id   TEXT NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    mode          TEXT NOT NULL CHECK (mode IN ('test','live')),
    account_id    TEXT NOT NULL,                        -- acct_…
    connected_at  INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode)
);

CREATE TABLE projects (
    id                     TEXT PRIMARY KEY,            -- prj_ + 32 hex
    platform_id            TEXT NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    name                   TEXT NOT NULL,
    type                   TEXT NOT NULL CHECK (type IN ('saas','store','membership')),
    rate_limit_per_minute  INTEGER CHECK (rate_limit_per_minute >= 0),  -- NULL: server default
    allowed_origins        TEXT NOT NULL DEFAULT '[]',  -- JSON array of origins
    enable_tax             INTEGER NOT NULL DEFAULT 0,
    created_at             INTEGER NOT NULL
);
CREATE INDEX projects_platform ON projects (platform_id);

-- One mode of a project. Every row of tenant data belongs to an environment.
CREATE TABLE environments (
    id               INTEGER PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    mode             TEXT NOT NULL CHECK (mode IN ('test','live')),
    publishable_key  TEXT NOT NULL UNIQUE,              -- pk_{mode}_ + 32 hex; never changes
    created_at       INTEGER NOT NULL,
    UNIQUE (project_id, mode)
);

-- Secret keys, stored only as the SHA-256 of the whole key.
CREATE TABLE secret_keys (
    hash            TEXT PRIMARY KEY,                   -- lowercase hex
    environment_id  INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER                             -- NULL: until rotated
);
CREATE INDEX secret_keys_environment ON secret_keys (environment_id);

-- Subscription tiers and, with billing_mode one_off, store products.
CREATE TABLE tiers (
    id                 INTEGER PRIMARY KEY,             -- also the display order
    environment_id     INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    slug               TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    billing_mode       TEXT NOT NULL CHECK (billing_mode IN ('subscription','one_off')),
    price_cents        INTEGER NOT NULL CHECK (price_cents >= 0),
    currency           TEXT NOT NULL DEFAULT 'usd',
    usage_limit        INTEGER,                         -- NULL: unlimited
    features           TEXT NOT NULL DEFAULT '[]',      -- JSON array of strings
    popular            INTEGER NOT NULL DEFAULT 0,
    image_url          TEXT,
    inventory          INTEGER CHECK (inventory >= 0),  -- NULL: unlimited stock
    trial_days         INTEGER NOT NULL DEFAULT 0 CHECK (trial_days >= 0),
    stripe_price_id    TEXT,
    stripe_product_id  TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (environment_id, slug)
);
CREATE INDEX tiers_price ON tiers (stripe_price_id);

-- The end users of an environment (the developer's customers).
CREATE TABLE end_users (
    environment_id      INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    user_id             TEXT NOT NULL,                  -- subject at the identity provider
    email               TEXT,
    first_name          TEXT,
    last_name           TEXT,
    plan                TEXT,                           -- set through the customers API
    stripe_customer_id  TEXT,                           -- reused by later checkouts
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (environment_id, user_id)
) WITHOUT ROWID;
CREATE INDEX end_users_email ON end_users (environment_id, email COLLATE NOCASE);

-- Usage in the current period of each end user.
CREATE TABLE usage_counters (
    environment_id  INTEGER NOT NULL,
    user_id         TEXT NOT NULL,
    period_start    TEXT NOT NULL,                      -- YYYY-MM-DD
    period_end      TEXT NOT NULL,                      -- YYYY-MM-DD, inclusive
    count           INTEGER NOT NULL CHECK (count >= 0),
    plan            TEXT NOT NULL,                      -- plan at the last increment
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (environment_id, user_id),
    FOREIGN KEY (environment_id, user_id) REFERENCES end_users (environment_id, user_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- An end user's subscription to a tier; one per end user and environment.
CREATE TABLE subscriptions (
    environment_id          INTEGER NOT NULL,
    user_id                 TEXT NOT NULL,
    stripe_subscription_id  TEXT NOT NULL UNIQUE,
    stripe_customer_id      TEXT,
    stripe_price_id         TEXT,
    stripe_product_id       TEXT,
    plan                    TEXT NOT NULL,
    status                  TEXT NOT NULL,
    cancel_at_period_end    INTEGER NOT NULL DEFAULT 0,
    amount_cents            INTEGER,
    currency                TEXT,
    current_period_end      INTEGER,
    trial_end               INTEGER,
    canceled_at             INTEGER,
    cancel_reason           TEXT,
    stripe_updated_at       INTEGER NOT NULL,           -- the provider's own time of this state
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    PRIMARY KEY (environment_id, user_id),
    FOREIGN KEY (environment_id, user_id) REFERENCES end_users (environment_id, user_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- Paid store checkouts.
CREATE TABLE orders (
    id                        TEXT PRIMARY KEY,         -- ord_ + 32 hex
    environment_id            INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    email                     TEXT,
    amount_cents              INTEGER NOT NULL,
    currency                  TEXT NOT NULL,
    items                     TEXT NOT NULL,            -- JSON array of line items
    stripe_session_id         TEXT NOT NULL UNIQUE,     -- one order per paid session
    stripe_payment_intent_id  TEXT,
    created_at                INTEGER NOT NULL
);
CREATE INDEX orders_environment ON orders (environment_id, created_at);

-- Payment provider webhook events, recorded with their effects.
CREATE TABLE webhook_events (
    id              TEXT PRIMARY KEY,                   -- evt_…
    environment_id  INTEGER REFERENCES environments(id) ON DELETE CASCADE,  -- NULL: no known project
    type            TEXT NOT NULL,
    livemode        INTEGER NOT NULL,
    outcome         TEXT NOT NULL,                      -- processed | ignored
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,                   -- the provider's event time
    received_at     INTEGER NOT NULL
);
CREATE INDEX webhook_events_environment ON webhook_events (environment_id, received_at);

-- Uploaded images, stored in the database so that every region serves them.
CREATE TABLE assets (
    key             TEXT PRIMARY KEY,                   -- {platformId}/{ms}-{name}
    platform_id     TEXT NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    content_type    TEXT NOT NULL,
    data            BLOB NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX assets_platform ON assets (platform_id);

-- Writes the primary has applied, by write id, with their outcome, so that a
-- retried write is applied once and answered the same way.
CREATE TABLE applied_writes (
    id          TEXT PRIMARY KEY,
    outcome     TEXT NOT NULL,                          -- JSON
    applied_at  INTEGER NOT NULL
);
CREATE INDEX applied_writes_age ON applied_writes (applied_at);
