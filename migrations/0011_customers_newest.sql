-- The customers list pages newest first: this index walks an environment's
-- end users in that order and holds what a search tests (the email, and
-- the user id of the primary key), so a page reads the rows it shows and
-- the ones it skips from the index alone.
CREATE INDEX end_users_created ON end_users (environment_id, created_at, email);
