-- What the operator console shows per shop: the last catalogue sync and the webhook subscription check.
-- Derived state, rewritten by every sync and poll (not journaled: a restore gets it back at the next poll).
CREATE TABLE shop_status (
  shop TEXT PRIMARY KEY,
  sync_at INTEGER,
  sync_result TEXT CHECK (sync_result IN ('ok', 'failed')),
  sync_reason TEXT,
  sync_ms INTEGER,
  sync_products INTEGER,
  sync_mode TEXT CHECK (sync_mode IN ('paged', 'bulk')),
  sync_api_calls INTEGER,
  webhooks_checked_at INTEGER,
  webhooks_ok INTEGER CHECK (webhooks_ok IN (0, 1)),
  webhooks_missing TEXT
);
