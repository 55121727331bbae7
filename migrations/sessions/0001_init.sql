-- Browser sessions. id is the SHA-256 of the cookie value: a dump never holds a usable cookie.
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_uuid TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);

-- OAuth states: random, bound to one session, single use, expiring.
CREATE TABLE oauth_states (
  state TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  provider TEXT NOT NULL CHECK (provider IN ('shopify', 'facebook')),
  shop TEXT,
  expires_at INTEGER NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);
