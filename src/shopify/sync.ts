import { z } from "zod";
import { config } from "../config";
import { log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { sha256Hex } from "../lib/signatures";
import { SpacesError, type PutResult } from "../spaces/client";
import { shopMetadataKey, shopProductsKey } from "../spaces/keys";
import { shopOwner } from "../db/links";
import { recordSyncOutcome, type SyncFailureReason } from "../db/shop-status";
import { spaces, tokenStore } from "../services";
import { catalogueStub } from "../catalogue/durable-object";
import { ShopAccess } from "./access";
import { AdminApi } from "./admin-api";
import { bulkProducts, pagedProducts, productVersions, type CatalogueProduct, type ProductSource } from "./products";
import { PRODUCTS_COUNT_QUERY, SHOP_QUERY } from "./queries";

/**
 * Catalogues of more products than this go through a bulk operation. Paged, with their variants, 15
 * products cost 722 requested points a call: a Standard plan (100 points a second, a 2,000-point
 * bucket) spends seconds of throttle waits on every hundred or so; a bulk run costs about a dozen
 * points and a few polls whatever the size (figures: docs/shopify.md, `npm run bench`).
 */
export const BULK_THRESHOLD = 250;
/** Products handed to the catalogue object at a time during a full read. */
const LOAD_BATCH = 250;
/**
 * A reconciliation that finds more changed products than this reads the whole catalogue instead:
 * one read a product would cost more calls than a full read.
 */
export const MAX_RECONCILE_READS = 500;

const ShopNode = z.object({
  shop: z.object({
    id: z.string().nullish(),
    name: z.string().nullish(),
    email: z.string().nullish(),
    contactEmail: z.string().nullish(),
    primaryDomain: z.object({ url: z.string().nullish(), host: z.string().nullish() }).nullish(),
    currencyCode: z.string().nullish(),
    description: z.string().nullish(),
    plan: z.object({ displayName: z.string().nullish() }).nullish(),
    ianaTimezone: z.string().nullish(),
  }),
});

function shopMetadataRecord(shop: string, s: z.infer<typeof ShopNode>["shop"]) {
  return {
    shop,
    id: s.id ?? null,
    name: s.name ?? null,
    email: s.email ?? null,
    contact_email: s.contactEmail ?? null,
    domain: s.primaryDomain?.host ?? null,
    url: s.primaryDomain?.url ?? null,
    currency: s.currencyCode ?? null,
    description: s.description ?? null,
    plan: s.plan?.displayName ?? null,
    timezone: s.ianaTimezone ?? null,
  };
}

/** The short reason code recorded for a failed sync (never the error's text). */
export function syncFailureReason(err: unknown): SyncFailureReason {
  if (err instanceof SpacesError) return "spaces_unavailable";
  if (err instanceof PlatformError) {
    if (err.reason === "cost_exceeded") return "query_cost";
    if (err.reason === "bulk_failed") return "bulk_failed";
    return (
      {
        auth: "token_dead",
        throttled: "throttled",
        transient: "shopify_unavailable",
        rejected: "shopify_rejected",
      } as const
    )[err.kind];
  }
  return "internal";
}

export type SyncMode = "paged" | "bulk";

export interface ShopSyncOptions {
  /** Upload part size of the products file. */
  partSize?: number;
  /** `auto` (default): bulk above BULK_THRESHOLD products, else paged. */
  mode?: SyncMode | "auto";
}

export interface ShopSyncResult {
  shop: string;
  userUuid: string;
  metadataKey: string;
  productsKey: string;
  products: number;
  mode: SyncMode;
  apiCalls: number;
  written: string[];
  productsBytes: number;
}

const shopAdminApi = async (env: Env, shop: string) => {
  const cfg = config(env, "shopify");
  return new AdminApi(cfg, new ShopAccess(cfg, await tokenStore(env), shop));
};

/** Reads the shop's metadata (one call) and writes `shop_metadata.json` unless it holds the same bytes. */
export async function refreshShopMetadata(env: Env, api: AdminApi, shop: string, userUuid: string): Promise<PutResult> {
  const { shop: shopNode } = ShopNode.parse(await api.query(SHOP_QUERY));
  const bytes = new TextEncoder().encode(JSON.stringify(shopMetadataRecord(shop, shopNode), null, 2));
  return spaces(env).putIfChanged(shopMetadataKey(userUuid, shop), bytes, await sha256Hex(bytes));
}

/** `shop/update`: the shop's metadata read again and written if it changed. */
export async function refreshMetadataOf(env: Env, shop: string): Promise<PutResult | null> {
  const owner = await shopOwner(env.TOKENS_DB, shop);
  if (!owner?.installed) return null;
  const result = await refreshShopMetadata(env, await shopAdminApi(env, shop), shop, owner.userUuid);
  if (result.written) log.info(`Uploaded ${result.key} to Spaces`, { shop, key: result.key });
  return result;
}

/**
 * The catalogue streamed into the shop's catalogue object in id order, LOAD_BATCH products a call;
 * each slice also tells the object which held products are gone. Returns how many were read.
 */
async function loadCatalogue(env: Env, shop: string, source: ProductSource): Promise<number> {
  const stub = catalogueStub(env, shop);
  const { startedAt } = await stub.beginLoad(shop);
  let after = 0;
  let count = 0;
  let batch: CatalogueProduct[] = [];
  const send = async (upTo: number | null) => {
    await stub.load(batch, after, upTo, startedAt);
    count += batch.length;
    batch = [];
  };
  for await (const products of source()) {
    for (const p of products) {
      // The removal of what a slice lacks relies on the order; Shopify's sortKey ID gives it.
      const last = batch.length ? batch[batch.length - 1]!.id : after;
      if (p.id <= last) throw new PlatformError("shopify", "rejected", `products out of id order at ${p.id}`);
      batch.push(p);
      if (batch.length >= LOAD_BATCH) {
        const upTo = batch[batch.length - 1]!.id;
        await send(upTo);
        after = upTo;
      }
    }
  }
  await send(null);
  return count;
}

/**
 * Reads a shop's metadata and every product (pages of PRODUCTS_PAGE_SIZE, or one bulk operation for
 * a big catalogue) into the shop's catalogue object, which then writes `shop_products.json` from
 * what it holds (not at all when the bytes are the same). For installs and for a catalogue the
 * worker does not hold; the outcome is recorded in `shop_status` either way.
 */
export async function syncShop(env: Env, shop: string, opts: ShopSyncOptions = {}): Promise<ShopSyncResult | null> {
  const started = Date.now();
  const owner = await shopOwner(env.TOKENS_DB, shop);
  if (!owner || !owner.installed) {
    log.info(`Skipped sync for ${shop}: not installed`, { shop });
    return null;
  }
  const api = await shopAdminApi(env, shop);
  try {
    const metadata = await refreshShopMetadata(env, api, shop, owner.userUuid);
    let mode: SyncMode = opts.mode === "paged" || opts.mode === "bulk" ? opts.mode : "paged";
    if (opts.mode === undefined || opts.mode === "auto") {
      const counted = z
        .object({ productsCount: z.object({ count: z.number() }).nullable() })
        .parse(await api.query(PRODUCTS_COUNT_QUERY));
      if ((counted.productsCount?.count ?? 0) > BULK_THRESHOLD) mode = "bulk";
    }
    const products = await loadCatalogue(
      env,
      shop,
      mode === "bulk" ? bulkProducts(api, shop) : pagedProducts(api, shop),
    );
    const file = await catalogueStub(env, shop).publish({ partSize: opts.partSize });
    const metadataKey = metadata.key;
    const productsKey = shopProductsKey(owner.userUuid, shop);
    const written = [metadata.written ? metadataKey : null, file.written ? productsKey : null].filter(
      (k): k is string => k !== null,
    );
    const fields = { shop, user_uuid: owner.userUuid, products, mode, api_calls: api.calls, ms: Date.now() - started };
    if (written.length) log.info(`Uploaded data to ${metadataKey} and ${productsKey} for ${shop}`, fields);
    else log.info(`Data unchanged at ${metadataKey} and ${productsKey} for ${shop}`, fields);
    await recordSyncOutcome(env.TOKENS_DB, shop, Date.now(), {
      ok: true,
      ms: Date.now() - started,
      products,
      mode,
      apiCalls: api.calls,
    });
    return {
      shop,
      userUuid: owner.userUuid,
      metadataKey,
      productsKey,
      products,
      mode,
      apiCalls: api.calls,
      written,
      productsBytes: file.bytes,
    };
  } catch (err) {
    await recordSyncOutcome(env.TOKENS_DB, shop, Date.now(), {
      ok: false,
      ms: Date.now() - started,
      reason: syncFailureReason(err),
      apiCalls: api.calls,
    }).catch(() => undefined);
    throw err;
  }
}

export interface ReconcileResult {
  shop: string;
  /** `full`: the catalogue was not held, and was read whole. */
  kind: "reconcile" | "full";
  apiCalls: number;
  listed: number;
  /** New or changed products, read again by the catalogue object. */
  changed: number;
  removed: number;
  /** Keys written or put back. */
  written: string[];
}

/**
 * The daily poll of a shop: its metadata read again (written only if changed), and the catalogue
 * compared with Shopify's `id, updatedAt` list, RECONCILE_PAGE_SIZE products a call. Only the new
 * and changed products are read again (by the catalogue object), the vanished ones dropped, and an
 * object missing from Spaces put back (one HEAD when it is there). A catalogue the worker does not
 * hold, or one that changed too much, is read whole.
 */
export async function reconcileShop(env: Env, shop: string): Promise<ReconcileResult | null> {
  const owner = await shopOwner(env.TOKENS_DB, shop);
  if (!owner?.installed) {
    log.info(`Skipped poll for ${shop}: not installed`, { shop });
    return null;
  }
  const stub = catalogueStub(env, shop);
  const full = async (why: string): Promise<ReconcileResult> => {
    log.info(`Reading the whole catalogue of ${shop}: ${why}`, { shop });
    const result = await syncShop(env, shop);
    return {
      shop,
      kind: "full",
      apiCalls: result?.apiCalls ?? 0,
      listed: result?.products ?? 0,
      changed: result?.products ?? 0,
      removed: 0,
      written: result?.written ?? [],
    };
  };
  if (!(await stub.summary()).loaded) return full("not held by the worker");
  const api = await shopAdminApi(env, shop);
  const metadata = await refreshShopMetadata(env, api, shop, owner.userUuid);
  const startedAt = Date.now();
  const read: number[] = [];
  let listed = 0;
  let removed = 0;
  let after = 0;
  for await (const page of productVersions(api)) {
    const upTo = page.length ? page[page.length - 1]!.id : after;
    const outcome = await stub.compare(page, after, upTo, startedAt);
    listed += page.length;
    removed += outcome.removed;
    read.push(...outcome.read);
    if (read.length > MAX_RECONCILE_READS) return full(`more than ${MAX_RECONCILE_READS} products changed`);
    after = upTo;
  }
  removed += (await stub.compare([], after, null, startedAt)).removed;
  if (read.length) await stub.changed(shop, { read });
  // Puts back a products file lost from Spaces (a HEAD when it is there); the reads are written by the object.
  const file = await stub.publish({ checkStored: true });
  const written = [metadata.written ? metadata.key : null, file.written ? file.key : null].filter(
    (k): k is string => k !== null,
  );
  log.info(`Reconciled the catalogue of ${shop}: ${read.length} changed, ${removed} removed`, {
    shop,
    listed,
    changed: read.length,
    removed,
    api_calls: api.calls,
  });
  return { shop, kind: "reconcile", apiCalls: api.calls, listed, changed: read.length, removed, written };
}
