import type { Page, Response } from "playwright-core";
import { describe, expect, inject, it } from "vitest";
import { control } from "../../dev/platform-client";
import { browserForFile, screenshot } from "./chromium";

/**
 * A merchant's whole install in Chromium, clicking through the fakes' consent screens (Shopify's
 * authorize page, Meta's login dialog) on 127.0.0.1, another site than the worker on localhost.
 * Each test is skipped, saying so, while its fake has no consent screen to click.
 */

const stack = inject("stack");
const browser = browserForFile();
const stamp = Math.random().toString(36).slice(2, 8);
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
let shopUuid: string | null = null;

/** The fake answered a page a person can click (not a JSON error). */
const isPage = (res: Response | null) => res !== null && (res.headers()["content-type"] ?? "").startsWith("text/html");

/** The consent screen's one affirmative button. */
const consentButton = (page: Page) =>
  page.getByRole("button", { name: /install|approve|allow|continue|connect|authori[sz]e/i }).first();

describe("a merchant installs in Chromium", () => {
  it("from the Shopify login link: consent at Shopify, then a readable success page", async (ctx) => {
    const shop = `clicker-${stamp}.myshopify.com`;
    await control(stack.shopify, "shop", { shop, products: 3 });
    const page = await browser.context.newPage();
    const consent = await page.goto(`${stack.worker}/shopify/${shop}/login`);
    if (!isPage(consent)) ctx.skip("the Shopify fake has no authorize page yet");
    expect(new URL(page.url()).origin).toBe(stack.shopify);
    await screenshot(page, "install-shopify-consent");
    await consentButton(page).click();
    await page.waitForURL((url) => url.origin === stack.worker && url.pathname === "/shopify/callback");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toMatch(/Shop (re)?connected/);
    const body = (await page.textContent("body"))!;
    expect(body).toContain(shop);
    expect(body).not.toMatch(/Error:|PlatformError|GraphQL|"user_uuid"/);
    shopUuid = UUID.exec(body)?.[0] ?? null;
    expect(shopUuid).not.toBeNull();
    await screenshot(page, "install-shopify-done");
    await page.close();
  });

  it("then the Facebook login in the same browser: the same account", async (ctx) => {
    const pageId = String(710000000000000 + Math.floor(Math.random() * 1e9));
    await control(stack.graph, "page", { id: pageId, name: `Clicker ${stamp}` });
    const page = await browser.context.newPage();
    const dialog = await page.goto(`${stack.worker}/facebook/login`);
    if (!isPage(dialog)) ctx.skip("the Graph fake has no login dialog yet");
    expect(new URL(page.url()).origin).toBe(stack.graph);
    await screenshot(page, "install-facebook-dialog");
    await consentButton(page).click();
    await page.waitForURL((url) => url.origin === stack.worker && url.pathname === "/facebook/callback");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toMatch(/Facebook Pages? connected/);
    const body = (await page.textContent("body"))!;
    expect(body).toContain(`Clicker ${stamp}`);
    if (shopUuid) expect(UUID.exec(body)?.[0]).toBe(shopUuid);
    await screenshot(page, "install-facebook-done");
    await page.close();
  });
});
