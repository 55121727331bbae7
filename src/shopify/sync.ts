import { z } from "zod";
import { config } from "../config";
import { log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { fetchWithRetry, sleep } from "../lib/retry";
import { sha256Hex } from "../lib/signatures";
import { ContentChanged, ObjectWriter, type ObjectWriterResult } from "../spaces/object-writer";
import { JSON_TYPE, SpacesError } from "../spaces/client";
import { shopMetadataKey, shopProductsKey } from "../spaces/keys";
import { shopOwner, syncStarting } from "../db/links";
import { recordSyncOutcome, type SyncFailureReason } from "../db/shop-status";
import { shopTokenWorks } from "../alerts/alerts";
import { spaces, tokenStore } from "../services";
import { ShopAccess } from "./access";
import { AdminApi, QueryCostExceeded } from "./admin-api";
import {
  BULK_OPERATION_QUERY,
  BULK_OPERATION_RUN_QUERY,
  PRODUCTS_BULK_QUERY,
  PRODUCTS_COUNT_QUERY,
  PRODUCTS_PAGE_QUERY,
  PRODUCTS_PAGE_SIZE,
  SHOP_QUERY,
} from "./queries";

/**
 * Catalogues of more products than this go through a bulk operation. Paged, a product costs 5
 * points: on a Standard plan (100 points a second, a 2,000-point bucket) 1,000 products take about
 * 30 s of throttle waits and 8 calls, and every further 1,000 another 50 s; a bulk run costs about
 * a dozen points and a few polls whatever the size (figures: docs/shopify.md, `npm run bench`).
 */
export const BULK_THRESHOLD = 1000;
/** Longest a bulk operation may take before the sync gives up (and the queue retries it). */
const BULK_WAIT_MS = 10 * 60 * 1000;

const money = z.object({ amount: z.string(), currencyCode: z.string() }).nullish();
const ProductNode = z.object({
  id: z.string(),
  title: z.string().nullish(),
  handle: z.string().nullish(),
  status: z.string().nullish(),
  vendor: z.string().nullish(),
  productType: z.string().nullish(),
  tags: z.array(z.string()).nullish(),
  description: z.string().nullish(),
  onlineStoreUrl: z.string().nullish(),
  totalInventory: z.number().nullish(),
  createdAt: z.string().nullish(),
  updatedAt: z.string().nullish(),
  featuredImage: z.object({ url: z.string().nullish(), altText: z.string().nullish() }).nullish(),
  priceRangeV2: z.object({ minVariantPrice: money, maxVariantPrice: money }).nullish(),
});
type ProductNode = z.infer<typeof ProductNode>;

const ProductsPage = z.object({
  products: z.object({
    pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullable() }),
    nodes: z.array(ProductNode),
  }),
});

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

const BulkRun = z.object({
  bulkOperationRunQuery: z.object({
    bulkOperation: z.object({ id: z.string(), status: z.string() }).nullable(),
    userErrors: z.array(z.object({ code: z.string().nullish(), message: z.string() })),
  }),
});
const BulkStatus = z.object({
  node: z
    .object({
      id: z.string(),
      status: z.string(),
      errorCode: z.string().nullish(),
      objectCount: z.union([z.string(), z.number()]).nullish(),
      url: z.string().nullish(),
    })
    .nullable(),
});

/** A bulk operation that ended without a result (FAILED, CANCELED, EXPIRED) or never ended. */
export class BulkOperationFailed extends PlatformError {
  constructor(status: string, errorCode?: string | null) {
    super("shopify", "transient", `bulk operation ${status}${errorCode ? ` (${errorCode})` : ""}`, {
      reason: "bulk_failed",
    });
    this.name = "BulkOperationFailed";
  }
}

/** Fixed key order, so the same data always gives the same bytes, paged or bulk. */
function productRecord(p: ProductNode) {
  return {
    id: p.id,
    title: p.title ?? null,
    handle: p.handle ?? null,
    status: p.status ?? null,
    vendor: p.vendor ?? null,
    product_type: p.productType ?? null,
    tags: p.tags ?? [],
    description: p.description ?? null,
    online_store_url: p.onlineStoreUrl ?? null,
    total_inventory: p.totalInventory ?? null,
    created_at: p.createdAt ?? null,
    updated_at: p.updatedAt ?? null,
    image: p.featuredImage ? { url: p.featuredImage.url ?? null, alt: p.featuredImage.altText ?? null } : null,
    price_min: p.priceRangeV2?.minVariantPrice ?? null,
    price_max: p.priceRangeV2?.maxVariantPrice ?? null,
  };
}

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
  /** Compare with what Spaces holds before writing (polls). */
  verifyFirst?: boolean;
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
  peakBufferedBytes: number;
}

