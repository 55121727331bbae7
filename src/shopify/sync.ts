import { config } from "../config";
import { log } from "../lib/log";
import { sha256Hex } from "../lib/signatures";
import { ContentChanged, ObjectWriter, type ObjectWriterResult } from "../storage/object-writer";
import { JSON_TYPE } from "../storage/spaces";
import { shopMetadataKey, shopProductsKey } from "../storage/keys";
import { shopOwner, syncStarting } from "../storage/links";
import { recordShopSync } from "../storage/shop-lifecycle";
import { spaces, tokenStore } from "../services";
import { ShopAccess } from "./access";
import { AdminApi } from "./admin-api";
import { PRODUCTS_QUERY, PRODUCTS_QUERY_COST, SHOP_QUERY } from "./queries";

/* eslint-disable @typescript-eslint/no-explicit-any */
type Node = Record<string, any>;

/** Fixed key order, so the same data always gives the same bytes. */
function productRecord(p: Node) {
  return {
    id: p.id ?? null,
    title: p.title ?? null,
    handle: p.handle ?? null,
    status: p.status ?? null,
    vendor: p.vendor ?? null,
    product_type: p.productType ?? null,
    tags: Array.isArray(p.tags) ? p.tags : [],
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

function shopMetadataRecord(shop: string, s: Node) {
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

export interface ShopSyncResult {
  shop: string;
  userUuid: string;
  metadataKey: string;
  productsKey: string;
  products: number;
  apiCalls: number;
  written: string[];
  productsBytes: number;
  peakBufferedBytes: number;
}

/**
 * Fetches a shop's metadata and every product (250 a page) and writes the two Shopify files.
 * Holds one page of products and at most one upload part in memory, whatever the catalogue size.
 * Files whose bytes are unchanged are not uploaded again.
 */
export async function syncShop(
  env: Env,
  shop: string,
  /** `verifyFirst`: compare with what Spaces holds before writing (polls). */
  opts: { partSize?: number; verifyFirst?: boolean } = {},
): Promise<ShopSyncResult | null> {
  const started = Date.now();
  const owner = await shopOwner(env.TOKENS_DB, shop);
  if (!owner || !owner.installed) {
    log.info(`Skipped sync for ${shop}: not installed`, { shop });
    return null;
  }
  // From here on, a product webhook marks the shop for one more run (see requestSyncQuery).
  await syncStarting(env.TOKENS_DB, shop);
  const cfg = config(env, "shopify");
  const store = spaces(env);
  const api = new AdminApi(cfg, new ShopAccess(cfg, await tokenStore(env), shop));
  const metadataKey = shopMetadataKey(owner.userUuid, shop);
  const productsKey = shopProductsKey(owner.userUuid, shop);

  const { shop: shopNode } = await api.query<{ shop: Node }>(SHOP_QUERY);
  const metadataBytes = new TextEncoder().encode(JSON.stringify(shopMetadataRecord(shop, shopNode), null, 2));

  // A poll's catalogue is most likely unchanged: compare first, and write only if it is not.
  let productsFile: ObjectWriterResult & { count: number };
  try {
    productsFile = await writeProducts(
      api,
      shop,
      new ObjectWriter(store, productsKey, opts.partSize, JSON_TYPE, opts.verifyFirst ? "verify" : "write"),
    );
  } catch (err) {
    if (!(err instanceof ContentChanged)) throw err;
    productsFile = await writeProducts(api, shop, new ObjectWriter(store, productsKey, opts.partSize));
  }
  const metadata = await store.putIfChanged(metadataKey, metadataBytes, await sha256Hex(metadataBytes));
  const written = [metadata, productsFile].filter((r) => r.written).map((r) => r.key);
  const fields = {
    shop,
    user_uuid: owner.userUuid,
    products: productsFile.count,
    api_calls: api.calls,
    products_bytes: productsFile.bytes,
    peak_buffered_bytes: productsFile.peakBufferedBytes,
    ms: Date.now() - started,
  };
  // For the merchant's page (GET /shopify).
  await recordShopSync(env.TOKENS_DB, shop, productsFile.count);
  if (written.length) log.info(`Uploaded data to ${metadataKey} and ${productsKey} for ${shop}`, fields);
  else log.info(`Data unchanged at ${metadataKey} and ${productsKey} for ${shop}`, fields);
  return {
    shop,
    userUuid: owner.userUuid,
    metadataKey,
    productsKey,
    products: productsFile.count,
    apiCalls: api.calls,
    written,
    productsBytes: productsFile.bytes,
    peakBufferedBytes: productsFile.peakBufferedBytes,
  };
}

/** Every product, 250 a page, into the products file; returns the file's figures and the count. */
async function writeProducts(
  api: AdminApi,
  shop: string,
  file: ObjectWriter,
): Promise<ObjectWriterResult & { count: number }> {
  let count = 0;
  try {
    await file.write(`{"shop":${JSON.stringify(shop)},"products":[`);
    let cursor: string | null = null;
    do {
      const page: { products: { pageInfo: { hasNextPage: boolean; endCursor: string | null }; nodes: Node[] } } =
        await api.query(PRODUCTS_QUERY, { cursor }, PRODUCTS_QUERY_COST);
      let text = "";
      for (const node of page.products.nodes) {
        text += `${count === 0 ? "\n" : ",\n"}${JSON.stringify(productRecord(node))}`;
        count++;
      }
      await file.write(text);
      cursor = page.products.pageInfo.hasNextPage ? page.products.pageInfo.endCursor : null;
    } while (cursor);
    await file.write(`\n],"count":${count}}\n`);
    return { ...(await file.finish()), count };
  } catch (err) {
    await file.abort();
    throw err;
  }
}
