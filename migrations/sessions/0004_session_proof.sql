-- 1 when the session's own login proved it is its UUID's merchant (the login created the UUID, or
-- a Facebook user who linked one of its pages logged in): only then may its logins link new shops
-- and pages to that UUID. Sessions bound before this column prove nothing.
ALTER TABLE sessions ADD COLUMN proven INTEGER NOT NULL DEFAULT 0;
