-- Each environment's subscriptions, usage and orders summed by the raw
-- values the metrics' rules read (a subscription's status and whether it
-- cancels; a usage period's end; whether an order was oversold), kept by
-- triggers as rows change. The metrics apply their rules to these few rows
-- instead of every end user's and order's.
CREATE TABLE subscription_totals (
    environment_id        INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    status                TEXT NOT NULL,
    cancel_at_period_end  INTEGER NOT NULL,
    subscriptions         INTEGER NOT NULL,
    amount_cents          INTEGER NOT NULL,
    PRIMARY KEY (environment_id, status, cancel_at_period_end)
) WITHOUT ROWID;

CREATE TABLE usage_totals (
    environment_id  INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    period_end      TEXT NOT NULL,
    count           INTEGER NOT NULL,
    PRIMARY KEY (environment_id, period_end)
) WITHOUT ROWID;

CREATE TABLE order_totals (
    environment_id  INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    oversold        INTEGER NOT NULL,
    orders          INTEGER NOT NULL,
    amount_cents    INTEGER NOT NULL,
    PRIMARY KEY (environment_id, oversold)
) WITHOUT ROWID;

INSERT INTO subscription_totals
    SELECT environment_id, status, cancel_at_period_end, count(*), coalesce(sum(amount_cents), 0)
    FROM subscriptions GROUP BY 1, 2, 3;
INSERT INTO usage_totals SELECT environment_id, period_end, sum(count) FROM usage_counters GROUP BY 1, 2;
INSERT INTO order_totals SELECT environment_id, oversold, count(*), sum(amount_cents) FROM orders GROUP BY 1, 2;

CREATE TRIGGER subscriptions_added AFTER INSERT ON subscriptions BEGIN
    INSERT INTO subscription_totals VALUES (NEW.environment_id, NEW.status, NEW.cancel_at_period_end, 1, coalesce(NEW.amount_cents, 0))
        ON CONFLICT DO UPDATE SET subscriptions = subscriptions + 1, amount_cents = amount_cents + excluded.amount_cents;
END;
CREATE TRIGGER subscriptions_removed AFTER DELETE ON subscriptions BEGIN
    UPDATE subscription_totals SET subscriptions = subscriptions - 1, amount_cents = amount_cents - coalesce(OLD.amount_cents, 0)
        WHERE environment_id = OLD.environment_id AND status = OLD.status AND cancel_at_period_end = OLD.cancel_at_period_end;
END;
CREATE TRIGGER subscriptions_changed AFTER UPDATE OF status, cancel_at_period_end, amount_cents ON subscriptions BEGIN
    UPDATE subscription_totals SET subscriptions = subscriptions - 1, amount_cents = amount_cents - coalesce(OLD.amount_cents, 0)
        WHERE environment_id = OLD.environment_id AND status = OLD.status AND cancel_at_period_end = OLD.cancel_at_period_end;
    INSERT INTO subscription_totals VALUES (NEW.environment_id, NEW.status, NEW.cancel_at_period_end, 1, coalesce(NEW.amount_cents, 0))
        ON CONFLICT DO UPDATE SET subscriptions = subscriptions + 1, amount_cents = amount_cents + excluded.amount_cents;
END;

-- An increment within a period adds to the row of its end; a new period
-- moves the counter to the row of its end. A row left at zero goes, and
-- comes back with the next units of its period.
CREATE TRIGGER usage_added AFTER INSERT ON usage_counters BEGIN
    INSERT INTO usage_totals VALUES (NEW.environment_id, NEW.period_end, NEW.count)
        ON CONFLICT DO UPDATE SET count = count + excluded.count;
END;
CREATE TRIGGER usage_removed AFTER DELETE ON usage_counters BEGIN
    UPDATE usage_totals SET count = count - OLD.count WHERE environment_id = OLD.environment_id AND period_end = OLD.period_end;
    DELETE FROM usage_totals WHERE environment_id = OLD.environment_id AND period_end = OLD.period_end AND count = 0;
END;
CREATE TRIGGER usage_counted AFTER UPDATE OF count, period_end ON usage_counters WHEN OLD.period_end = NEW.period_end BEGIN
    INSERT INTO usage_totals VALUES (NEW.environment_id, NEW.period_end, NEW.count - OLD.count)
        ON CONFLICT DO UPDATE SET count = count + excluded.count;
END;
CREATE TRIGGER usage_moved AFTER UPDATE OF count, period_end ON usage_counters WHEN OLD.period_end IS NOT NEW.period_end BEGIN
    UPDATE usage_totals SET count = count - OLD.count WHERE environment_id = OLD.environment_id AND period_end = OLD.period_end;
    DELETE FROM usage_totals WHERE environment_id = OLD.environment_id AND period_end = OLD.period_end AND count = 0;
    INSERT INTO usage_totals VALUES (NEW.environment_id, NEW.period_end, NEW.count)
        ON CONFLICT DO UPDATE SET count = count + excluded.count;
END;

CREATE TRIGGER orders_added AFTER INSERT ON orders BEGIN
    INSERT INTO order_totals VALUES (NEW.environment_id, NEW.oversold, 1, NEW.amount_cents)
        ON CONFLICT DO UPDATE SET orders = orders + 1, amount_cents = amount_cents + excluded.amount_cents;
END;
CREATE TRIGGER orders_removed AFTER DELETE ON orders BEGIN
    UPDATE order_totals SET orders = orders - 1, amount_cents = amount_cents - OLD.amount_cents
        WHERE environment_id = OLD.environment_id AND oversold = OLD.oversold;
END;
CREATE TRIGGER orders_changed AFTER UPDATE OF oversold, amount_cents ON orders BEGIN
    UPDATE order_totals SET orders = orders - 1, amount_cents = amount_cents - OLD.amount_cents
        WHERE environment_id = OLD.environment_id AND oversold = OLD.oversold;
    INSERT INTO order_totals VALUES (NEW.environment_id, NEW.oversold, 1, NEW.amount_cents)
        ON CONFLICT DO UPDATE SET orders = orders + 1, amount_cents = amount_cents + excluded.amount_cents;
END;
