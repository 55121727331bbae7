-- The app-scoped Facebook user id of each login (from GET /me), so a Data Deletion Request or a
-- deauthorize callback, which name only that id, can be traced to the merchant and their pages.
CREATE TABLE facebook_users (
  facebook_user_id TEXT PRIMARY KEY,
  user_uuid TEXT NOT NULL,
  linked_at INTEGER NOT NULL,
  deauthorized_at INTEGER
);
CREATE INDEX facebook_users_user ON facebook_users (user_uuid);

-- Which Facebook user granted which page at a login (a page can be granted by several admins).
-- linked = 1 for the one who linked the page to its owner (or, for a page linked before this table,
-- the first of its owner's logins to grant it): their Data Deletion Request deletes the page's files.
CREATE TABLE facebook_page_grants (
  page_id TEXT NOT NULL,
  facebook_user_id TEXT NOT NULL,
  granted_at INTEGER NOT NULL,
  linked INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (page_id, facebook_user_id)
);
CREATE INDEX facebook_page_grants_user ON facebook_page_grants (facebook_user_id);

-- Data Deletion Requests: one row per signed request (same user and issued_at = same request),
-- with what was deleted, counted. The code is the confirmation code shown to the person.
CREATE TABLE facebook_deletions (
  code TEXT PRIMARY KEY,
  facebook_user_id TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  user_uuid TEXT,
  status TEXT NOT NULL CHECK (status IN ('received', 'in_progress', 'done')),
  pages INTEGER NOT NULL DEFAULT 0,
  tokens_deleted INTEGER NOT NULL DEFAULT 0,
  objects_deleted INTEGER NOT NULL DEFAULT 0,
  conversations_forgotten INTEGER NOT NULL DEFAULT 0,
  requested_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (facebook_user_id, issued_at)
);

-- Per page, for the daily poll and the operator: the poll's saved cursor (a long history is polled
-- in bounded jobs), the last poll's result, the last webhook, the subscription's health and
-- whether the page token died (so it is not retried forever).
CREATE TABLE facebook_page_status (
  page_id TEXT PRIMARY KEY,
  poll_cursor TEXT,
  poll_started_at INTEGER,
  poll_jobs INTEGER NOT NULL DEFAULT 0,
  poll_calls INTEGER NOT NULL DEFAULT 0,
  last_poll_at INTEGER,
  last_poll_result TEXT,
  last_poll_duration_ms INTEGER,
  last_poll_calls INTEGER,
  last_poll_jobs INTEGER,
  last_webhook_at INTEGER,
  subscription_health TEXT,
  subscription_checked_at INTEGER,
  token_state TEXT NOT NULL DEFAULT 'active' CHECK (token_state IN ('active', 'dead')),
  token_error TEXT
);
