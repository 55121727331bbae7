import { z } from "zod";
import type { RowJournal } from "../backup/journal";
import { commitJournaled } from "./journaled";
import { firstRow } from "./rows";
import { shopTokenKey } from "./tokens";

/**
 * A shop's install as D1 knows it (tables `shops` and `tokens`), and the destructive changes
 * Shopify asks for (`app/uninstalled`, `shop/redact`). Every change is journalled here, so callers
 * cannot forget to.
 */

export interface InstallRecord {
  shop: string;
  userUuid: string;
  /** Epoch ms of the latest install. */
  installedAt: number;
  uninstalledAt: number | null;
  lastSyncedAt: number | null;
  productCount: number | null;
  /** The shop's token without its secret parts; null when there is none. */
  token: {
    status: "active" | "needs_reauth";
    scope: string | null;
    expiresAt: number | null;
    refreshExpiresAt: number | null;
    hasRefreshToken: boolean;
  } | null;
}

const installRow = z.object({
  shop: z.string(),
  user_uuid: z.string(),
  installed_at: z.number(),
  uninstalled_at: z.number().nullable(),
  last_synced_at: z.number().nullable(),
  product_count: z.number().nullable(),
  token_status: z.enum(["active", "needs_reauth"]).nullable(),
  scope: z.string().nullable(),
  expires_at: z.number().nullable(),
  refresh_expires_at: z.number().nullable(),
  has_refresh: z.number().nullable(),
});

/** The shop's link and token state, or null when the shop was never installed. */
export async function readInstall(db: D1Database, shop: string): Promise<InstallRecord | null> {
  const row = await firstRow(
    db
      .prepare(
        `SELECT s.shop, s.user_uuid, s.installed_at, s.uninstalled_at, y.last_synced_at,
         CASE WHEN y.last_synced_at IS NULL THEN NULL ELSE y.sync_products END AS product_count,
         t.status AS token_status, t.scope, t.expires_at, t.refresh_expires_at,
         t.refresh_token IS NOT NULL AS has_refresh
       FROM shops s LEFT JOIN tokens t ON t.key = ?2 LEFT JOIN shop_status y ON y.shop = s.shop
       WHERE s.shop = ?1`,
      )
      .bind(shop, shopTokenKey(shop)),
    installRow,
  );
  if (!row) return null;
  return {
    shop: row.shop,
    userUuid: row.user_uuid,
    installedAt: row.installed_at,
    uninstalledAt: row.uninstalled_at,
    lastSyncedAt: row.last_synced_at,
    productCount: row.product_count,
    token: row.token_status
      ? {
          status: row.token_status,
          scope: row.scope,
          expiresAt: row.expires_at,
          refreshExpiresAt: row.refresh_expires_at,
          hasRefreshToken: row.has_refresh === 1,
        }
      : null,
  };
}

const changed = (result: D1Result) => result.meta.changes > 0;

export class ShopLifecycle {
  constructor(
    private readonly db: D1Database,
    private readonly journal: RowJournal,
  ) {}

  /**
   * `app/uninstalled` triggered at `triggeredAt`: the token is deleted and the shop marked
   * uninstalled, in one transaction and only if the latest install came before the event (a retry
   * that arrives after a reinstall changes nothing). Returns whether it acted.
   */
  async uninstall(shop: string, triggeredAt: number, journalDeadlineMs?: number): Promise<boolean> {
    const [marked] = await commitJournaled(
      this.db,
      this.journal,
      [
        {
          statement: this.db
            .prepare(
              "UPDATE shops SET uninstalled_at = COALESCE(uninstalled_at, ?3) WHERE shop = ?1 AND installed_at < ?2",
            )
            .bind(shop, triggeredAt, Date.now()),
          ref: (r) => (changed(r) ? [{ table: "shops", key: shop }] : []),
        },
        {
          statement: this.db
            .prepare(
              "DELETE FROM tokens WHERE key = ?1 AND EXISTS (SELECT 1 FROM shops WHERE shop = ?2 AND installed_at < ?3)",
            )
            .bind(shopTokenKey(shop), shop, triggeredAt),
          ref: (r) => (changed(r) ? [{ table: "tokens", key: shopTokenKey(shop) }] : []),
        },
      ],
      journalDeadlineMs,
    );
    return changed(marked!);
  }

  /**
   * `shop/redact` triggered at `triggeredAt`: the shop's token and sync figures are deleted if the
   * latest install came before the event (the shop's files are the redact job's). Returns whether
   * a token was deleted.
   */
  async redactToken(shop: string, triggeredAt: number, journalDeadlineMs?: number): Promise<boolean> {
    const installedBefore = "EXISTS (SELECT 1 FROM shops WHERE shop = ?2 AND installed_at < ?3)";
    const [token] = await commitJournaled(
      this.db,
      this.journal,
      [
        {
          statement: this.db
            .prepare(`DELETE FROM tokens WHERE key = ?1 AND ${installedBefore}`)
            .bind(shopTokenKey(shop), shop, triggeredAt),
          ref: (r) => (changed(r) ? [{ table: "tokens", key: shopTokenKey(shop) }] : []),
        },
        {
          statement: this.db
            .prepare(
              `UPDATE shop_status SET last_synced_at = NULL, sync_products = NULL WHERE shop = ?1 AND ${installedBefore}`,
            )
            .bind(shop, shop, triggeredAt),
          ref: null,
        },
      ],
      journalDeadlineMs,
    );
    return changed(token!);
  }
}
