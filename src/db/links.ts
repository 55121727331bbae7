import type { Query } from "./group-commit";
import type { JournaledWrite } from "./journaled";
import { facebookUserTokenKey, pageTokenKey, shopTokenKey, type TokenInput, type TokenStore } from "./tokens";
import { z } from "zod";
import { allRows, firstRow, firstRowOf } from "./rows";

/**
 * Links of shops and pages to their merchant's user UUID (in the `tokens` database).
 *
 * The identity rule (docs/identity.md): a linked shop or page never changes owner by an
 * install or a login. Every statement here that can meet an existing link leaves `user_uuid` as
 * it is and returns the owner it found; `LinkStore.relinkShop` / `relinkPage` (the operator's
 * `npm run relink`) are the only writes that change one.
 */

export interface ShopLink {
  shop: string;
  userUuid: string;
  installed: boolean;
}

const shopRow = z.object({ shop: z.string(), user_uuid: z.string(), uninstalled_at: z.number().nullable() });
const shopLink = (row: z.infer<typeof shopRow> | null | undefined): ShopLink | null =>
  row ? { shop: row.shop, userUuid: row.user_uuid, installed: row.uninstalled_at === null } : null;

/** The shop's link as a query, to travel in a batch with others (`shopOwnerOf` reads its result). */
export function shopOwnerQuery(shop: string): Query {
  return { sql: "SELECT shop, user_uuid, uninstalled_at FROM shops WHERE shop = ?1", params: [shop] };
}

export const shopOwnerOf = (result: D1Result | undefined): ShopLink | null => shopLink(firstRowOf(result, shopRow));

export async function shopOwner(db: D1Database, shop: string): Promise<ShopLink | null> {
  const q = shopOwnerQuery(shop);
  return shopLink(await firstRow(db.prepare(q.sql).bind(...q.params), shopRow));
}

/** Links a shop unless it is linked already (then only its install time changes); returns the owner. */
function linkShopWrite(db: D1Database, shop: string, candidateUuid: string): JournaledWrite {
  return {
    statement: db
      .prepare(
        `INSERT INTO shops (shop, user_uuid, installed_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (shop) DO UPDATE SET installed_at = excluded.installed_at, uninstalled_at = NULL
         RETURNING user_uuid`,
      )
      .bind(shop, candidateUuid, Date.now()),
    ref: { table: "shops", key: shop },
  };
}

/** Installed shops, in pages of `limit`, ordered by domain (for the poll's fan-out). */
export async function installedShops(db: D1Database, after = "", limit = 1000): Promise<ShopLink[]> {
  const rows = await allRows(
    db
      .prepare("SELECT shop, user_uuid FROM shops WHERE uninstalled_at IS NULL AND shop > ?1 ORDER BY shop LIMIT ?2")
      .bind(after, limit),
    z.object({ shop: z.string(), user_uuid: z.string() }),
  );
  return rows.map((r) => ({ shop: r.shop, userUuid: r.user_uuid, installed: true }));
}

export interface PageLink {
  pageId: string;
  userUuid: string;
  name: string | null;
}

const pageLinkRow = z.object({ page_id: z.string(), user_uuid: z.string(), name: z.string().nullable() });

export async function pageOwner(db: D1Database, pageId: string): Promise<PageLink | null> {
  const row = await firstRow(
    db.prepare("SELECT page_id, user_uuid, name FROM pages WHERE page_id = ?1").bind(pageId),
    pageLinkRow,
  );
  return row ? { pageId: row.page_id, userUuid: row.user_uuid, name: row.name } : null;
}

/** Links a page unless it is linked already (then only its name changes); returns the owner. */
function linkPageWrite(db: D1Database, pageId: string, candidateUuid: string, name: string | null): JournaledWrite {
  return {
    statement: db
      .prepare(
        `INSERT INTO pages (page_id, user_uuid, name, linked_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (page_id) DO UPDATE SET name = COALESCE(excluded.name, pages.name)
         RETURNING user_uuid`,
      )
      .bind(pageId, candidateUuid, name, Date.now()),
    ref: { table: "pages", key: pageId },
  };
}

/** Linked pages, in pages of `limit`, ordered by id (for the poll's fan-out). */
export async function linkedPages(db: D1Database, after = "", limit = 1000): Promise<PageLink[]> {
  const rows = await allRows(
    db
      .prepare("SELECT page_id, user_uuid, name FROM pages WHERE page_id > ?1 ORDER BY page_id LIMIT ?2")
      .bind(after, limit),
    pageLinkRow,
  );
  return rows.map((r) => ({ pageId: r.page_id, userUuid: r.user_uuid, name: r.name }));
}

