-- Developers pay the platform. A platform's subscription follows the
-- platform webhook in the order of Stripe's reports (stripe_version, as
-- for end users' subscriptions); trial_used keeps a platform to one trial
-- ever; purged_at is when the retention job deleted a lapsed platform's
-- projects (the platform row stays, with its status).
ALTER TABLE platforms ADD COLUMN stripe_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE platforms ADD COLUMN trial_used INTEGER NOT NULL DEFAULT 0;
ALTER TABLE platforms ADD COLUMN purged_at INTEGER;
CREATE INDEX platforms_status ON platforms (subscription_status);
CREATE INDEX platforms_stripe_customer ON platforms (stripe_customer_id);

-- The primary's daily jobs, one row per job and day: a run claims its day
-- until claimed_until, and finished_at marks the day done, so that a
-- restart, a failover or two nodes that both believe they are primary
-- never run a day twice, and a day missed is run when the primary is back.
CREATE TABLE job_runs (
    job            TEXT NOT NULL,
    day            TEXT NOT NULL,                      -- YYYY-MM-DD, UTC
    claimed_by     TEXT NOT NULL,                      -- the node that ran it
    claimed_until  INTEGER NOT NULL,
    finished_at    INTEGER,
    PRIMARY KEY (job, day)
) WITHOUT ROWID;

-- The daily count of billable end users reported to the platform's Stripe
-- meter, per platform and day, so that a day's run retries only the
-- platforms whose report failed.
CREATE TABLE meter_reports (
    platform_id  TEXT NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    day          TEXT NOT NULL,
    end_users    INTEGER NOT NULL,
    reported_at  INTEGER NOT NULL,
    PRIMARY KEY (platform_id, day)
) WITHOUT ROWID;
