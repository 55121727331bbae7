import type { Query } from "./group-commit";
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
 * What a product webhook does to ask for a re-sync of an installed shop, in the batch right after
 * recording its delivery id (`changes() = 1`: a redelivered id asks for nothing). A burst of
 * webhooks (a bulk edit sends hundreds) queues one sync: while a sync is queued or running, a
 * webhook only marks the shop dirty, and the sync queues one more run when it ends if it was marked
 * meanwhile. A failing sync is retried by the queue and keeps its claim, so an outage does not pile
 * up syncs. Returns a row whose `claimed` is 1 when the caller should queue the sync.
 */
export function requestSyncQuery(shop: string): Query {
  const now = Date.now();
  return {
    sql: `UPDATE shops SET
         sync_dirty = CASE WHEN sync_queued_at IS NULL OR sync_queued_at < ?3 THEN 0 ELSE 1 END,
         sync_queued_at = CASE WHEN sync_queued_at IS NULL OR sync_queued_at < ?3 THEN ?2 ELSE sync_queued_at END
       WHERE shop = ?1 AND uninstalled_at IS NULL AND changes() = 1
       RETURNING sync_queued_at = ?2 AND sync_dirty = 0 AS claimed`,
    params: [shop, now, now - SYNC_CLAIM_MS],
  };
}

/** Gives a claim back (its job could not be queued). */
export async function releaseSync(db: D1Database, shop: string): Promise<void> {
  await db.prepare("UPDATE shops SET sync_queued_at = NULL WHERE shop = ?1").bind(shop).run();
}

/** A sync starts: it will read every change made until now. */
export async function syncStarting(db: D1Database, shop: string): Promise<void> {
  await db.prepare("UPDATE shops SET sync_dirty = 0 WHERE shop = ?1").bind(shop).run();
}

/**
 * A sync ended well: the claim is released, or kept for one more run when a webhook marked the shop
 * dirty during this one. Returns true when the caller should queue that run.
 */
export async function syncFinished(db: D1Database, shop: string): Promise<boolean> {
  const row = await db
    .prepare(
      `UPDATE shops SET sync_queued_at = CASE WHEN sync_dirty = 1 THEN ?2 ELSE NULL END, sync_dirty = 0
       WHERE shop = ?1 RETURNING sync_queued_at`,
    )
    .bind(shop, Date.now())
    .first<{ sync_queued_at: number | null }>();
  return row?.sync_queued_at != null;
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
