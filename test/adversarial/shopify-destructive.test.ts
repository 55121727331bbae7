import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { shopProductsKey } from "../../src/spaces/keys";
import {
  databaseSnapshot,
  installShop,
  logsOfEachTest,
  readJson,
  shopifyWebhook,
  spacesSnapshot,
  uniqueShop,
} from "../helpers";

/**
 * `app/uninstalled` and `shop/redact` delete a merchant's token and files. Their headers are not
 * signed and Shopify retries an event with its original payload for 4 hours, so a delivery acts
 * only when the signed payload names the header's shop and the event followed the latest install.
 */

const logs = logsOfEachTest();

const tokenOf = (shop: string) =>
  env.TOKENS_DB.prepare("SELECT key FROM tokens WHERE key = ?1").bind(`shopify:${shop}`).first<{ key: string }>();

/** A delivery that must change nothing: 200, the reason in the answer and the log, D1 and Spaces as before. */
async function expectIgnored(send: () => Promise<Response>, reason: string, logLine: string) {
  // Let the install's own background work settle before the snapshot.
  await new Promise((r) => setTimeout(r, 200));
  const db = await databaseSnapshot();
  const objects = await spacesSnapshot();
  const res = await send();
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ ok: true, ignored: reason });
  expect(logs.has(logLine)).toBe(true);
  await new Promise((r) => setTimeout(r, 200));
  expect(await databaseSnapshot()).toBe(db);
  expect(await spacesSnapshot()).toBe(objects);
}

describe("app/uninstalled acts only when true", () => {
  it("a retry triggered before the latest install (a quick reinstall) keeps the new token", async () => {
    const shop = uniqueShop("reinstall");
    await installShop(shop);
    const triggeredAt = new Date();
    await new Promise((r) => setTimeout(r, 5));
    const payload = { id: 1, domain: shop, myshopify_domain: shop };
    const first = await shopifyWebhook(shop, "app/uninstalled", payload, {
      id: "w-first",
      eventId: "e-1",
      triggeredAt,
    });
    expect(await first.json()).toMatchObject({ removed: "tokens" });
    expect(await tokenOf(shop)).toBeNull();
    const { body } = await installShop(shop);
    expect(await tokenOf(shop)).not.toBeNull();
    // Shopify retries the same event with the original payload and trigger time.
    await expectIgnored(
      () => shopifyWebhook(shop, "app/uninstalled", payload, { id: "w-retry", eventId: "e-1", triggeredAt }),
      "triggered before the latest install",
      `Ignored app/uninstalled for ${shop}: triggered at ${triggeredAt.toISOString()}, before the latest install at`,
    );
    expect(await tokenOf(shop)).not.toBeNull();
    expect(await readJson(shopProductsKey(body.user_uuid, shop))).not.toBeNull();
  });

  it("one triggered a minute before the install changes nothing", async () => {
    const shop = uniqueShop("stale");
    await installShop(shop);
    await expectIgnored(
      () =>
        shopifyWebhook(
          shop,
          "app/uninstalled",
          { domain: shop, myshopify_domain: shop },
          { triggeredAt: new Date(Date.now() - 60_000) },
        ),
      "triggered before the latest install",
      `Ignored app/uninstalled for ${shop}: triggered at`,
    );
    expect(await tokenOf(shop)).not.toBeNull();
  });

  it("a captured body replayed under another shop's header changes nothing", async () => {
    const victim = uniqueShop("victim");
    const captured = uniqueShop("captured");
    await installShop(victim);
    await installShop(captured);
    await expectIgnored(
      () => shopifyWebhook(victim, "app/uninstalled", { domain: captured, myshopify_domain: captured }),
      "payload names another shop",
      `Ignored app/uninstalled for ${victim}: the payload names "${captured}"`,
    );
    expect(await tokenOf(victim)).not.toBeNull();
    expect(await tokenOf(captured)).not.toBeNull();
  });

  it("a payload that names no shop (another topic's body under this topic) changes nothing", async () => {
    const shop = uniqueShop("noshop");
    await installShop(shop);
    await expectIgnored(
      () => shopifyWebhook(shop, "app/uninstalled", { id: 1000000, title: "Product 0" }),
      "payload names no shop",
      `Ignored app/uninstalled for ${shop}: the payload names no shop`,
    );
  });

  it("a delivery without a readable X-Shopify-Triggered-At changes nothing", async () => {
    const shop = uniqueShop("notime");
    await installShop(shop);
    await expectIgnored(
      () =>
        shopifyWebhook(shop, "app/uninstalled", { domain: shop, myshopify_domain: shop }, { triggeredAt: "yesterday" }),
      "no trigger time",
      `Ignored app/uninstalled for ${shop}: no readable X-Shopify-Triggered-At`,
    );
  });

  it("the same event delivered twice (two webhook ids, one event id) acts once", async () => {
    const shop = uniqueShop("twice");
    await installShop(shop);
    const payload = { domain: shop, myshopify_domain: shop };
    const first = await shopifyWebhook(shop, "app/uninstalled", payload, { eventId: "e-twice" });
    expect(await first.json()).toMatchObject({ removed: "tokens" });
    const second = await shopifyWebhook(shop, "app/uninstalled", payload, { eventId: "e-twice" });
    expect(await second.json()).toMatchObject({ duplicate: true });
  });
});

