import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { catalogueStub } from "../../src/catalogue/durable-object";
import { syncShop } from "../../src/shopify/sync";
import { SHOP_WEBHOOKS } from "../../src/shopify/webhook-registration";
import { shopMetadataKey, shopProductsKey } from "../../src/spaces/keys";
import {
  consumeJobs,
  control,
  fakeState,
  installShop,
  logsOfEachTest,
  readJson,
  shopifyWebhook,
  spaces,
  uniqueShop,
} from "../helpers";

/**
 * The catalogue a sales bot sells from: products with options, images and every variant, and a
 * product's change at the cost of that product. Each test reads the file in Spaces and counts the
 * Admin API calls the fake answered for the shop.
 */

const logs = logsOfEachTest();

const adminCalls = async (shop: string) => (await fakeState("shopify", `shop=${shop}`)).shopCalls.graphql as number;
const productId = (index: number) => 1_000_000 + index;

/** Installs a shop of `products` products (1 to 3 variants each) and returns its products file key. */
async function installed(products: number) {
  const shop = uniqueShop("cat");
  await control("shopify", "shop", { shop, products, variantsUpTo: 3, plan: "plus" });
  const { body } = await installShop(shop, { products: null });
  return { shop, key: shopProductsKey(body.user_uuid, shop), userUuid: body.user_uuid as string };
}

/** Waits until the products file satisfies `check`. */
async function fileWhere(key: string, check: (file: any) => boolean) {
  let file: any = null;
  await vi.waitFor(
    async () => {
      file = await readJson(key);
      expect(file && check(file)).toBe(true);
    },
    { timeout: 10_000, interval: 100 },
  );
  return file;
}

describe("the products file", () => {
  it("an install writes every product with its options, images and variants, in a few calls", async () => {
    const shop = uniqueShop("cat");
    await control("shopify", "shop", { shop, products: 4, variantsUpTo: 3 });
    const before = await adminCalls(shop);
    const { body } = await installShop(shop, { products: null });
    // Webhooks: one list and a create each; sync: the shop, the count, one page of products.
    expect((await adminCalls(shop)) - before).toBe(1 + SHOP_WEBHOOKS.length + 3);
    const file = await readJson(shopProductsKey(body.user_uuid, shop));
    expect(file.count).toBe(4);
    expect(file.products.map((p: any) => p.variants.length)).toEqual([1, 2, 3, 1]);
    expect(file.products[2]).toEqual({
      id: "gid://shopify/Product/1000002",
      title: "Product 2",
      handle: "product-2",
      status: "ACTIVE",
      vendor: "Acme",
      product_type: "Widget",
      tags: ["sale", "t2"],
      description: "A fine widget, number 2. It does what widgets do, and a little more.",
      online_store_url: "https://shop.example/products/product-2",
      total_inventory: 2 + 3 + 4,
      created_at: "2026-01-01T00:00:00Z",
      updated_at: "2026-02-01T00:00:00Z",
      options: [{ name: "Size", values: ["S", "M", "L"] }],
      image: { url: "https://cdn.example/p/2-0.jpg", alt: "Product 2" },
      images: [
        { url: "https://cdn.example/p/2-0.jpg", alt: "Product 2" },
        { url: "https://cdn.example/p/2-1.jpg", alt: null },
      ],
      variants: [0, 1, 2].map((v) => ({
        id: `gid://shopify/ProductVariant/${20000000 + 2 * 4096 + v}`,
        title: ["S", "M", "L"][v],
        sku: `SKU-2-${v}`,
        price: `${2.5 + v * 10}`,
        compare_at_price: v === 0 ? "7.5" : null,
        selected_options: [{ name: "Size", value: ["S", "M", "L"][v] }],
        available_for_sale: true,
        inventory_quantity: 2 + v,
        image: v === 0 ? { url: "https://cdn.example/p/2-0.jpg", alt: "Product 2" } : null,
      })),
    });
    expect(await readJson(shopMetadataKey(body.user_uuid, shop))).toMatchObject({ shop, currency: "USD" });
  });

  it("a product with more variants than a page holds comes out whole, paged or bulk, in the same bytes", async () => {
    const { shop, key } = await installed(3);
    await control("shopify", "product", { shop, index: 1, variants: 600 });
    const before = await adminCalls(shop);
    await shopifyWebhook(shop, "products/update", { id: productId(1) });
    const file = await fileWhere(key, (f) => f.products[1].variants.length === 600);
    // The product with its first 100 variants, then 200 a call for the other 500.
    expect((await adminCalls(shop)) - before).toBe(1 + 3);
    expect(new Set(file.products[1].variants.map((v: any) => v.id)).size).toBe(600);
    const text = await spaces().getText(key);
    await syncShop(env, shop, { mode: "bulk" });
    expect(await spaces().getText(key)).toBe(text);
    await syncShop(env, shop, { mode: "paged" });
    expect(await spaces().getText(key)).toBe(text);
  });
});

