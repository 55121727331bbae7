import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { PlatformError } from "../../src/lib/platform-error";
import { BULK_THRESHOLD, syncShop } from "../../src/shopify/sync";
import { listShopStatus, shopStatus } from "../../src/db/shop-status";
import { ContentChanged, ObjectWriter } from "../../src/spaces/object-writer";
import {
  consumeJobs,
  control,
  logsOfEachTest,
  fakeState,
  installShop,
  readJson,
  spaces,
  uniqueShop,
  CONTRACT_SHOPIFY_TOPICS,
} from "../helpers";

const logs = logsOfEachTest();

describe("shop sync", () => {
  it("pages through every product, 15 a page with their variants, and writes stable bytes", async () => {
    const shop = uniqueShop();
    await installShop(shop, { products: 1 });
    await control("shopify", "shop", { shop, products: 200, plan: "plus" });
    const result = await syncShop(env, shop);
    expect(result!.products).toBe(200);
    expect(result!.mode).toBe("paged");
    expect(result!.apiCalls).toBe(1 + 1 + 14); // shop, productsCount, 14 pages of products
    const file = await readJson(result!.productsKey);
    expect(file.count).toBe(200);
    expect(new Set(file.products.map((p: any) => p.id)).size).toBe(200);

    const again = await syncShop(env, shop);
    expect(again!.written).toEqual([]);
    expect(logs.has(`Data unchanged at ${result!.metadataKey} and ${result!.productsKey} for ${shop}`)).toBe(true);
  });

  it("waits out the cost throttle, a 429 with Retry-After and a 5xx, and still syncs everything", async () => {
    const shop = uniqueShop();
    await installShop(shop, { products: 1 });
    // Bucket nearly empty: the products page (752 points) is throttled until 1 s of restore.
    await control("shopify", "shop", { shop, products: 300, plan: "plus" });
    await control("shopify", "shop", { shop, available: 50 });
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

describe("Shopify's cost limit and throttle", () => {
  it("a page refused with MAX_COST_EXCEEDED is asked again smaller, and the sync completes", async () => {
    const shop = uniqueShop();
    await installShop(shop, { products: 1 });
    await control("shopify", "shop", { shop, products: 100, plan: "plus", maxQueryCost: 400 });
    const before = (await fakeState("shopify", `shop=${shop}`)).calls.costExceeded;
    const result = await syncShop(env, shop);
    await control("shopify", "shop", { shop, maxQueryCost: null });
    expect(result!.products).toBe(100);
    expect((await readJson(result!.productsKey)).count).toBe(100);
    expect((await fakeState("shopify", `shop=${shop}`)).calls.costExceeded).toBe(before + 1);
    // 2 + 15 × 48 = 722 > 400: pages of floor(15 × 400 × 0.75 / 722) = 6 (290 points) from then on.
    expect(logs.has(`Products page for ${shop} cost 722 points: pages of 6 from now on`)).toBe(true);
  });

  it("on a Standard plan (100 points a second), an empty bucket is waited out from throttleStatus", async () => {
    const shop = uniqueShop();
    await installShop(shop, { products: 1 });
    await control("shopify", "shop", { shop, products: 60, plan: "standard" });
    await control("shopify", "shop", { shop, available: 0 });
    const throttledBefore = (await fakeState("shopify", `shop=${shop}`)).calls.throttled;
    const started = Date.now();
    const result = await syncShop(env, shop);
    expect(result!.products).toBe(60);
    // From empty, each page of 722 requested points waits for them at 100 a second: more than 9 s in all.
    expect(Date.now() - started).toBeGreaterThan(9000);
    expect((await fakeState("shopify", `shop=${shop}`)).calls.throttled).toBeGreaterThan(throttledBefore);
  }, 40_000);
});

describe("bulk operations for big catalogues", () => {
  it("above the threshold the sync goes bulk, and writes the same bytes as a paged sync", async () => {
    const shop = uniqueShop("bulk");
    await installShop(shop, { products: 1 });
    await control("shopify", "shop", { shop, products: BULK_THRESHOLD + 234, plan: "plus" });
    const paged = await syncShop(env, shop, { mode: "paged" });
    expect(paged!.mode).toBe("paged");
    const pagedText = await spaces().getText(paged!.productsKey);

    const runsBefore = (await fakeState("shopify", `shop=${shop}`)).calls.bulkRuns;
    const bulk = await syncShop(env, shop);
    expect(bulk!.mode).toBe("bulk");
    expect((await fakeState("shopify", `shop=${shop}`)).calls.bulkRuns).toBe(runsBefore + 1);
    expect(bulk!.products).toBe(BULK_THRESHOLD + 234);
    // Same bytes: nothing to upload, and what Spaces holds is the paged file.
    expect(bulk!.written).not.toContain(bulk!.productsKey);
    expect(await spaces().getText(bulk!.productsKey)).toBe(pagedText);
    expect(bulk!.apiCalls).toBeLessThan(paged!.apiCalls);
    // The same catalogue read again: the object holds the same lines, nothing is written.
    await control("spaces", "reset-counts");
    const again = await syncShop(env, shop);
    expect(again!.written).toEqual([]);
    expect((await control("spaces", "reset-counts")).writes).toBe(0);
  });

  it("a bulk operation that fails is a failed sync (recorded), and the next one completes", async () => {
    const shop = uniqueShop("bulk");
    await installShop(shop, { products: 1 });
    await control("shopify", "shop", { shop, products: BULK_THRESHOLD + 1, plan: "plus", failNextBulk: true });
    await expect(syncShop(env, shop)).rejects.toThrow(/bulk operation FAILED/);
    expect((await shopStatus(env.TOKENS_DB, shop))!.sync).toMatchObject({
      result: "failed",
      reason: "bulk_failed",
      products: 1, // the last good sync's count is kept
    });
    const next = await syncShop(env, shop);
    expect(next!.products).toBe(BULK_THRESHOLD + 1);
    expect((await readJson(next!.productsKey)).count).toBe(BULK_THRESHOLD + 1);
  });
});

describe("bulk operations when Shopify is busy or its storage fails", () => {
  it("five bulk operations already running: the sync is throttled for 30 s, nothing written; later it completes", async () => {
    const shop = uniqueShop("busy");
    await installShop(shop, { products: 1 });
    await control("shopify", "shop", { shop, products: BULK_THRESHOLD + 1, plan: "plus", runningBulk: 5 });
    const before = await spaces().listKeys(`users/`);
    const err = await syncShop(env, shop).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformError);
    expect(err).toMatchObject({ kind: "throttled", retryAfterMs: 30_000 });
    expect(await spaces().listKeys(`users/`)).toEqual(before);
    // Shopify finishes the running ones; the queue's retry then completes the sync.
    await control("shopify", "shop", { shop, finishBulk: true });
    const next = await syncShop(env, shop);
    expect(next!.mode).toBe("bulk");
    expect((await readJson(next!.productsKey)).count).toBe(BULK_THRESHOLD + 1);
  });

  it("the bulk result download is retried on 503 (twice), and a third 503 fails the sync as transient", async () => {
    const shop = uniqueShop("dl");
    await installShop(shop, { products: 1 });
    await control("shopify", "shop", { shop, products: BULK_THRESHOLD + 1, plan: "plus" });
    const downloads = async () => (await fakeState("shopify", `shop=${shop}`)).calls.bulkDownloads as number;
    let before = await downloads();
    await control("shopify", "faults", { bulkDownloads: 2 });
    const synced = await syncShop(env, shop);
    expect((await readJson(synced!.productsKey)).count).toBe(BULK_THRESHOLD + 1);
    expect((await downloads()) - before).toBe(1); // two 503s, then the one served

    before = await downloads();
    await control("shopify", "faults", { bulkDownloads: 3 });
    const err = await syncShop(env, shop).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "transient", status: 503 });
    expect(await downloads()).toBe(before);
    await control("shopify", "faults", {});
  });
});

describe("shop status for the operator", () => {
  it("records each sync: time, result, duration, products, mode, calls; a failure by its reason code only", async () => {
    const shop = uniqueShop();
    await installShop(shop, { products: 4 });
    const ok = (await shopStatus(env.TOKENS_DB, shop))!.sync!;
    expect(ok).toMatchObject({ result: "ok", reason: null, products: 4, mode: "paged", apiCalls: 3 });
    expect(ok.at).toBeGreaterThan(Date.now() - 60_000);
    expect(ok.ms).toBeGreaterThanOrEqual(0);

    await control("shopify", "faults", { faults: [{ kind: "500", times: 10 }] });
    await expect(syncShop(env, shop)).rejects.toThrow();
    const failed = (await shopStatus(env.TOKENS_DB, shop))!.sync!;
    expect(failed).toMatchObject({ result: "failed", reason: "shopify_unavailable", products: 4 });
    const row = await env.TOKENS_DB.prepare("SELECT * FROM shop_status WHERE shop = ?1").bind(shop).first<any>();
    // The platform's words stay out of the row's text (times and the random shop name may hold "500").
    const text = Object.entries(row)
      .filter(([k, v]) => k !== "shop" && typeof v === "string")
      .map(([, v]) => v);
    expect(text.join(" ")).not.toMatch(/500|Admin API|http/);
    // The console's list holds the same row.
    const listed = await listShopStatus(env.TOKENS_DB, shop.slice(0, -1));
    expect(listed[0]).toEqual(await shopStatus(env.TOKENS_DB, shop));
  });
});

describe("webhook subscriptions", () => {
  it("are registered with includeFields trimmed to what the sync needs", async () => {
    const shop = uniqueShop();
    await installShop(shop);
    const hooks = (await fakeState("shopify", `shop=${shop}`)).webhooks as any[];
    const fieldsOf = (topic: string) => hooks.find((w) => w.topic === topic).includeFields;
    expect(fieldsOf("PRODUCTS_UPDATE")).toEqual(["id", "title", "updated_at"]);
    expect(fieldsOf("PRODUCTS_CREATE")).toEqual(["id", "title", "updated_at"]);
    expect(fieldsOf("PRODUCTS_DELETE")).toEqual(["id"]);
    expect(fieldsOf("APP_UNINSTALLED")).toEqual([]); // whole payload: the handler compares its shop
  });

  it("a subscription Shopify removed is back after one daily poll, with a log line and the health recorded", async () => {
    const shop = uniqueShop();
    await installShop(shop);
    expect(await control("shopify", "delete-webhook", { shop, topic: "PRODUCTS_UPDATE" })).toMatchObject({
      deleted: 1,
    });
    await env.JOBS.send({ type: "shopify.sync", shop, reason: "poll" });
    await vi.waitFor(() => expect(logs.has(`Polled shop ${shop}: Success`)).toBe(true), {
      timeout: 20_000,
      interval: 200,
    });
    expect(logs.has(`Webhook subscription repaired for ${shop}: products/update`)).toBe(true);
    expect(logs.lines.filter((l) => l.includes("Webhook subscription repaired"))).toHaveLength(1);
    const hooks = (await fakeState("shopify", `shop=${shop}`)).webhooks as any[];
    expect(hooks.map((w) => w.topic).sort()).toEqual(CONTRACT_SHOPIFY_TOPICS);
    const repaired = hooks.find((w) => w.topic === "PRODUCTS_UPDATE");
    expect(repaired).toMatchObject({
      callbackUrl: "https://worker.test/shopify/webhook",
      includeFields: ["id", "title", "updated_at"],
    });
    expect((await shopStatus(env.TOKENS_DB, shop))!.webhooks).toMatchObject({
      ok: false,
      missing: ["products/update"],
    });

    // The next poll finds everything in place.
    await env.JOBS.send({ type: "shopify.sync", shop, reason: "poll" });
    await vi.waitFor(
      async () => expect((await shopStatus(env.TOKENS_DB, shop))!.webhooks).toMatchObject({ ok: true, missing: [] }),
      {
        timeout: 20_000,
        interval: 200,
      },
    );
    expect(logs.lines.filter((l) => l.includes("Webhook subscription repaired"))).toHaveLength(1);
  });
});

describe("polls of a big catalogue", () => {
  it("an unchanged catalogue written in parts costs no Spaces write; one product changed is read alone", async () => {
    const shop = uniqueShop("big");
    await installShop(shop, { products: 1 });
    await control("shopify", "shop", { shop, products: 5_000, plan: "plus" });
    const partSize = 5 * 1024 * 1024;
    const first = await syncShop(env, shop, { partSize });
    expect(first!.mode).toBe("bulk");
    expect(first!.written).toContain(first!.productsKey);
    expect(first!.productsBytes).toBeGreaterThan(partSize);

    await control("spaces", "reset-counts");
    const calls = async () => (await fakeState("shopify", `shop=${shop}`)).shopCalls.graphql as number;
    let before = await calls();
    await consumeJobs([{ type: "shopify.sync", shop, reason: "poll" }]);
    expect((await control("spaces", "reset-counts")).writes).toBe(0);
    // Subscriptions, the shop, and 20 pages of 250 ids: no product read.
    expect((await calls()) - before).toBe(1 + 1 + 20);

    await control("shopify", "product", { shop, index: 4_999, title: "Changed last" });
    before = await calls();
    await consumeJobs([{ type: "shopify.sync", shop, reason: "poll" }]);
    await vi.waitFor(
      async () => expect((await readJson(first!.productsKey)).products[4999].title).toBe("Changed last"),
      { timeout: 20_000, interval: 250 },
    );
    expect((await calls()) - before).toBe(1 + 1 + 20 + 1);
  }, 120_000);
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

  it("keeps each object's own bytes when writers one after another and side by side reuse part buffers", async () => {
    const base = Date.now() + 2;
    const key = (i: number) =>
      `users/00000000-0000-4000-8000-${(base + i).toString().padStart(12, "0").slice(-12)}/shopify/big.myshopify.com/shop_products.json`;
    // 11 MiB of one letter per object: three parts, the last one short.
    const body = (letter: string) => `["${letter.repeat(11 * 1024 * 1024)}"]`;
    const write = async (i: number, letter: string, expectedBytes = 0) => {
      const writer = new ObjectWriter(spaces(), key(i), 5 * 1024 * 1024, "application/json", "write", expectedBytes);
      const text = body(letter);
      for (let at = 0; at < text.length; at += 300_000) await writer.write(text.slice(at, at + 300_000));
      return writer.finish();
    };
    const first = await write(0, "a");
    // The next writer knows the size: its buffer starts at a whole part (a spare one), not doubling up.
    const second = await write(1, "b", first.bytes);
    const [third, fourth] = await Promise.all([write(2, "c", first.bytes), write(3, "d", first.bytes)]);
    for (const [i, letter, result] of [
      [0, "a", first],
      [1, "b", second],
      [2, "c", third],
      [3, "d", fourth],
    ] as const) {
      expect(result.parts).toBe(3);
      expect(await spaces().getText(key(i))).toBe(body(letter));
    }
  }, 120_000);

  it("cuts parts inside multi-byte text without breaking a character, holding one part at most", async () => {
    const key = `users/00000000-0000-4000-8000-${(Date.now() + 1).toString().padStart(12, "0").slice(-12)}/shopify/big.myshopify.com/shop_products.json`;
    // 3-byte and 4-byte characters, so part ends fall inside characters; lines of odd lengths.
    const line = (i: number) => `"${"é€😀".repeat(1000 + (i % 7))}-${i}",`;
    const writer = new ObjectWriter(spaces(), key, 5 * 1024 * 1024);
    await writer.write("[");
    let expected = "[";
    for (let i = 0; expected.length < 6 * 1024 * 1024; i++) {
      await writer.write(line(i));
      expected += line(i);
    }
    await writer.write('"end"]');
    expected += '"end"]';
    const result = await writer.finish();
    expect(result.parts).toBe(3);
    expect(result.bytes).toBe(new TextEncoder().encode(expected).byteLength);
    expect(result.peakBufferedBytes).toBeLessThanOrEqual(5 * 1024 * 1024 + 4);
    expect(await spaces().getText(key)).toBe(expected);
  });
});
