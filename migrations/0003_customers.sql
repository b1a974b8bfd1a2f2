-- Customers deleted through the API leave a tombstone of their
-- subscription, so that the provider's later events about it (the
-- cancellation the deletion asked for) do not bring the customer back.
CREATE TABLE subscription_tombstones (
    stripe_subscription_id  TEXT PRIMARY KEY,
    environment_id          INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    deleted_at              INTEGER NOT NULL
);