describe("a product's change, at the cost of that product", () => {
  it("products/update reads that one product (1 call) and rewrites the file from what is held", async () => {
    const { shop, key } = await installed(40);
    const original = await spaces().getText(key);
    await control("shopify", "product", { shop, index: 7, title: "Blue shirt", inventoryQuantity: 0 });
    const before = await adminCalls(shop);
    await control("spaces", "reset-counts");
    const res = await shopifyWebhook(shop, "products/update", { id: productId(7), title: "Blue shirt" });
    expect(res.status).toBe(200);
    const file = await fileWhere(key, (f) => f.products[7].title === "Blue shirt");
    expect(file.products[7].variants[0]).toMatchObject({ inventory_quantity: 0, available_for_sale: false });
    expect((await adminCalls(shop)) - before).toBe(1);
    // Every other product's line is as it was.
    const lines = (text: string) => text.split("\n");
    const changed = lines((await spaces().getText(key))!).filter((l, i) => l !== lines(original!)[i]);
    expect(changed).toHaveLength(1);
    expect(changed[0]).toContain("Blue shirt");
    expect(logs.has(`Received products/update event from ${shop}: product ${productId(7)}`)).toBe(true);
  });

  it("products/delete drops the product with no Admin API call", async () => {
    const { shop, key } = await installed(5);
    await control("shopify", "product", { shop, index: 2, delete: true });
    const before = await adminCalls(shop);
    await shopifyWebhook(shop, "products/delete", { id: productId(2) });
    const file = await fileWhere(key, (f) => f.count === 4);
    expect(file.products.map((p: any) => p.id)).not.toContain(`gid://shopify/Product/${productId(2)}`);
    expect((await adminCalls(shop)) - before).toBe(0);
  });

  it("products/create adds the new product in id order; an update of a deleted product reads product: null and drops it", async () => {
    const { shop, key } = await installed(3);
    const created = await control("shopify", "product", { shop, create: true, variants: 2 });
    await shopifyWebhook(shop, "products/create", { id: Number(created.id.split("/").pop()) });
    await fileWhere(key, (f) => f.count === 4 && f.products[3].id === created.id);
    await control("shopify", "product", { shop, index: 0, delete: true });
    const before = await adminCalls(shop);
    // A products/update that arrives after the product was deleted: the read finds nothing.
    await shopifyWebhook(shop, "products/update", { id: productId(0) });
    const file = await fileWhere(key, (f) => f.count === 3);
    expect(file.products[0].id).toBe(`gid://shopify/Product/${productId(1)}`);
    expect((await adminCalls(shop)) - before).toBe(1);
  });

  it("changes arriving together are read and written together: ten updates, one read, one write", async () => {
    const { shop, key } = await installed(20);
    for (let i = 0; i < 10; i++) await control("shopify", "product", { shop, index: i, title: `Changed ${i}` });
    const before = await adminCalls(shop);
    const mark = logs.lines.length;
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => shopifyWebhook(shop, "products/update", { id: productId(i) })),
    );
    await fileWhere(key, (f) => f.products.slice(0, 10).every((p: any, i: number) => p.title === `Changed ${i}`));
    expect((await adminCalls(shop)) - before).toBe(1);
    expect(logs.lines.slice(mark).filter((l) => l.includes(`Uploaded ${key} to Spaces`))).toHaveLength(1);
  });

  it("a bulk edit costs one read per 15 products, and a product with many variants still comes whole", async () => {
    const { shop, key } = await installed(40);
    for (let i = 0; i < 40; i++) await control("shopify", "product", { shop, index: i, title: `Bulk ${i}` });
    const big = await control("shopify", "product", { shop, create: true, variants: 30 });
    const bigId = Number(big.id.split("/").pop());
    const before = await adminCalls(shop);
    // What a reconciliation hands over when it finds 41 products changed.
    await catalogueStub(env, shop).changed(shop, {
      read: [...Array.from({ length: 40 }, (_, i) => productId(i)), bigId],
    });
    const file = await fileWhere(key, (f) => f.count === 41 && f.products[39].title === "Bulk 39");
    expect(file.products.slice(0, 40).map((p: any) => p.title)).toEqual(
      Array.from({ length: 40 }, (_, i) => `Bulk ${i}`),
    );
    expect(file.products[40].variants).toHaveLength(30);
    // ⌈41 / 15⌉ = 3 reads, and one more for the variants the third read did not ask for.
    expect((await adminCalls(shop)) - before).toBe(4);
  });

  it("a burst of deliveries for one shop reaches its catalogue object in a few calls, every product read", async () => {
    const { shop, key } = await installed(40);
    for (let i = 0; i < 30; i++) await control("shopify", "product", { shop, index: i, title: `Burst ${i}` });
    const calls = async () =>
      runInDurableObject(catalogueStub(env, shop), async (_o, state: DurableObjectState) =>
        Number(state.storage.sql.exec("SELECT value FROM meta WHERE name = 'seq'").toArray()[0]?.value ?? 0),
      );
    const before = await calls();
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => shopifyWebhook(shop, "products/update", { id: productId(i) })),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(30).fill(200));
    // Deliveries that came while a call was under way rode in the next one.
    expect((await calls()) - before).toBeLessThan(30);
    const file = await fileWhere(key, (f) =>
      f.products.slice(0, 30).every((p: any, i: number) => p.title === `Burst ${i}`),
    );
    expect(file.products.slice(30).every((p: any) => !p.title.startsWith("Burst"))).toBe(true);
  });

  it("a product whose stock changes with every order is read again at most every 3 s, its latest change kept", async () => {
    const { shop, key } = await installed(5);
    await control("shopify", "product", { shop, index: 0, title: "Sale 0" });
    await shopifyWebhook(shop, "products/update", { id: productId(0) });
    await fileWhere(key, (f) => f.products[0].title === "Sale 0");
    const before = await adminCalls(shop);
    // Four more changes, half a second apart: an alarm a second would read it twice or more.
    for (let i = 1; i <= 4; i++) {
      await new Promise((r) => setTimeout(r, 500));
      await control("shopify", "product", { shop, index: 0, title: `Sale ${i}` });
      expect((await shopifyWebhook(shop, "products/update", { id: productId(0) })).status).toBe(200);
    }
    await fileWhere(key, (f) => f.products[0].title === "Sale 4");
    expect((await adminCalls(shop)) - before).toBe(1);
  });

  it("a late or repeated delivery never rolls a product back", async () => {
    const { shop, key } = await installed(3);
    await control("shopify", "product", { shop, index: 1, title: "Newest" });
    await shopifyWebhook(shop, "products/update", { id: productId(1), updated_at: "2026-03-01T00:00:00Z" });
    const file = await fileWhere(key, (f) => f.products[1].title === "Newest");
    // An older read of the same product (a full read that started before the change) changes nothing.
    const stub = catalogueStub(env, shop);
    const older = {
      ...JSON.parse(JSON.stringify(file.products[1])),
      title: "Older",
      updated_at: "2026-02-01T00:00:00Z",
    };
    const { changed } = await stub.load(
      [{ id: productId(1), updatedAt: "2026-02-01T00:00:00.000Z", body: JSON.stringify(older) }],
      productId(0),
      productId(1),
      Date.now() - 60_000,
    );
    expect(changed).toBe(0);
    // The same delivery again, and a late one for the deleted product, leave the file as it is.
    const delivery = `same-${crypto.randomUUID()}`;
    const again = await shopifyWebhook(shop, "products/update", { id: productId(1) }, { id: delivery });
    await shopifyWebhook(shop, "products/update", { id: productId(1) }, { id: delivery });
    expect(again.status).toBe(200);
    await control("shopify", "product", { shop, index: 2, delete: true });
    await shopifyWebhook(shop, "products/delete", { id: productId(2) });
    await fileWhere(key, (f) => f.count === 2);
    await shopifyWebhook(shop, "products/update", { id: productId(2), updated_at: "2026-01-01T00:00:00Z" });
    await new Promise((r) => setTimeout(r, 1500));
    const last = await readJson(key);
    expect(last.products.map((p: any) => p.title)).toEqual(["Product 0", "Newest"]);
  });
});