describe("shop/redact acts only when true", () => {
  it("a shop/redact replayed under another shop's header deletes neither shop's token nor files", async () => {
    const victim = uniqueShop("redact-victim");
    const captured = uniqueShop("redact-captured");
    const { body } = await installShop(victim);
    await installShop(captured);
    await expectIgnored(
      () => shopifyWebhook(victim, "shop/redact", { shop_id: 1, shop_domain: captured }),
      "payload names another shop",
      `Ignored shop/redact for ${victim}: the payload names "${captured}"`,
    );
    // Queued work, had any been queued, would have deleted the files by now.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await readJson(shopProductsKey(body.user_uuid, victim))).not.toBeNull();
  });

  it("a shop/redact triggered before a reinstall keeps the new install's token and files", async () => {
    const shop = uniqueShop("redact-stale");
    const triggeredAt = new Date(Date.now() - 1000);
    const { body } = await installShop(shop);
    await expectIgnored(
      () => shopifyWebhook(shop, "shop/redact", { shop_id: 1, shop_domain: shop }, { triggeredAt }),
      "triggered before the latest install",
      `Ignored shop/redact for ${shop}: triggered at ${triggeredAt.toISOString()}`,
    );
    await new Promise((r) => setTimeout(r, 1000));
    expect(await readJson(shopProductsKey(body.user_uuid, shop))).not.toBeNull();
    expect(await tokenOf(shop)).not.toBeNull();
  });

  it("a true shop/redact still removes the token and the files", async () => {
    const shop = uniqueShop("redact-true");
    const { body } = await installShop(shop);
    const res = await shopifyWebhook(shop, "shop/redact", { shop_id: 1, shop_domain: shop });
    expect(await res.json()).toMatchObject({ queued: "redact" });
    expect(await tokenOf(shop)).toBeNull();
    expect(
      await env.TOKENS_DB.prepare("SELECT last_synced_at, sync_products FROM shop_status WHERE shop = ?1")
        .bind(shop)
        .first(),
    ).toEqual({ last_synced_at: null, sync_products: null });
    await vi.waitFor(async () => expect(await readJson(shopProductsKey(body.user_uuid, shop))).toBeNull(), {
      timeout: 20_000,
      interval: 200,
    });
  });
});

describe("deduplication on X-Shopify-Event-Id", () => {
  it("a product event delivered under two webhook ids queues one sync", async () => {
    const shop = uniqueShop("event");
    await installShop(shop);
    const first = await shopifyWebhook(shop, "products/update", { id: 7 }, { eventId: "e-product" });
    expect(await first.json()).not.toMatchObject({ duplicate: true });
    const second = await shopifyWebhook(shop, "products/update", { id: 7 }, { eventId: "e-product" });
    expect(await second.json()).toMatchObject({ duplicate: true });
    const { results } = await env.TOKENS_DB.prepare("SELECT id FROM webhook_deliveries WHERE event_id = 'e-product'")
      .bind()
      .all();
    expect(results).toHaveLength(1);
  });
});
