-- Every user UUID each Facebook user logged in under (a person can have several: two browsers, or a
-- merchant's session and their own), so a Data Deletion Request covers all of them. Until now
-- facebook_users.user_uuid held only the latest; it now keeps the first and is no longer changed.
CREATE TABLE facebook_user_accounts (
  facebook_user_id TEXT NOT NULL,
  user_uuid TEXT NOT NULL,
  first_login_at INTEGER NOT NULL,
  last_login_at INTEGER NOT NULL,
  PRIMARY KEY (facebook_user_id, user_uuid)
);
CREATE INDEX facebook_user_accounts_user ON facebook_user_accounts (user_uuid);

INSERT INTO facebook_user_accounts (facebook_user_id, user_uuid, first_login_at, last_login_at)
  SELECT facebook_user_id, user_uuid, linked_at, linked_at FROM facebook_users;

-- User tokens are kept per Facebook user (facebook:user:<facebook_user_id>) from now on. The old
-- ones were kept per UUID, where one Facebook user's login replaced another's; nothing reads a user
-- token, and each Facebook user's next login stores theirs again.
DELETE FROM tokens WHERE key LIKE 'facebook:user:%-%';
