/** Links of shops and pages to their merchant's user UUID (in the `tokens` database). */

export interface ShopLink {
  shop: string;
  userUuid: string;
  installed: boolean;
}

export async function shopOwner(db: D1Database, shop: string): Promise<ShopLink | null> {
  const row = await db
    .prepare("SELECT shop, user_uuid, uninstalled_at FROM shops WHERE shop = ?1")
    .bind(shop)
    .first<{ shop: string; user_uuid: string; uninstalled_at: number | null }>();
  return row ? { shop: row.shop, userUuid: row.user_uuid, installed: row.uninstalled_at === null } : null;
}

export function linkShopStatement(db: D1Database, shop: string, userUuid: string): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO shops (shop, user_uuid, installed_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (shop) DO UPDATE SET user_uuid = excluded.user_uuid, installed_at = excluded.installed_at,
         uninstalled_at = NULL`,
    )
    .bind(shop, userUuid, Date.now());
}

export function markShopUninstalledStatement(db: D1Database, shop: string): D1PreparedStatement {
  return db.prepare("UPDATE shops SET uninstalled_at = ?2 WHERE shop = ?1").bind(shop, Date.now());
}

/** Installed shops, in pages of `limit`, ordered by domain (for the poll's fan-out). */
export async function installedShops(db: D1Database, after = "", limit = 1000): Promise<ShopLink[]> {
  const { results } = await db
    .prepare("SELECT shop, user_uuid FROM shops WHERE uninstalled_at IS NULL AND shop > ?1 ORDER BY shop LIMIT ?2")
    .bind(after, limit)
    .all<{ shop: string; user_uuid: string }>();
  return results.map((r) => ({ shop: r.shop, userUuid: r.user_uuid, installed: true }));
}

/** A queued sync older than this is taken as lost, and another is queued. */
const SYNC_CLAIM_MS = 10 * 60 * 1000;

/**
 * Marks a re-sync of an installed shop as queued, unless one already is: a burst of product
 * webhooks (a bulk edit sends hundreds) queues one sync. The sync clears the mark as it starts, so
 * a webhook that arrives during a sync queues the next one and no change is missed. The statement
 * changes one row when the caller should queue the sync.
 */
export function claimSyncStatement(db: D1Database, shop: string): D1PreparedStatement {
  const now = Date.now();
  return db
    .prepare(
      `UPDATE shops SET sync_queued_at = ?2
       WHERE shop = ?1 AND uninstalled_at IS NULL AND (sync_queued_at IS NULL OR sync_queued_at < ?3)`,
    )
    .bind(shop, now, now - SYNC_CLAIM_MS);
}

export async function releaseSync(db: D1Database, shop: string): Promise<void> {
  await db.prepare("UPDATE shops SET sync_queued_at = NULL WHERE shop = ?1").bind(shop).run();
}

export interface PageLink {
  pageId: string;
  userUuid: string;
  name: string | null;
}

export async function pageOwner(db: D1Database, pageId: string): Promise<PageLink | null> {
  const row = await db
    .prepare("SELECT page_id, user_uuid, name FROM pages WHERE page_id = ?1")
    .bind(pageId)
    .first<{ page_id: string; user_uuid: string; name: string | null }>();
  return row ? { pageId: row.page_id, userUuid: row.user_uuid, name: row.name } : null;
}

export function linkPageStatement(db: D1Database, pageId: string, userUuid: string, name: string | null) {
  return db
    .prepare(
      `INSERT INTO pages (page_id, user_uuid, name, linked_at) VALUES (?1, ?2, ?3, ?4)
       ON CONFLICT (page_id) DO UPDATE SET user_uuid = excluded.user_uuid, name = excluded.name`,
    )
    .bind(pageId, userUuid, name, Date.now());
}

/** Linked pages, in pages of `limit`, ordered by id (for the poll's fan-out). */
export async function linkedPages(db: D1Database, after = "", limit = 1000): Promise<PageLink[]> {
  const { results } = await db
    .prepare("SELECT page_id, user_uuid, name FROM pages WHERE page_id > ?1 ORDER BY page_id LIMIT ?2")
    .bind(after, limit)
    .all<{ page_id: string; user_uuid: string; name: string | null }>();
  return results.map((r) => ({ pageId: r.page_id, userUuid: r.user_uuid, name: r.name }));
}
