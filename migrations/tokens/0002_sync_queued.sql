-- When a shop's re-sync was queued: a burst of product webhooks queues one sync, not one each.
ALTER TABLE shops ADD COLUMN sync_queued_at INTEGER;
