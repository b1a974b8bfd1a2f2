-- The figures of each environment at the end of each day, which the
-- dashboard's charts draw: recorded by the primary's daily job.
CREATE TABLE daily_figures (
    environment_id        INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    day                   TEXT NOT NULL,               -- YYYY-MM-DD, UTC
    usage_this_period     INTEGER NOT NULL,            -- units of end users' running periods at the day's end
    mrr_cents             INTEGER NOT NULL,
    active_subscriptions  INTEGER NOT NULL,
    revenue_cents         INTEGER NOT NULL,            -- paid orders of the day
    orders                INTEGER NOT NULL,
    PRIMARY KEY (environment_id, day)
) WITHOUT ROWID;