describe("the daily poll", () => {
  it("with one product changed at Shopify, lists ids cheaply and reads only that product", async () => {
    const { shop, key } = await installed(30);
    await control("shopify", "product", { shop, index: 12, price: "99.00" });
    await control("shopify", "product", { shop, index: 20, delete: true });
    const before = await adminCalls(shop);
    await consumeJobs([{ type: "shopify.sync", shop, reason: "poll" }]);
    const file = await fileWhere(key, (f) => f.count === 29 && f.products[12].variants[0].price === "99.00");
    expect(file.products.map((p: any) => p.id)).not.toContain(`gid://shopify/Product/${productId(20)}`);
    // Subscriptions listed, the shop read, one page of ids, the changed product read.
    expect((await adminCalls(shop)) - before).toBe(4);
    expect(logs.has(`Reconciled the catalogue of ${shop}: 1 changed, 1 removed`)).toBe(true);
  });

  it("an unchanged catalogue costs no write; a products file lost from Spaces is put back from what is held", async () => {
    const { shop, key, userUuid } = await installed(8);
    const text = await spaces().getText(key);
    await control("spaces", "reset-counts");
    await consumeJobs([{ type: "shopify.sync", shop, reason: "poll" }]);
    expect((await control("spaces", "reset-counts")).writes).toBe(0);

    await spaces().delete(key);
    await spaces().delete(shopMetadataKey(userUuid, shop));
    const before = await adminCalls(shop);
    await consumeJobs([{ type: "shopify.sync", shop, reason: "poll" }]);
    expect(await spaces().getText(key)).toBe(text);
    expect(await readJson(shopMetadataKey(userUuid, shop))).toMatchObject({ shop });
    // No product read: the file came from the catalogue object.
    expect((await adminCalls(shop)) - before).toBe(3);
  });
});

