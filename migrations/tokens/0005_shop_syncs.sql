-- What the merchant's page (GET /shopify) shows of a shop's last good sync: figures derived from
-- Shopify, kept apart from the `shops` link rows (which the backup journal records and restores
-- whole). Independent of the other 0005 file, so their order does not matter. The columns
-- shops.last_synced_at and shops.product_count of 0005_webhook_events_and_sync_figures.sql are
-- superseded by this table and unused.
CREATE TABLE shop_syncs (
  shop TEXT PRIMARY KEY,
  last_synced_at INTEGER NOT NULL,
  product_count INTEGER NOT NULL
);
