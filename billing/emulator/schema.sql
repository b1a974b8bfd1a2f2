-- The payments emulator's own database: the state Stripe would hold.
-- Each object table keeps the object's Go struct as JSON in data, next to
-- the columns queries select by.

-- state is the one row of emulator-wide settings.
CREATE TABLE IF NOT EXISTS state (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	-- webhook_secret signs every delivered event.
	webhook_secret TEXT NOT NULL,
	-- clock_offset is how many seconds the emulator clock is ahead of the
	-- wall clock.
	clock_offset   INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS customers (
	id   TEXT PRIMARY KEY,
	data TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS checkout_sessions (
	id   TEXT PRIMARY KEY,
	data TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS portal_sessions (
	id   TEXT PRIMARY KEY,
	data TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS subscriptions (
	id       TEXT PRIMARY KEY,
	-- customer lists a customer's subscriptions in the portal.
	customer TEXT NOT NULL,
	-- due is when the subscription changes on its own: the end of its
	-- current period (or trial); NULL once canceled.
	due      INTEGER,
	data     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_customer ON subscriptions (customer);
CREATE INDEX IF NOT EXISTS subscriptions_due ON subscriptions (due) WHERE due IS NOT NULL;

CREATE TABLE IF NOT EXISTS products (
	id   TEXT PRIMARY KEY,
	data TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS prices (
	id   TEXT PRIMARY KEY,
	data TEXT NOT NULL
);

-- connect_codes are the authorization codes of the Connect page, each
-- traded once for its account.
CREATE TABLE IF NOT EXISTS connect_codes (
	id   TEXT PRIMARY KEY,
	data TEXT NOT NULL
);

-- meter_events are the operator account's billing meter events, by
-- identifier: one sent twice counts once.
CREATE TABLE IF NOT EXISTS meter_events (
	id   TEXT PRIMARY KEY,
	data TEXT NOT NULL
);
