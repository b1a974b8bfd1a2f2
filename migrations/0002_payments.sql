-- Payment webhooks: subscriptions are ordered by a version derived from the
-- provider's event time, webhook events are looked up by connected account,
-- and checkouts reuse an end user's provider customer.

-- stripe_version: the provider event time in milliseconds plus the event's
-- place in a subscription's life (checkout 0, created 1, updated or invoice
-- 2, deleted 3), so that events of one second still apply in order.
ALTER TABLE subscriptions RENAME COLUMN stripe_updated_at TO stripe_version;

CREATE INDEX stripe_accounts_account ON stripe_accounts (account_id);
CREATE INDEX end_users_stripe_customer ON end_users (stripe_customer_id);
