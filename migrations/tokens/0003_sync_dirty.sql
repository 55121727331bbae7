-- A product webhook arrived while the shop's sync was queued or running: sync once more after it.
ALTER TABLE shops ADD COLUMN sync_dirty INTEGER NOT NULL DEFAULT 0;