/** Batches of product nodes, in the catalogue's order (ID). */
type ProductSource = () => AsyncIterable<ProductNode[]>;

/** Every product, page by page; a page Shopify finds too costly is asked again smaller. */
function pagedProducts(api: AdminApi, shop: string): ProductSource {
  return async function* () {
    let size = PRODUCTS_PAGE_SIZE;
    let cursor: string | null = null;
    for (;;) {
      let page: z.infer<typeof ProductsPage>;
      try {
        page = ProductsPage.parse(await api.query(PRODUCTS_PAGE_QUERY, { first: size, cursor }));
      } catch (err) {
        if (!(err instanceof QueryCostExceeded) || size <= 1) throw err;
        // Aim a quarter under the limit, whatever the shop counted.
        size = Math.max(1, Math.min(size - 1, Math.floor((size * err.maxCost * 0.75) / err.requested)));
        log.warn(`Products page for ${shop} cost ${err.requested} points: pages of ${size} from now on`, {
          shop,
          page_size: size,
        });
        continue;
      }
      yield page.products.nodes;
      if (!page.products.pageInfo.hasNextPage || !page.products.pageInfo.endCursor) return;
      cursor = page.products.pageInfo.endCursor;
    }
  };
}

/** Runs the catalogue's bulk operation and waits for it; returns the JSONL's URL (null: no products). */
async function runBulkOperation(api: AdminApi, shop: string): Promise<string | null> {
  const run = BulkRun.parse(await api.query(BULK_OPERATION_RUN_QUERY, { query: PRODUCTS_BULK_QUERY }));
  const { bulkOperation, userErrors } = run.bulkOperationRunQuery;
  if (!bulkOperation) {
    // Too many bulk operations running for this shop: one of them ends soon.
    if (userErrors.some((e) => e.code === "OPERATION_IN_PROGRESS")) {
      throw new PlatformError("shopify", "throttled", "bulk operations busy", { retryAfterMs: 30_000 });
    }
    const message = userErrors.map((e) => e.message).join("; ");
    throw new PlatformError("shopify", "rejected", `bulkOperationRunQuery: ${message}`);
  }
  const deadline = Date.now() + BULK_WAIT_MS;
  let delay = 200;
  for (;;) {
    await sleep(delay);
    const { node } = BulkStatus.parse(await api.query(BULK_OPERATION_QUERY, { id: bulkOperation.id }));
    if (!node) throw new BulkOperationFailed("not found");
    if (node.status === "COMPLETED") {
      log.info(`Bulk operation completed for ${shop}: ${node.objectCount ?? 0} objects`, { shop });
      return node.url ?? null;
    }
    if (!["CREATED", "RUNNING"].includes(node.status)) throw new BulkOperationFailed(node.status, node.errorCode);
    if (Date.now() > deadline) throw new BulkOperationFailed("still running", "TIMEOUT");
    delay = Math.min(delay * 2, 5000);
  }
}

/** Every product of a bulk result, streamed line by line (a nested connection's lines are skipped). */
function bulkProducts(api: AdminApi, shop: string): ProductSource {
  let url: Promise<string | null> | null = null;
  return async function* () {
    url ??= runBulkOperation(api, shop);
    const location = await url;
    if (!location) return;
    const body = await fetchWithRetry<ReadableStream<Uint8Array>>(
      () => fetch(location),
      async (res) => {
        if (res.ok && res.body) return { done: res.body };
        await res.body?.cancel();
        const error = new PlatformError("shopify", "transient", `bulk result answered ${res.status}`, {
          status: res.status,
        });
        // A server fault is worth another try; anything else (an expired URL) needs a new operation.
        if (res.status >= 500) return { retry: error };
        throw error;
      },
      {
        maxAttempts: 3,
        backoffBaseMs: 500,
        unreachable: (err) => new PlatformError("shopify", "transient", `bulk result unreachable: ${String(err)}`),
      },
    );
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let rest = "";
    const parse = (lines: string[]) =>
      lines
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((o) => !("__parentId" in o))
        .map((o) => ProductNode.parse(o));
    let complete = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        rest += value;
        const lines = rest.split("\n");
        rest = lines.pop()!;
        const batch = parse(lines);
        if (batch.length) yield batch;
      }
      complete = true;
    } finally {
      // Left early (a compare pass found a change, an upload failed): let the connection go.
      if (!complete) await reader.cancel().catch(() => undefined);
    }
    const last = parse([rest]);
    if (last.length) yield last;
  };
}

const WRITE_RUN = 100;

