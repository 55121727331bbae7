-- shop_syncs (0005) folded into shop_status: one row of derived sync state per shop. The last good
-- sync's product count is shop_status.sync_products already (a failed sync keeps it); its time is
-- the new last_synced_at (sync_at is the last sync's, good or failed). Neither table is journaled:
-- a restore of an older dump gets shop_syncs back, and this migration folds it in again.
ALTER TABLE shop_status ADD COLUMN last_synced_at INTEGER;
INSERT INTO shop_status (shop, last_synced_at, sync_products)
  SELECT shop, last_synced_at, product_count FROM shop_syncs WHERE true
  ON CONFLICT (shop) DO UPDATE SET last_synced_at = excluded.last_synced_at, sync_products = excluded.sync_products;
DROP TABLE shop_syncs;
