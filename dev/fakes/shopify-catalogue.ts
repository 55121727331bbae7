import { GraphQLError } from "graphql";

/**
 * The fake shop's catalogue: products with options, images and variants as the Admin API holds
 * them, the Relay connections that page them (first/last required, 250 at most, outside bulk
 * operations), and the edits a test makes to a product (each bumps `updatedAt`, as Shopify does).
 */

export type Raw = Record<string, unknown>;

/** Largest `first`/`last` Shopify accepts on a connection. */
const MAX_PAGE = 250;
const SIZES = ["S", "M", "L", "XL"];
const COLOURS = ["Blue", "Red", "Green"];

export interface ProductShape {
  revision?: number;
  /** Variants of every product (default 2), or `variantsUpTo`: 1 + (i mod n) for product i. */
  variants?: number;
  variantsUpTo?: number;
}

const variantCount = (i: number, shape: ProductShape) =>
  shape.variantsUpTo ? 1 + (i % shape.variantsUpTo) : (shape.variants ?? 2);

export function makeProduct(i: number, shape: ProductShape = {}): Raw {
  const revision = shape.revision ?? 0;
  const count = variantCount(i, shape);
  const sizes = Array.from({ length: Math.min(count, SIZES.length) }, (_, k) => SIZES[k]!);
  const colours = Array.from({ length: Math.ceil(count / SIZES.length) }, (_, k) => COLOURS[k % COLOURS.length]!);
  const images = [0, 1].map((k) => ({
    id: `gid://shopify/ProductImage/${3000000 + i * 2 + k}`,
    url: `https://cdn.example/p/${i}-${k}.jpg`,
    altText: k ? null : `Product ${i}`,
    width: 800,
    height: 800,
  }));
  return {
    id: `gid://shopify/Product/${1000000 + i}`,
    title: `Product ${i}${revision ? ` rev ${revision}` : ""}`,
    handle: `product-${i}`,
    status: "ACTIVE",
    vendor: "Acme",
    productType: "Widget",
    tags: ["sale", `t${i % 7}`],
    description: `A fine widget, number ${i}. It does what widgets do, and a little more.`,
    descriptionHtml: `<p>A fine widget, number ${i}.</p>`,
    onlineStoreUrl: `https://shop.example/products/product-${i}`,
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: `2026-02-01T00:00:${String(revision % 60).padStart(2, "0")}Z`,
    featuredImage: images[0],
    images,
    priceRangeV2: {
      minVariantPrice: { amount: `${(i % 100) + 0.5}`, currencyCode: "USD" },
      maxVariantPrice: { amount: `${(i % 100) + 0.5 + (count - 1) * 10}`, currencyCode: "USD" },
    },
    options: [
      { id: `gid://shopify/ProductOption/${i}1`, name: "Size", position: 1, values: sizes },
      ...(colours.length > 1
        ? [{ id: `gid://shopify/ProductOption/${i}2`, name: "Colour", position: 2, values: colours }]
        : []),
    ],
    variants: Array.from({ length: count }, (_, v) => {
      const size = SIZES[v % SIZES.length]!;
      const colour = COLOURS[Math.floor(v / SIZES.length) % COLOURS.length]!;
      const quantity = (i + v) % 5;
      return {
        id: `gid://shopify/ProductVariant/${20000000 + i * 4096 + v}`,
        title: colours.length > 1 ? `${size} / ${colour}` : size,
        sku: `SKU-${i}-${v}`,
        price: `${(i % 100) + 0.5 + v * 10}`,
        compareAtPrice: v === 0 ? `${(i % 100) + 5.5}` : null,
        availableForSale: quantity > 0,
        inventoryQuantity: quantity,
        selectedOptions: [
          { name: "Size", value: size },
          ...(colours.length > 1 ? [{ name: "Colour", value: colour }] : []),
        ],
        image: v === 0 ? images[0] : null,
        inventoryItem: { id: `gid://shopify/InventoryItem/${40000000 + i * 4096 + v}`, tracked: true },
        updatedAt: "2026-02-01T00:00:00Z",
      };
    }),
  };
}

