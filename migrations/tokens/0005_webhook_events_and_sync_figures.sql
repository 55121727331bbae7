-- X-Shopify-Event-Id is the same for every delivery of one event (each delivery has its own
-- X-Shopify-Webhook-Id): an event reaching the worker twice is acted on once.
ALTER TABLE webhook_deliveries ADD COLUMN event_id TEXT;
CREATE UNIQUE INDEX webhook_deliveries_event ON webhook_deliveries (shop, topic, event_id) WHERE event_id IS NOT NULL;

-- What the merchant's page (GET /shopify) shows of a shop's last good sync: figures derived from
-- Shopify, kept apart from the `shops` link rows (which the backup journal records and restores whole).
CREATE TABLE shop_syncs (
  shop TEXT PRIMARY KEY,
  last_synced_at INTEGER NOT NULL,
  product_count INTEGER NOT NULL
);
