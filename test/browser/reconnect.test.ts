import { beforeAll, describe, expect, inject, it } from "vitest";
import { control, installShop, shopifyWebhookRequest, signShopifyQuery } from "../../scripts/lib/platform-client";
import { browserForFile, screenshot } from "./chromium";

/**
 * A shop whose grant Shopify revoked: the next sync is refused (401), the token is marked as
 * needing a new install, and the merchant opening the app from Shopify's admin is taken through
 * Shopify's consent screen again, back to the same account.
 */

const stack = inject("stack");
const browser = browserForFile();
const stamp = Math.random().toString(36).slice(2, 8);
const shop = `reconnect-${stamp}.myshopify.com`;
let userUuid: string;

beforeAll(async () => {
  await control(stack.shopify, "shop", { shop, products: 2 });
  userUuid = (await installShop(stack.workerDirect, stack.shopify, stack.secrets, shop)).body.user_uuid;
});

/** The app URL as Shopify's admin opens it: `shop`, `host`, `timestamp`, signed. */
function appUrl(origin: string) {
  const params = new URLSearchParams({
    host: Buffer.from(`admin.shopify.com/store/${shop.split(".")[0]}`).toString("base64"),
    shop,
    timestamp: String(Math.floor(Date.now() / 1000)),
  });
  params.set("hmac", signShopifyQuery(params, stack.secrets.SHOPIFY_API_SECRET));
  return `${origin}/shopify?${params}`;
}

describe("a shop reconnects in Chromium", () => {
  it("after Shopify revoked the grant: the app URL leads through consent to the same account", async () => {
    const page = await browser.context.newPage();
    // Healthy first: the app URL shows the shop's home page.
    await page.goto(appUrl(stack.worker));
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe(shop);
    expect((await page.textContent("body"))!).toContain(userUuid);

    await control(stack.shopify, "revoke-tokens", { shop });
    const product = { id: 1, title: "Changed", updated_at: new Date().toISOString() };
    const res = await fetch(
      shopifyWebhookRequest(stack.workerDirect, stack.secrets, shop, "products/update", product, `wh-${stamp}`),
    );
    expect(await res.json()).toMatchObject({ queued: "sync" });
    // The sync is refused and the token marked: the app URL now starts OAuth.
    await expect
      .poll(async () => (await fetch(appUrl(stack.workerDirect), { redirect: "manual" })).status, {
        timeout: 30_000,
        interval: 500,
      })
      .toBe(302);

    await page.goto(appUrl(stack.worker));
    expect(new URL(page.url()).origin).toBe(stack.shopify);
    await screenshot(page, "reconnect-shopify-consent");
    await page
      .getByRole("button", { name: /install|approve|allow|continue|connect|authori[sz]e/i })
      .first()
      .click();
    await page.waitForURL((url) => url.origin === stack.worker && url.pathname === "/shopify/callback");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toMatch(/Shop (re)?connected/);
    const body = (await page.textContent("body"))!;
    expect(body).toContain(shop);
    expect(body).toContain(userUuid);
    expect(body).not.toMatch(/Error:|PlatformError|GraphQL|"user_uuid"|shpat_/);
    await screenshot(page, "reconnect-done");

    // And the app URL shows the home page again.
    await page.goto(appUrl(stack.worker));
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe(shop);
    await page.close();
  });
});