/** The products file from `source`: the same nodes always give the same bytes. */
async function writeProducts(
  source: ProductSource,
  shop: string,
  file: ObjectWriter,
): Promise<ObjectWriterResult & { count: number }> {
  let count = 0;
  try {
    await file.write(`{"shop":${JSON.stringify(shop)},"products":[`);
    // Written in runs of a fixed number of products, whatever the source's batches: the upload
    // parts then fall at the same places, so a poll's compare pass matches part by part.
    let text = "";
    for await (const nodes of source()) {
      for (const node of nodes) {
        text += `${count === 0 ? "\n" : ",\n"}${JSON.stringify(productRecord(node))}`;
        count++;
        if (count % WRITE_RUN === 0) {
          await file.write(text);
          text = "";
        }
      }
    }
    await file.write(`${text}\n],"count":${count}}\n`);
    return { ...(await file.finish()), count };
  } catch (err) {
    await file.abort();
    throw err;
  }
}

/**
 * Fetches a shop's metadata and every product (pages of PRODUCTS_PAGE_SIZE, or one bulk operation
 * for a big catalogue) and writes the two Shopify files. Holds one page or one chunk of the bulk
 * result and at most one upload part in memory, whatever the catalogue size. Files whose bytes are
 * unchanged are not uploaded again. The outcome is recorded in `shop_status` either way.
 */
export async function syncShop(env: Env, shop: string, opts: ShopSyncOptions = {}): Promise<ShopSyncResult | null> {
  const started = Date.now();
  const owner = await shopOwner(env.TOKENS_DB, shop);
  if (!owner || !owner.installed) {
    log.info(`Skipped sync for ${shop}: not installed`, { shop });
    return null;
  }
  // From here on, a product webhook marks the shop for one more run (see requestSyncQuery).
  await syncStarting(env.TOKENS_DB, shop);
  const cfg = config(env, "shopify");
  const api = new AdminApi(cfg, new ShopAccess(cfg, await tokenStore(env), shop));
  try {
    const result = await syncWith(env, api, shop, owner.userUuid, opts, started);
    await recordSyncOutcome(env.TOKENS_DB, shop, Date.now(), {
      ok: true,
      ms: Date.now() - started,
      products: result.products,
      mode: result.mode,
      apiCalls: result.apiCalls,
    });
    await shopTokenWorks(env, shop);
    return result;
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

async function syncWith(
  env: Env,
  api: AdminApi,
  shop: string,
  userUuid: string,
  opts: ShopSyncOptions,
  started: number,
): Promise<ShopSyncResult> {
  const store = spaces(env);
  const metadataKey = shopMetadataKey(userUuid, shop);
  const productsKey = shopProductsKey(userUuid, shop);

  const { shop: shopNode } = ShopNode.parse(await api.query(SHOP_QUERY));
  const metadataBytes = new TextEncoder().encode(JSON.stringify(shopMetadataRecord(shop, shopNode), null, 2));

  let mode: SyncMode = opts.mode === "paged" || opts.mode === "bulk" ? opts.mode : "paged";
  if (opts.mode === undefined || opts.mode === "auto") {
    const counted = z
      .object({ productsCount: z.object({ count: z.number() }).nullable() })
      .parse(await api.query(PRODUCTS_COUNT_QUERY));
    if ((counted.productsCount?.count ?? 0) > BULK_THRESHOLD) mode = "bulk";
  }

  const write = async (source: ProductSource) => {
    // A poll's catalogue is most likely unchanged: compare first, and write only if it is not.
    const writer = (verify: boolean) =>
      new ObjectWriter(store, productsKey, opts.partSize, JSON_TYPE, verify ? "verify" : "write");
    try {
      return await writeProducts(source, shop, writer(opts.verifyFirst ?? false));
    } catch (err) {
      if (!(err instanceof ContentChanged)) throw err;
      return await writeProducts(source, shop, writer(false));
    }
  };
  const productsFile = await write(mode === "bulk" ? bulkProducts(api, shop) : pagedProducts(api, shop));
  const metadata = await store.putIfChanged(metadataKey, metadataBytes, await sha256Hex(metadataBytes));
  const written = [metadata, productsFile].filter((r) => r.written).map((r) => r.key);
  const fields = {
    shop,
    user_uuid: userUuid,
    products: productsFile.count,
    mode,
    api_calls: api.calls,
    products_bytes: productsFile.bytes,
    peak_buffered_bytes: productsFile.peakBufferedBytes,
    ms: Date.now() - started,
  };
  if (written.length) log.info(`Uploaded data to ${metadataKey} and ${productsKey} for ${shop}`, fields);
  else log.info(`Data unchanged at ${metadataKey} and ${productsKey} for ${shop}`, fields);
  return {
    shop,
    userUuid,
    metadataKey,
    productsKey,
    products: productsFile.count,
    mode,
    apiCalls: api.calls,
    written,
    productsBytes: productsFile.bytes,
    peakBufferedBytes: productsFile.peakBufferedBytes,
  };
}