const ownerOf = (result: D1Result | undefined) => firstRowOf(result, z.object({ user_uuid: z.string() }))?.user_uuid;

/** A page granted at a Facebook login, with its page token. */
export interface GrantedPage {
  id: string;
  name: string | null;
  accessToken: string;
}

/** What `linkPages` did: each page's owner after it, and which of them belong to another UUID. */
export interface PageLinkOutcome {
  owners: Record<string, string>;
  /** Page ids already linked to a UUID other than the login's: token refreshed, link kept. */
  ownedByOthers: string[];
}

/**
 * Writes of shop and page links together with their tokens, each in one transaction and journaled
 * (through the token store). No method moves a link but the two relinks.
 */
export class LinkStore {
  constructor(
    private readonly db: D1Database,
    private readonly tokens: TokenStore,
  ) {}

  shopOwner(shop: string) {
    return shopOwner(this.db, shop);
  }

  pageOwner(pageId: string) {
    return pageOwner(this.db, pageId);
  }

  /**
   * An install: stores the shop's token and links the shop to `candidateUuid`, unless it is
   * linked already, in which case the token is refreshed and the link stays. Returns the owner.
   */
  async installShop(shop: string, grant: Omit<TokenInput, "key">, candidateUuid: string): Promise<string> {
    const [link] = await this.tokens.commit({
      put: [{ key: shopTokenKey(shop), ...grant }],
      rows: [linkShopWrite(this.db, shop, candidateUuid)],
    });
    return ownerOf(link) ?? candidateUuid;
  }

  /**
   * A Facebook login: stores the page tokens (and the user token under its Facebook user, when
   * given) and links each page to `userUuid` unless it is linked already. A page linked to another
   * UUID keeps its owner (its token is refreshed) and is listed in `ownedByOthers`.
   */
  async linkPages(
    pages: GrantedPage[],
    userUuid: string,
    userToken?: { facebookUserId: string; accessToken: string; expiresAt?: number },
  ): Promise<PageLinkOutcome> {
    const results = await this.tokens.commit({
      put: [
        ...(userToken
          ? [
              {
                key: facebookUserTokenKey(userToken.facebookUserId),
                accessToken: userToken.accessToken,
                expiresAt: userToken.expiresAt,
              },
            ]
          : []),
        ...pages.map((p) => ({ key: pageTokenKey(p.id), accessToken: p.accessToken })),
      ],
      rows: pages.map((p) => linkPageWrite(this.db, p.id, userUuid, p.name)),
    });
    const owners: Record<string, string> = {};
    pages.forEach((p, i) => (owners[p.id] = ownerOf(results[i]) ?? userUuid));
    return { owners, ownedByOthers: pages.filter((p) => owners[p.id] !== userUuid).map((p) => p.id) };
  }

  /** The page's name as Meta last gave it (the link stays). */
  async setPageName(pageId: string, name: string | null): Promise<void> {
    await this.tokens.commit({
      rows: [
        {
          statement: this.db.prepare("UPDATE pages SET name = ?2 WHERE page_id = ?1").bind(pageId, name),
          ref: { table: "pages", key: pageId },
        },
      ],
    });
  }

  /**
   * The operator's move of a shop to another UUID (`npm run relink`); the files are moved by the
   * caller. Returns the previous owner, or null when the shop is not linked.
   */
  async relinkShop(shop: string, toUuid: string): Promise<string | null> {
    return this.relink("shops", "shop", shop, toUuid);
  }

  /** The operator's move of a page to another UUID; returns the previous owner, or null. */
  async relinkPage(pageId: string, toUuid: string): Promise<string | null> {
    return this.relink("pages", "page_id", pageId, toUuid);
  }

  private async relink(table: "shops" | "pages", column: string, key: string, toUuid: string) {
    const before = table === "shops" ? await this.shopOwner(key) : await this.pageOwner(key);
    if (!before) return null;
    await this.tokens.commit({
      rows: [
        {
          statement: this.db.prepare(`UPDATE ${table} SET user_uuid = ?2 WHERE ${column} = ?1`).bind(key, toUuid),
          ref: { table, key },
        },
      ],
    });
    return before.userUuid;
  }
}
