/**
 * What the operator console reads from the `tokens` database: merchants (user UUIDs) in pages,
 * found by shop, page or UUID, with their shops, pages and the state (never the value) of their
 * tokens. Read-only.
 */
import { z } from "zod";
import { tokenStateRow, type TokenStateRow } from "../db/tokens";
import { firstRowOf, rowsOf } from "../db/rows";

export interface MerchantPageQuery {
  /** Part of a shop domain, page name or page id, or the start of a user UUID; empty for all. */
  search: string;
  offset: number;
  limit: number;
}

const shopRow = z.object({
  shop: z.string(),
  user_uuid: z.string(),
  installed_at: z.number(),
  uninstalled_at: z.number().nullable(),
});
export type ShopRow = z.infer<typeof shopRow>;

const pageRow = z.object({
  page_id: z.string(),
  user_uuid: z.string(),
  name: z.string().nullable(),
  linked_at: z.number(),
});
export type PageRow = z.infer<typeof pageRow>;

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
    total: firstRowOf(count, z.object({ total: z.number() }))?.total ?? 0,
    userUuids: rowsOf(rows, z.object({ user_uuid: z.string() })).map((r) => r.user_uuid),
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
        `SELECT shop, user_uuid, installed_at, uninstalled_at FROM shops
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
    shops: rowsOf(shops, shopRow),
    pages: rowsOf(pages, pageRow),
    tokens: rowsOf(tokens, tokenStateRow),
    lastWebhooks: new Map(rowsOf(webhooks, z.object({ shop: z.string(), at: z.number() })).map((r) => [r.shop, r.at])),
  };
}

/** Cheap reachability probes of both databases (no table scans). */
export const probeTokensDb = (db: D1Database) => db.prepare("SELECT 1 FROM tokens LIMIT 1").first();
export const probeSessionsDb = (db: D1Database) => db.prepare("SELECT 1 FROM sessions LIMIT 1").first();