describe("shop/update and app/scopes_update", () => {
  it("shop/update writes the shop's metadata again; app/scopes_update stores the granted scopes", async () => {
    const { shop, userUuid } = await installed(1);
    await control("shopify", "shop", { shop, name: "Renamed shop" });
    await shopifyWebhook(shop, "shop/update", { id: 1, updated_at: new Date().toISOString() });
    await vi.waitFor(async () => expect((await readJson(shopMetadataKey(userUuid, shop)))?.name).toBe("Renamed shop"), {
      timeout: 10_000,
      interval: 200,
    });
    const at = new Date(Date.now() + 1000).toISOString();
    const res = await shopifyWebhook(shop, "app/scopes_update", {
      id: 1,
      previous: ["read_products"],
      current: ["read_products", "read_inventory"],
      updated_at: at,
    });
    expect(await res.json()).toMatchObject({ scopes: "updated" });
    const row = await env.TOKENS_DB.prepare("SELECT scope FROM tokens WHERE key = ?1")
      .bind(`shopify:${shop}`)
      .first<any>();
    expect(row.scope).toBe("read_products,read_inventory");
    // An older event does not undo it.
    await shopifyWebhook(shop, "app/scopes_update", {
      id: 1,
      previous: [],
      current: ["read_products"],
      updated_at: "2026-01-01T00:00:00Z",
    });
    const after = await env.TOKENS_DB.prepare("SELECT scope FROM tokens WHERE key = ?1")
      .bind(`shopify:${shop}`)
      .first<any>();
    expect(after.scope).toBe("read_products,read_inventory");
  });
});
