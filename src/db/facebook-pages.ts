import { z } from "zod";
import { allRows, firstRow } from "./rows";
import { pageTokenKey, tokenStateRow, type TokenStateRow } from "./tokens";

/**
 * Which pages are written. A page is written (webhooks merge, polls run, files upload) only while it
 * is linked to a user AND its page token is stored: a deauthorize or a data deletion removes the
 * token, so the page stops being written while its link (and, after a deauthorize, its files) stay.
 * Both rows are journaled, so a restore keeps a stopped page stopped.
 */

export interface WritablePage {
  pageId: string;
  userUuid: string;
  name: string | null;
}

const TOKEN_PREFIX = pageTokenKey("");

/** The owner of a page that may be written now, or null. */
export async function writablePageOwner(db: D1Database, pageId: string): Promise<WritablePage | null> {
  const row = await firstRow(
    db
      .prepare(
        `SELECT p.page_id, p.user_uuid, p.name FROM pages p JOIN tokens t ON t.key = ?2 || p.page_id WHERE p.page_id = ?1`,
      )
      .bind(pageId, TOKEN_PREFIX),
    z.object({ page_id: z.string(), user_uuid: z.string(), name: z.string().nullable() }),
  );
  return row ? { pageId: row.page_id, userUuid: row.user_uuid, name: row.name } : null;
}

/** The current owners of these pages (linked or not: a missing page is simply absent). */
export async function pageOwners(db: D1Database, pageIds: string[]): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  for (let i = 0; i < pageIds.length; i += 50) {
    const ids = pageIds.slice(i, i + 50);
    const rows = await allRows(
      db
        .prepare(`SELECT page_id, user_uuid FROM pages WHERE page_id IN (${ids.map((_, k) => `?${k + 1}`).join(",")})`)
        .bind(...ids),
      z.object({ page_id: z.string(), user_uuid: z.string() }),
    );
    for (const r of rows) owners.set(r.page_id, r.user_uuid);
  }
  return owners;
}

/** A page linked to an account, with the bookkeeping of its token (none when it was removed). */
export interface PageOfUser {
  id: string;
  name: string | null;
  token: Pick<TokenStateRow, "status" | "expires_at" | "refresh_expires_at" | "has_refresh"> | undefined;
}

/** A page and its token's bookkeeping: null columns (and `has_refresh` 0) when the page has no token. */
const pageOfUserRow = z.object({
  page_id: z.string(),
  name: z.string().nullable(),
  status: tokenStateRow.shape.status.nullable(),
  expires_at: z.number().nullable(),
  refresh_expires_at: z.number().nullable(),
  has_refresh: z.number(),
});

/** The pages linked to an account, by name, with their tokens' state (the merchant's home page lists them). */
export async function pagesOfUser(db: D1Database, userUuid: string): Promise<PageOfUser[]> {
  const rows = await allRows(
    db
      .prepare(
        `SELECT p.page_id, p.name, t.status, t.expires_at, t.refresh_expires_at, t.refresh_token IS NOT NULL AS has_refresh
       FROM pages p LEFT JOIN tokens t ON t.key = ?2 || p.page_id
       WHERE p.user_uuid = ?1 ORDER BY p.name, p.page_id`,
      )
      .bind(userUuid, TOKEN_PREFIX),
    pageOfUserRow,
  );
  return rows.map((r) => ({
    id: r.page_id,
    name: r.name,
    token: r.status
      ? {
          status: r.status,
          expires_at: r.expires_at,
          refresh_expires_at: r.refresh_expires_at,
          has_refresh: r.has_refresh,
        }
      : undefined,
  }));
}
