import { z } from "zod";
import { statusRows } from "./status-rows";

/**
 * Per shop, what the operator needs to see (table `shop_status`, docs/shopify.md): the last
 * catalogue sync (when, ok or a short reason code, how long, how many products, paged or bulk,
 * Admin API calls), when the last good one wrote the shop's files (the merchant's page shows it
 * with the product count), and the last check of its webhook subscriptions (when, ok or which
 * topics were missing). Reason codes only, never error text: error text can carry shop data or URLs.
 */

export const SYNC_FAILURE_REASONS = [
  "token_dead",
  "throttled",
  "shopify_unavailable",
  "shopify_rejected",
  "query_cost",
  "bulk_failed",
  "spaces_unavailable",
  "internal",
] as const;
export type SyncFailureReason = (typeof SYNC_FAILURE_REASONS)[number];

export type SyncOutcome =
  | { ok: true; ms: number; products: number; mode: "paged" | "bulk"; apiCalls: number }
  | { ok: false; ms: number; reason: SyncFailureReason; apiCalls?: number };

export interface ShopStatus {
  shop: string;
  sync: {
    at: number;
    result: "ok" | "failed";
    reason: SyncFailureReason | null;
    ms: number | null;
    products: number | null;
    mode: "paged" | "bulk" | null;
    apiCalls: number | null;
  } | null;
  /** When the last good sync wrote the shop's files; null before one, or after a shop/redact. */
  lastSyncedAt: number | null;
  webhooks: { checkedAt: number; ok: boolean; missing: string[] } | null;
}

const rowSchema = z.object({
  shop: z.string(),
  sync_at: z.number().nullable(),
  sync_result: z.enum(["ok", "failed"]).nullable(),
  // A reason another version of the worker wrote, unknown to this one, reads as none.
  sync_reason: z.enum(SYNC_FAILURE_REASONS).nullable().catch(null),
  sync_ms: z.number().nullable(),
  sync_products: z.number().nullable(),
  sync_mode: z.enum(["paged", "bulk"]).nullable(),
  sync_api_calls: z.number().nullable(),
  webhooks_checked_at: z.number().nullable(),
  webhooks_ok: z.number().nullable(),
  webhooks_missing: z.string().nullable(),
  last_synced_at: z.number().nullable(),
});
type Row = z.infer<typeof rowSchema>;

const fromRow = (r: Row): ShopStatus => ({
  shop: r.shop,
  sync:
    r.sync_at === null || r.sync_result === null
      ? null
      : {
          at: r.sync_at,
          result: r.sync_result,
          reason: r.sync_reason,
          ms: r.sync_ms,
          products: r.sync_products,
          mode: r.sync_mode,
          apiCalls: r.sync_api_calls,
        },
  lastSyncedAt: r.last_synced_at,
  webhooks:
    r.webhooks_checked_at === null
      ? null
      : {
          checkedAt: r.webhooks_checked_at,
          ok: r.webhooks_ok === 1,
          missing: r.webhooks_missing ? r.webhooks_missing.split(",") : [],
        },
});

/**
 * Records how a sync of `shop` ended. A good one wrote the shop's files: its time is the shop's
 * `lastSyncedAt`; a failed one keeps that and the product count of the last good one.
 */
export async function recordSyncOutcome(db: D1Database, shop: string, at: number, outcome: SyncOutcome) {
  await db
    .prepare(
      `INSERT INTO shop_status (shop, sync_at, sync_result, sync_reason, sync_ms, sync_products, sync_mode, sync_api_calls,
         last_synced_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN ?3 = 'ok' THEN ?2 END)
       ON CONFLICT (shop) DO UPDATE SET sync_at = excluded.sync_at, sync_result = excluded.sync_result,
         sync_reason = excluded.sync_reason, sync_ms = excluded.sync_ms,
         sync_products = COALESCE(excluded.sync_products, shop_status.sync_products),
         sync_mode = COALESCE(excluded.sync_mode, shop_status.sync_mode), sync_api_calls = excluded.sync_api_calls,
         last_synced_at = COALESCE(excluded.last_synced_at, shop_status.last_synced_at)`,
    )
    .bind(
      shop,
      at,
      outcome.ok ? "ok" : "failed",
      outcome.ok ? null : outcome.reason,
      outcome.ms,
      outcome.ok ? outcome.products : null,
      outcome.ok ? outcome.mode : null,
      outcome.apiCalls ?? null,
    )
    .run();
}

/** Records a check of the shop's webhook subscriptions: the topics that were missing (none: ok). */
export async function recordWebhookHealth(db: D1Database, shop: string, at: number, missing: string[]) {
  await db
    .prepare(
      `INSERT INTO shop_status (shop, webhooks_checked_at, webhooks_ok, webhooks_missing) VALUES (?1, ?2, ?3, ?4)
       ON CONFLICT (shop) DO UPDATE SET webhooks_checked_at = excluded.webhooks_checked_at,
         webhooks_ok = excluded.webhooks_ok, webhooks_missing = excluded.webhooks_missing`,
    )
    .bind(shop, at, missing.length ? 0 : 1, missing.length ? missing.join(",") : null)
    .run();
}

const rows = statusRows("shop_status", "shop", rowSchema, fromRow);

export const shopStatus = (db: D1Database, shop: string) => rows.one(db, shop);

/** Every shop's status, in pages ordered by domain (for the console). */
export const listShopStatus = (db: D1Database, after = "", limit = 500) => rows.list(db, after, limit);

/** The status of these shops (one page of the console), by domain. */
export const shopStatusesOf = (db: D1Database, shops: string[]) => rows.of(db, shops);
