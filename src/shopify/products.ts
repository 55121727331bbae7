import { z } from "zod";
import { log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { fetchWithRetry, sleep } from "../lib/retry";
import { type AdminApi, QueryCostExceeded } from "./admin-api";
import {
  BULK_OPERATION_QUERY,
  BULK_OPERATION_RUN_QUERY,
  IMAGES_PER_PRODUCT,
  PRODUCT_VARIANTS_QUERY,
  PRODUCT_VERSIONS_QUERY,
  PRODUCTS_BULK_QUERY,
  PRODUCTS_BY_ID_QUERY,
  PRODUCTS_PAGE_QUERY,
  PRODUCTS_PAGE_SIZE,
  RECONCILE_PAGE_SIZE,
  VARIANTS_PAGE_SIZE,
  VARIANTS_PER_LISTED_PRODUCT,
  variantsPerRead,
} from "./queries";

/**
 * Products as Shopify's Admin API gives them, and as the products file holds them: one line of JSON
 * a product, its variants inside. Read one at a time (a webhook's change), a page at a time (a small
 * catalogue) or from a bulk operation's JSONL (a big one); the same product gives the same bytes.
 */

const ImageNode = z.object({ url: z.string().nullish(), altText: z.string().nullish() });
type ImageNode = z.infer<typeof ImageNode>;

const VariantNode = z.object({
  id: z.string(),
  title: z.string().nullish(),
  sku: z.string().nullish(),
  price: z.string().nullish(),
  compareAtPrice: z.string().nullish(),
  availableForSale: z.boolean().nullish(),
  inventoryQuantity: z.number().nullish(),
  selectedOptions: z.array(z.object({ name: z.string(), value: z.string() })).nullish(),
  image: ImageNode.nullish(),
});
type VariantNode = z.infer<typeof VariantNode>;

const ProductFields = z.object({
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
  options: z.array(z.object({ name: z.string(), optionValues: z.array(z.object({ name: z.string() })) })).nullish(),
  featuredImage: ImageNode.nullish(),
});
type ProductFields = z.infer<typeof ProductFields>;

const PageInfo = z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullable() });
const Variants = z.object({ pageInfo: PageInfo, nodes: z.array(VariantNode) });
const ListedProduct = ProductFields.extend({ images: z.object({ nodes: z.array(ImageNode) }), variants: Variants });
type ListedProduct = z.infer<typeof ListedProduct>;

const ProductsPage = z.object({ products: z.object({ pageInfo: PageInfo, nodes: z.array(ListedProduct) }) });
const ProductsRead = z.object({ nodes: z.array(ListedProduct.nullable()) });
const VariantsRead = z.object({ product: z.object({ id: z.string(), variants: Variants }).nullable() });
const VersionsPage = z.object({
  products: z.object({ pageInfo: PageInfo, nodes: z.array(z.object({ id: z.string(), updatedAt: z.string() })) }),
});

/** A product as the catalogue keeps it: its numeric id (the file's order), its version and its line. */
export interface CatalogueProduct {
  id: number;
  updatedAt: string;
  /** The product's JSON, exactly as written in the file. */
  body: string;
}

/** A product's numeric id from its GraphQL id (`gid://shopify/Product/123`) or a webhook's `id`. */
export function productNumber(id: unknown): number | null {
  const text = typeof id === "number" ? String(id) : typeof id === "string" ? id : "";
  const m = /^(?:gid:\/\/shopify\/Product\/)?([0-9]{1,16})$/.exec(text);
  return m ? Number(m[1]) : null;
}

export const productGid = (id: number) => `gid://shopify/Product/${id}`;

/** A time as ISO 8601 in UTC, so that stored versions compare as text; "" when unreadable. */
export function isoTime(value: string | null | undefined): string {
  const ms = value ? Date.parse(value) : Number.NaN;
  return Number.isNaN(ms) ? "" : new Date(ms).toISOString();
}

const image = (i: ImageNode | null | undefined) => (i ? { url: i.url ?? null, alt: i.altText ?? null } : null);

