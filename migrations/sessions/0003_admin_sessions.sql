-- The operator console's sign-ins. id is the SHA-256 of the cookie value (as for sessions): a dump
-- never holds a usable cookie. They live an hour and are not extended.
CREATE TABLE admin_sessions (
  id TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);

-- Wrong admin tokens per client (SHA-256 of its address), so guessing is slowed.
CREATE TABLE admin_sign_in_failures (
  client TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  window_start INTEGER NOT NULL
);
