-- Stock held for store checkouts not yet paid. A cart's quantities are
-- reserved in the transaction that checks them; a reservation leaves when
-- the payment takes its stock for good, or returns it when the checkout
-- expires, its payment fails, or it lapses (expires_at) without an event.
CREATE TABLE stock_reservations (
    reservation_id  TEXT NOT NULL,                      -- res_ + 32 hex, in the checkout's metadata
    tier_id         INTEGER NOT NULL REFERENCES tiers(id) ON DELETE CASCADE,
    environment_id  INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (reservation_id, tier_id)
) WITHOUT ROWID;
CREATE INDEX stock_reservations_tier ON stock_reservations (tier_id);
CREATE INDEX stock_reservations_expiry ON stock_reservations (expires_at);

-- An order paid for stock there was none of takes nothing from stock and
-- is refunded: refund_id is the provider's refund once it is made.
ALTER TABLE orders ADD COLUMN oversold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN refund_id TEXT;