/** Fixed key order, so the same product always gives the same bytes. */
function variantRecord(v: VariantNode) {
  return {
    id: v.id,
    title: v.title ?? null,
    sku: v.sku ?? null,
    price: v.price ?? null,
    compare_at_price: v.compareAtPrice ?? null,
    selected_options: (v.selectedOptions ?? []).map((o) => ({ name: o.name, value: o.value })),
    available_for_sale: v.availableForSale ?? null,
    inventory_quantity: v.inventoryQuantity ?? null,
    image: image(v.image),
  };
}

function catalogueProduct(p: ProductFields, images: ImageNode[], variants: VariantNode[]): CatalogueProduct {
  const id = productNumber(p.id);
  if (id === null) throw new PlatformError("shopify", "rejected", `not a product id: ${p.id.slice(0, 80)}`);
  const record = {
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
    options: (p.options ?? []).map((o) => ({ name: o.name, values: o.optionValues.map((v) => v.name) })),
    image: image(p.featuredImage),
    images: images.slice(0, IMAGES_PER_PRODUCT).map(image),
    variants: variants.map(variantRecord),
  };
  return { id, updatedAt: isoTime(p.updatedAt), body: JSON.stringify(record) };
}

/** The variants of `productId` after `cursor`, VARIANTS_PAGE_SIZE a call. */
async function remainingVariants(api: AdminApi, productId: string, cursor: string | null): Promise<VariantNode[]> {
  const out: VariantNode[] = [];
  while (cursor) {
    const { product } = VariantsRead.parse(
      await api.query(PRODUCT_VARIANTS_QUERY, { id: productId, first: VARIANTS_PAGE_SIZE, cursor }),
    );
    if (!product) break;
    out.push(...product.variants.nodes);
    cursor = product.variants.pageInfo.hasNextPage ? product.variants.pageInfo.endCursor : null;
  }
  return out;
}

/** A listed product made whole: the variants its page did not hold are read after it. */
async function wholeProduct(api: AdminApi, p: ListedProduct): Promise<CatalogueProduct> {
  const rest = p.variants.pageInfo.hasNextPage ? await remainingVariants(api, p.id, p.variants.pageInfo.endCursor) : [];
  return catalogueProduct(p, p.images.nodes, [...p.variants.nodes, ...rest]);
}

/**
 * Products as Shopify holds them now, in the order of `ids`; null for one that no longer exists.
 * One call for up to PRODUCTS_PER_READ products, one more per VARIANTS_PAGE_SIZE variants a product
 * has beyond what the call asked for.
 */
export async function readProducts(api: AdminApi, ids: number[]): Promise<(CatalogueProduct | null)[]> {
  const { nodes } = ProductsRead.parse(
    await api.query(PRODUCTS_BY_ID_QUERY, { ids: ids.map(productGid), variants: variantsPerRead(ids.length) }),
  );
  if (nodes.length !== ids.length)
    throw new PlatformError("shopify", "rejected", `asked for ${ids.length} products, got ${nodes.length}`);
  const out: (CatalogueProduct | null)[] = [];
  for (const [i, node] of nodes.entries()) {
    // Relay's `nodes` answers in the order asked; anything else is not the product asked for.
    if (node && productNumber(node.id) !== ids[i])
      throw new PlatformError("shopify", "rejected", `asked for product ${ids[i]}, got ${node.id.slice(0, 80)}`);
    out.push(node ? await wholeProduct(api, node) : null);
  }
  return out;
}

/** Batches of whole products, in the catalogue's order (ID). */
export type ProductSource = () => AsyncIterable<CatalogueProduct[]>;

