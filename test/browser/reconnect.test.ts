import { beforeAll, describe, expect, inject, it } from "vitest";
import { control, installShop, loginFacebook, shopifyWebhookRequest } from "../../dev/platform-client";
import { signShopifyQuery } from "../../src/lib/signatures";
import { browserForFile, screenshot } from "./chromium";

/**
 * A shop whose grant Shopify revoked: the next sync is refused (401), the token is marked as
 * needing a new install, and the merchant opening the app from Shopify's admin is taken through
 * Shopify's consent screen again, back to the same account.
 *
 * A Facebook Page whose page token Meta stopped honouring (error 190): the daily poll marks it, the
 * shop's home page says so with a "Reconnect with Facebook" link, and a new login through Meta's
 * dialog brings the page back to the same account.
 */

const stack = inject("stack");
const browser = browserForFile();
const stamp = Math.random().toString(36).slice(2, 8);
const shop = `reconnect-${stamp}.myshopify.com`;
let userUuid: string;
/** A second merchant: a shop and a linked Facebook Page whose token dies. */
const pageShop = `reconnect-page-${stamp}.myshopify.com`;
const fbPage = { id: `1017${String(Date.now()).slice(-11)}`, name: `Reconnect <Shoes> ${stamp}` };
let pageOwner: string;

beforeAll(async () => {
  await control(stack.shopify, "shop", { shop, products: 2 });
  userUuid = (await installShop(stack.workerDirect, stack.shopify, stack.secrets, shop)).body.user_uuid;
  await control(stack.shopify, "shop", { shop: pageShop, products: 1 });
  const installed = await installShop(stack.workerDirect, stack.shopify, stack.secrets, pageShop);
  pageOwner = installed.body.user_uuid;
  await control(stack.graph, "page", fbPage);
  // The same browser session as the install: the page is linked to the shop's account.
  const login = await loginFacebook(stack.workerDirect, stack.graph, [fbPage.id], installed.cookie);
  expect(login.body.user_uuid).toBe(pageOwner);
});

/** The app URL as Shopify's admin opens it: `shop`, `host`, `timestamp`, signed. */
async function appUrl(origin: string, forShop = shop) {
  const params = new URLSearchParams({
    host: Buffer.from(`admin.shopify.com/store/${forShop.split(".")[0]}`).toString("base64"),
    shop: forShop,
    timestamp: String(Math.floor(Date.now() / 1000)),
  });
  params.set("hmac", await signShopifyQuery(params, stack.secrets.SHOPIFY_API_SECRET));
  return `${origin}/shopify?${params}`;
}

describe("a shop reconnects in Chromium", () => {
  it("after Shopify revoked the grant: the app URL leads through consent to the same account", async () => {
    const page = await browser.context.newPage();
    // Healthy first: the app URL shows the shop's home page.
    await page.goto(await appUrl(stack.worker));
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe(shop);
    expect((await page.textContent("body"))!).toContain(userUuid);

    await control(stack.shopify, "revoke-tokens", { shop });
    const shopResource = { id: 1, name: "Changed", myshopify_domain: shop, updated_at: new Date().toISOString() };
    const res = await fetch(
      await shopifyWebhookRequest(stack.workerDirect, stack.secrets, shop, "shop/update", shopResource, `wh-${stamp}`),
    );
    expect(await res.json()).toMatchObject({ queued: "metadata" });
    // The metadata read is refused and the token marked: the app URL now starts OAuth.
    await expect
      .poll(async () => (await fetch(await appUrl(stack.workerDirect), { redirect: "manual" })).status, {
        timeout: 30_000,
        interval: 500,
      })
      .toBe(302);

    await page.goto(await appUrl(stack.worker));
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
    await page.goto(await appUrl(stack.worker));
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe(shop);
    await page.close();
  });

  it("after Meta stopped honouring a page token: the home page's notice leads through Facebook's login to the same account", async () => {
    // Another merchant's computer: no session of the first test's shop (bound by its callback).
    await browser.context.clearCookies();
    const page = await browser.context.newPage();
    const notice = `We can no longer reach ${fbPage.name}`;
    await page.goto(await appUrl(stack.worker, pageShop));
    expect((await page.textContent("body"))!).toContain(`${fbPage.name}: connected`);
    expect(await page.getByRole("alert").count()).toBe(0);

    // Meta invalidates the page token (the admin changed their password: 190, subcode 460).
    await control(stack.graph, "kill-token", { page: fbPage.id, subcode: 460 });
    const cron = await fetch(`${stack.workerDirect}/__scheduled?cron=${encodeURIComponent("30 3 * * *")}`);
    expect(cron.ok).toBe(true);
    // The poll is refused with 190 and marks the token: the home page then says so.
    await expect
      .poll(
        async () => {
          const res = await fetch(await appUrl(stack.workerDirect, pageShop), { headers: { accept: "text/html" } });
          return res.status === 200 && (await res.text()).includes("We can no longer reach");
        },
        { timeout: 30_000, interval: 500 },
      )
      .toBe(true);

    await page.goto(await appUrl(stack.worker, pageShop));
    const alert = page.getByRole("alert");
    expect((await alert.textContent())!.replace(/\s+/g, " ")).toContain(notice);
    await screenshot(page, "reconnect-page-notice");
    await alert.getByRole("link", { name: "Reconnect with Facebook" }).click();

    // Meta's login dialog (another site): the merchant picks this page only, as the notice asks.
    await page.waitForURL((url) => url.origin === stack.graph);
    for (const box of await page.getByRole("checkbox").all()) {
      const label = (await box.evaluate((el) => el.parentElement?.textContent ?? "")).trim();
      await box.setChecked(label === fbPage.name);
    }
    await screenshot(page, "reconnect-page-dialog");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL((url) => url.origin === stack.worker && url.pathname === "/facebook/callback");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Facebook Page connected");
    const body = (await page.textContent("body"))!;
    expect(body).toContain(fbPage.name);
    expect(body).toContain(pageOwner);
    expect(body).not.toContain("Belongs to another account");
    expect(body).not.toMatch(/Error:|PlatformError|"user_uuid"|EAA/);
    await screenshot(page, "reconnect-page-done");

    // Meta answers the new token: the next poll succeeds, and the home page lists the page
    // connected, with no notice.
    const since = Date.now();
    await fetch(`${stack.workerDirect}/__scheduled?cron=${encodeURIComponent("30 3 * * *")}`);
    await expect
      .poll(
        async () => {
          const res = await fetch(`${stack.workerDirect}/admin/facebook/pages`, {
            headers: { authorization: `Bearer ${stack.secrets.ADMIN_TOKEN}` },
          });
          const status = (
            (await res.json()) as {
              pages: { pageId: string; lastPollAt: number | null; lastPollResult: string | null }[];
            }
          ).pages.find((p) => p.pageId === fbPage.id);
          return (status?.lastPollAt ?? 0) >= since ? status?.lastPollResult : null;
        },
        { timeout: 30_000, interval: 500 },
      )
      .toBe("Success");
    await page.goto(await appUrl(stack.worker, pageShop));
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe(pageShop);
    const home = (await page.textContent("body"))!;
    expect(home).toContain(`${fbPage.name}: connected`);
    expect(home).not.toContain("We can no longer reach");
    expect(await page.getByRole("alert").count()).toBe(0);
    await page.close();
  });
});