/** What a test changes of a product; every edit moves `updatedAt` forward. */
export interface ProductEdit {
  title?: string;
  price?: string;
  inventoryQuantity?: number;
  variants?: number;
}

/** Applies an edit as Shopify would record it, with an `updatedAt` later than the last one. */
export function editProduct(product: Raw, edit: ProductEdit, index: number): void {
  if (edit.title !== undefined) product.title = edit.title;
  if (edit.variants !== undefined) {
    const remade = makeProduct(index, { variants: edit.variants });
    product.variants = remade.variants;
    product.options = remade.options;
  }
  const variants = product.variants as Raw[];
  if (edit.price !== undefined) variants[0]!.price = edit.price;
  if (edit.inventoryQuantity !== undefined) {
    variants[0]!.inventoryQuantity = edit.inventoryQuantity;
    variants[0]!.availableForSale = edit.inventoryQuantity > 0;
  }
  const previous = Date.parse(String(product.updatedAt));
  product.updatedAt = new Date(Math.max(Date.now(), previous + 1000)).toISOString().replace(/\.\d{3}Z$/, "Z");
}

const cursorOf = (index: number) => Buffer.from(JSON.stringify({ last_index: index })).toString("base64");
function indexOf(cursor: unknown): number {
  try {
    const parsed = JSON.parse(Buffer.from(String(cursor), "base64").toString()) as { last_index?: unknown };
    if (typeof parsed.last_index === "number") return parsed.last_index;
  } catch {
    // fall through
  }
  throw new GraphQLError("Invalid cursor for current pagination sort.");
}

export interface Context {
  bulk: boolean;
}

export interface ConnectionArgs {
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
  reverse?: boolean | null;
}

/** A Relay connection over `items`, paged as Shopify pages (first/last required, 250 at most). */
export function connection<T>(all: T[], args: ConnectionArgs, ctx: Context) {
  const items = args.reverse ? [...all].reverse() : all;
  let start = 0;
  let end = items.length;
  if (args.after != null) start = indexOf(args.after) + 1;
  if (args.before != null) end = Math.min(end, indexOf(args.before));
  if (!ctx.bulk) {
    if (args.first == null && args.last == null) throw new GraphQLError("you must provide one of first or last");
    const size = args.first ?? args.last!;
    if (size < 0 || size > MAX_PAGE)
      throw new GraphQLError(`The value of the argument 'first' or 'last' must be between 0 and ${MAX_PAGE}.`);
    if (args.first != null) end = Math.min(end, start + args.first);
    else start = Math.max(start, end - args.last!);
  }
  const slice = items.slice(start, end);
  return {
    edges: slice.map((node, i) => ({ cursor: cursorOf(start + i), node })),
    nodes: slice,
    pageInfo: {
      hasNextPage: end < items.length,
      hasPreviousPage: start > 0,
      startCursor: slice.length ? cursorOf(start) : null,
      endCursor: slice.length ? cursorOf(end - 1) : null,
    },
  };
}

/** What graphql-js resolves a product with (arguments become functions). */
export function productNode(raw: Raw) {
  const description = String(raw.description ?? "");
  const totalInventory = (raw.variants as Raw[]).reduce((sum, v) => sum + Number(v.inventoryQuantity ?? 0), 0);
  return {
    ...raw,
    __typename: "Product",
    totalInventory,
    description: ({ truncateAt }: { truncateAt?: number | null }) =>
      truncateAt != null && description.length > truncateAt ? `${description.slice(0, truncateAt)}…` : description,
    options: ({ first }: { first?: number | null }) =>
      (raw.options as Raw[]).slice(0, first ?? undefined).map((o) => ({
        ...o,
        optionValues: (o.values as string[]).map((name, k) => ({ id: `${String(o.id)}-${k}`, name })),
      })),
    images: (args: ConnectionArgs, ctx: Context) => connection(raw.images as Raw[], args, ctx),
    variants: (args: ConnectionArgs, ctx: Context) =>
      connection(
        (raw.variants as Raw[]).map((v) => ({ ...v, __typename: "ProductVariant" })),
        args,
        ctx,
      ),
  };
}
