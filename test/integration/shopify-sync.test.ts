import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { syncShop } from "../../src/shopify/sync";
import { ContentChanged, ObjectWriter } from "../../src/storage/object-writer";
import { control, logsOfEachTest, fakeState, installShop, readJson, spaces, uniqueShop } from "../helpers";

const logs = logsOfEachTest();

describe("shop sync", () => {
  it("pages through every product, 250 a page, and writes stable bytes", async () => {
    const shop = uniqueShop();
    await installShop(shop, { products: 1 });
    await control("shopify", "shop", { shop, products: 620, restoreRate: 100_000 });
    const result = await syncShop(env, shop);
    expect(result!.products).toBe(620);
    expect(result!.apiCalls).toBe(1 + 3); // shop + 3 pages of products
    const file = await readJson(result!.productsKey);
    expect(file.count).toBe(620);
    expect(new Set(file.products.map((p: any) => p.id)).size).toBe(620);

    const again = await syncShop(env, shop);
    expect(again!.written).toEqual([]);
    expect(logs.has(`Data unchanged at ${result!.metadataKey} and ${result!.productsKey} for ${shop}`)).toBe(true);
  });

  it("waits out the cost throttle, a 429 with Retry-After and a 5xx, and still syncs everything", async () => {
    const shop = uniqueShop();
    await installShop(shop, { products: 1 });
    // Bucket nearly empty: the products query (752 points) is throttled until 1 s of restore.
    await control("shopify", "shop", { shop, products: 300, available: 50, restoreRate: 1000 });
    await control("shopify", "faults", {
      faults: [
        { kind: "429", times: 1, retryAfter: "0.2" },
        { kind: "500", times: 1 },
      ],
    });
    const result = await syncShop(env, shop);
    expect(result!.products).toBe(300);
    expect((await readJson(result!.productsKey)).count).toBe(300);
  });

  it("refreshes a token that is about to expire, and stores the new pair", async () => {
    await control("shopify", "token-ttl", { seconds: 60 }); // inside the 5-minute refresh margin
    const shop = uniqueShop();
    await installShop(shop, { products: 1 });
    const before = await env.TOKENS_DB.prepare("SELECT * FROM tokens WHERE key = ?1")
      .bind(`shopify:${shop}`)
      .first<any>();
    const refreshesBefore = (await fakeState("shopify", `shop=${shop}`)).calls.refresh;
    await control("shopify", "token-ttl", { seconds: 3600 });
    await control("shopify", "shop", { shop, products: 2 });
    expect((await syncShop(env, shop))!.products).toBe(2);
    const after = await env.TOKENS_DB.prepare("SELECT * FROM tokens WHERE key = ?1")
      .bind(`shopify:${shop}`)
      .first<any>();
    expect((await fakeState("shopify", `shop=${shop}`)).calls.refresh).toBe(refreshesBefore + 1);
    expect(after.refresh_token).not.toBe(before.refresh_token);
    expect(after.expires_at).toBeGreaterThan(Date.now() + 3000_000);
    expect(logs.has(`Token refreshed for ${shop}`)).toBe(true);
  });

  it("after a 401, refreshes once and retries", async () => {
    const shop = uniqueShop();
    await installShop(shop, { products: 1 });
    await control("shopify", "expire-tokens", { shop });
    await control("shopify", "shop", { shop, products: 3 });
    expect((await syncShop(env, shop))!.products).toBe(3);
  });

  it("a failed refresh keeps the old pair and says so in the log", async () => {
    await control("shopify", "token-ttl", { seconds: 120 });
    const shop = uniqueShop();
    await installShop(shop, { products: 1 });
    const before = await env.TOKENS_DB.prepare("SELECT * FROM tokens WHERE key = ?1")
      .bind(`shopify:${shop}`)
      .first<any>();
    await control("shopify", "faults", { faults: [{ kind: "500", times: 1 }] });
    // The refresh hits the 500; the old token is still valid for 2 minutes, so the sync goes on.
    expect((await syncShop(env, shop))!.products).toBe(1);
    const after = await env.TOKENS_DB.prepare("SELECT * FROM tokens WHERE key = ?1")
      .bind(`shopify:${shop}`)
      .first<any>();
    expect(after.refresh_token).toBe(before.refresh_token);
    expect(logs.has(`Token refresh failed for ${shop}`)).toBe(true);
  });
});

describe("polls of a big catalogue", () => {
  it("an unchanged catalogue written in parts costs no Spaces write; a changed one is written again", async () => {
    const shop = uniqueShop("big");
    await installShop(shop, { products: 1 });
    await control("shopify", "shop", { shop, products: 10_000, restoreRate: 1_000_000 });
    const partSize = 5 * 1024 * 1024;
    const first = await syncShop(env, shop, { partSize });
    expect(first!.written).toContain(first!.productsKey);
    expect(first!.productsBytes).toBeGreaterThan(partSize);

    await control("spaces", "reset-counts");
    const unchanged = await syncShop(env, shop, { partSize, verifyFirst: true });
    expect(unchanged!.written).toEqual([]);
    expect((await control("spaces", "reset-counts")).writes).toBe(0);
    expect(unchanged!.apiCalls).toBe(1 + 40);

    await control("shopify", "shop", { shop, products: 10_000, revision: 9 });
    const changed = await syncShop(env, shop, { partSize, verifyFirst: true });
    expect(changed!.written).toContain(changed!.productsKey);
    expect((await readJson(changed!.productsKey)).products[9999].title).toBe("Product 9999 rev 9");
    // The first part already differs: the compare pass stopped there, then the catalogue was written.
    expect(changed!.apiCalls).toBeLessThan(1 + 40 + 40);
  });
});

describe("ObjectWriter (big files in parts)", () => {
  it("uploads a 12 MiB file as a multipart upload, byte for byte, and skips it when unchanged", async () => {
    const key = `users/00000000-0000-4000-8000-${Date.now().toString().padStart(12, "0").slice(-12)}/shopify/big.myshopify.com/shop_products.json`;
    const chunk = `"${"x".repeat(1024 * 1024 - 3)}",`;
    const write = async () => {
      const writer = new ObjectWriter(spaces(), key, 5 * 1024 * 1024);
      await writer.write("[");
      for (let i = 0; i < 12; i++) await writer.write(chunk);
      await writer.write('"end"]');
      return writer.finish();
    };
    const first = await write();
    expect(first.written).toBe(true);
    expect(first.parts).toBe(3);
    expect(first.peakBufferedBytes).toBeLessThan(6 * 1024 * 1024);
    const text = await spaces().getText(key);
    expect(text!.length).toBe(first.bytes);
    expect(JSON.parse(text!)).toHaveLength(13);
    expect(await spaces().storedSha256(key)).toBe(first.sha256);
    const second = await write();
    expect(second.written).toBe(false);

    // Compare mode: no write for the same bytes; the first differing part stops it.
    const verify = async (last: string) => {
      const writer = new ObjectWriter(spaces(), key, 5 * 1024 * 1024, "application/json", "verify");
      await writer.write("[");
      for (let i = 0; i < 12; i++) await writer.write(i === 11 ? last : chunk);
      await writer.write('"end"]');
      return writer.finish();
    };
    await control("spaces", "reset-counts");
    expect((await verify(chunk)).written).toBe(false);
    expect((await control("spaces", "reset-counts")).writes).toBe(0);
    await expect(verify(chunk.replace("x", "y"))).rejects.toBeInstanceOf(ContentChanged);
    expect((await control("spaces", "reset-counts")).writes).toBe(0);
    expect(await spaces().getText(key)).toBe(text);
  });
});