/** Every product, page by page; a page Shopify finds too costly is asked again smaller. */
export function pagedProducts(api: AdminApi, shop: string): ProductSource {
  return async function* () {
    let size = PRODUCTS_PAGE_SIZE;
    let cursor: string | null = null;
    for (;;) {
      let page: z.infer<typeof ProductsPage>;
      try {
        page = ProductsPage.parse(
          await api.query(PRODUCTS_PAGE_QUERY, { first: size, cursor, variants: VARIANTS_PER_LISTED_PRODUCT }),
        );
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
      const batch: CatalogueProduct[] = [];
      for (const node of page.products.nodes) batch.push(await wholeProduct(api, node));
      yield batch;
      if (!page.products.pageInfo.hasNextPage || !page.products.pageInfo.endCursor) return;
      cursor = page.products.pageInfo.endCursor;
    }
  };
}

/** Every product's id and updatedAt, RECONCILE_PAGE_SIZE a call, in the catalogue's order. */
export async function* productVersions(api: AdminApi): AsyncIterable<{ id: number; updatedAt: string }[]> {
  let cursor: string | null = null;
  for (;;) {
    const page = VersionsPage.parse(await api.query(PRODUCT_VERSIONS_QUERY, { first: RECONCILE_PAGE_SIZE, cursor }));
    const batch: { id: number; updatedAt: string }[] = [];
    for (const node of page.products.nodes) {
      const id = productNumber(node.id);
      if (id !== null) batch.push({ id, updatedAt: isoTime(node.updatedAt) });
    }
    yield batch;
    if (!page.products.pageInfo.hasNextPage || !page.products.pageInfo.endCursor) return;
    cursor = page.products.pageInfo.endCursor;
  }
}

/** Longest a bulk operation may take before the sync gives up (and the queue retries it). */
const BULK_WAIT_MS = 10 * 60 * 1000;

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

async function bulkResult(location: string): Promise<ReadableStream<Uint8Array>> {
  return fetchWithRetry<ReadableStream<Uint8Array>>(
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
}

const BulkLine = z.looseObject({ id: z.string().optional(), __parentId: z.string().optional() });

/**
 * Gathers a bulk result's lines into whole products: a product's line comes first, then a line for
 * each of its images and variants with `__parentId` (Shopify groups a node's children after it).
 */
class BulkAssembler {
  private product: ProductFields | null = null;
  private images: ImageNode[] = [];
  private variants: VariantNode[] = [];

  /** Takes one line; returns the product it completed, if any. */
  take(text: string): CatalogueProduct | null {
    if (text.trim() === "") return null;
    const line = BulkLine.parse(JSON.parse(text));
    if (line.__parentId === undefined) {
      const done = this.flush();
      this.product = ProductFields.parse(line);
      return done;
    }
    if (!this.product || line.__parentId !== this.product.id) {
      throw new PlatformError("shopify", "rejected", "bulk result: a child line away from its product");
    }
    if (line.id?.startsWith("gid://shopify/ProductVariant/")) this.variants.push(VariantNode.parse(line));
    else this.images.push(ImageNode.parse(line));
    return null;
  }

  /** The product gathered so far (at the end of the result). */
  flush(): CatalogueProduct | null {
    const done = this.product ? catalogueProduct(this.product, this.images, this.variants) : null;
    this.product = null;
    this.images = [];
    this.variants = [];
    return done;
  }
}

/** Every product of a bulk result, streamed line by line. */
export function bulkProducts(api: AdminApi, shop: string): ProductSource {
  let url: Promise<string | null> | null = null;
  return async function* () {
    url ??= runBulkOperation(api, shop);
    const location = await url;
    if (!location) return;
    const reader = (await bulkResult(location)).pipeThrough(new TextDecoderStream()).getReader();
    const products = new BulkAssembler();
    let rest = "";
    let complete = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        rest += value;
        const lines = rest.split("\n");
        rest = lines.pop()!;
        const batch: CatalogueProduct[] = [];
        for (const line of lines) {
          const product = products.take(line);
          if (product) batch.push(product);
        }
        if (batch.length) yield batch;
      }
      complete = true;
    } finally {
      // Left early (an upload failed): let the connection go.
      if (!complete) await reader.cancel().catch(() => undefined);
    }
    const last = [products.take(rest), products.flush()].filter((p): p is CatalogueProduct => p !== null);
    if (last.length) yield last;
  };
}
