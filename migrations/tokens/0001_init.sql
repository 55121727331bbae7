-- Tokens, encrypted at rest (AES-GCM, see src/lib/crypto.ts), one row per credential.
-- key: 'shopify:<shop>.myshopify.com' or 'facebook:page:<page_id>' or 'facebook:user:<user_uuid>'.
CREATE TABLE tokens (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  refresh_token TEXT,
  expires_at INTEGER,
  refresh_expires_at INTEGER,
  scope TEXT,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'needs_reauth')),
  updated_at INTEGER NOT NULL
);

-- One user UUID per merchant: the links survive re-installs and restores.
CREATE TABLE shops (
  shop TEXT PRIMARY KEY,
  user_uuid TEXT NOT NULL,
  installed_at INTEGER NOT NULL,
  uninstalled_at INTEGER
);
CREATE INDEX shops_user ON shops (user_uuid);

CREATE TABLE pages (
  page_id TEXT PRIMARY KEY,
  user_uuid TEXT NOT NULL,
  name TEXT,
  linked_at INTEGER NOT NULL
);
CREATE INDEX pages_user ON pages (user_uuid);

-- Shopify webhook ids already accepted: a redelivery is acted on once.
CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,
  topic TEXT NOT NULL,
  shop TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_age ON webhook_deliveries (received_at);
