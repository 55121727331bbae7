-- X-Shopify-Event-Id is the same for every delivery of one event (each delivery has its own
-- X-Shopify-Webhook-Id): an event reaching the worker twice is acted on once.
ALTER TABLE webhook_deliveries ADD COLUMN event_id TEXT;
CREATE UNIQUE INDEX webhook_deliveries_event ON webhook_deliveries (shop, topic, event_id) WHERE event_id IS NOT NULL;
-- What the merchant's page (GET /shopify) shows of the last good sync.
ALTER TABLE shops ADD COLUMN last_synced_at INTEGER;
ALTER TABLE shops ADD COLUMN product_count INTEGER;
