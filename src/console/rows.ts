/**
 * What the operator console reads from the `tokens` database: merchants (user UUIDs) in pages,
 * found by shop, page or UUID, with their shops, pages and the state (never the value) of their
 * tokens. Read-only.
 */
import type { TokenStateRow } from "../db/tokens";

export interface MerchantPageQuery {
  /** Part of a shop domain, page name or page id, or the start of a user UUID; empty for all. */
  search: string;
  offset: number;
  limit: number;
}

export interface ShopRow {
  shop: string;
  user_uuid: string;
  installed_at: number;
  uninstalled_at: number | null;
  sync_queued_at: number | null;
}

export interface PageRow {
  page_id: string;
  user_uuid: string;
  name: string | null;
  linked_at: number;
}

const likeEscape = (text: string) => text.replace(/[\\%_]/g, (ch) => `\\${ch}`);

const MATCHING = `
  WITH matching AS (
    SELECT user_uuid FROM shops
      WHERE ?1 = '' OR shop LIKE ?2 ESCAPE '\\' OR user_uuid LIKE ?3 ESCAPE '\\'
    UNION
    SELECT user_uuid FROM pages
      WHERE ?1 = '' OR name LIKE ?2 ESCAPE '\\' OR page_id LIKE ?3 ESCAPE '\\' OR user_uuid LIKE ?3 ESCAPE '\\'
  )`;

/** One page of the user UUIDs that match, in UUID order, and how many match in all. */
export async function merchantPage(
  db: D1Database,
  query: MerchantPageQuery,
): Promise<{ total: number; userUuids: string[] }> {
  const search = query.search.trim().toLowerCase();
  const binds = [search, `%${likeEscape(search)}%`, `${likeEscape(search)}%`];
  const [count, rows] = await db.batch([
    db.prepare(`${MATCHING} SELECT COUNT(*) AS total FROM matching`).bind(...binds),
    db
      .prepare(`${MATCHING} SELECT user_uuid FROM matching ORDER BY user_uuid LIMIT ?4 OFFSET ?5`)
      .bind(...binds, query.limit, query.offset),
  ]);
  return {
    total: (count!.results[0] as { total: number } | undefined)?.total ?? 0,
    userUuids: (rows!.results as { user_uuid: string }[]).map((r) => r.user_uuid),
  };
}

/**
 * The shops, pages, token states and latest webhook of these merchants (at most a page of them),
 * in one round trip.
 */
export async function merchantLinks(
  db: D1Database,
  userUuids: string[],
): Promise<{ shops: ShopRow[]; pages: PageRow[]; tokens: TokenStateRow[]; lastWebhooks: Map<string, number> }> {
  if (!userUuids.length) return { shops: [], pages: [], tokens: [], lastWebhooks: new Map() };
  const list = JSON.stringify(userUuids);
  const theirShops = "SELECT shop FROM shops WHERE user_uuid IN (SELECT value FROM json_each(?1))";
  const theirPages = "SELECT page_id FROM pages WHERE user_uuid IN (SELECT value FROM json_each(?1))";
  const [shops, pages, tokens, webhooks] = await db.batch([
    db
      .prepare(
        `SELECT shop, user_uuid, installed_at, uninstalled_at, sync_queued_at FROM shops
         WHERE user_uuid IN (SELECT value FROM json_each(?1)) ORDER BY shop`,
      )
      .bind(list),
    db
      .prepare(
        `SELECT page_id, user_uuid, name, linked_at FROM pages
         WHERE user_uuid IN (SELECT value FROM json_each(?1)) ORDER BY page_id`,
      )
      .bind(list),
    db
      .prepare(
        `SELECT key, status, expires_at, refresh_expires_at, refresh_token IS NOT NULL AS has_refresh, updated_at
         FROM tokens WHERE key IN (
           SELECT 'shopify:' || shop FROM (${theirShops})
           UNION ALL SELECT 'facebook:page:' || page_id FROM (${theirPages}))`,
      )
      .bind(list),
    db
      .prepare(
        `SELECT shop, MAX(received_at) AS at FROM webhook_deliveries
         WHERE shop IN (${theirShops}) GROUP BY shop`,
      )
      .bind(list),
  ]);
  return {
    shops: shops!.results as unknown as ShopRow[],
    pages: pages!.results as unknown as PageRow[],
    tokens: tokens!.results as unknown as TokenStateRow[],
    lastWebhooks: new Map((webhooks!.results as { shop: string; at: number }[]).map((r) => [r.shop, r.at])),
  };
}

/** Cheap reachability probes of both databases (no table scans). */
export const probeTokensDb = (db: D1Database) => db.prepare("SELECT 1 FROM tokens LIMIT 1").first();
export const probeSessionsDb = (db: D1Database) => db.prepare("SELECT 1 FROM sessions LIMIT 1").first();
