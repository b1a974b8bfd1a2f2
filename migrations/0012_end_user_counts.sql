-- How many end users each environment has, kept by triggers as rows come
-- and go, so that the customers list shows its total without counting
-- them. An upsert that finds its user updates the row and fires neither.
CREATE TABLE end_user_counts (
    environment_id  INTEGER PRIMARY KEY REFERENCES environments(id) ON DELETE CASCADE,
    count           INTEGER NOT NULL CHECK (count >= 0)
);

INSERT INTO end_user_counts (environment_id, count)
    SELECT environment_id, count(*) FROM end_users GROUP BY environment_id;

CREATE TRIGGER end_users_counted AFTER INSERT ON end_users BEGIN
    INSERT INTO end_user_counts (environment_id, count) VALUES (NEW.environment_id, 1)
        ON CONFLICT (environment_id) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER end_users_uncounted AFTER DELETE ON end_users BEGIN
    UPDATE end_user_counts SET count = count - 1 WHERE environment_id = OLD.environment_id;
END;
