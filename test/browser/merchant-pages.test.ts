import { describe, expect, inject, it } from "vitest";
import * as merchant from "../../src/http/pages/merchant.tsx";
import { browserForFile, screenshot } from "./chromium";

/**
 * The merchant's pages as Chromium shows them: the worker's error pages through real routes, and
 * each page component rendered with sample data (the callbacks choose them with `respond()`).
 */

const stack = inject("stack");
const browser = browserForFile();

const USER = "5f0c1e7a-3b2d-4c8e-9a41-2d6b7e9f0a13";

describe("merchant pages in Chromium", () => {
  it("an unknown address and a bad install link answer pages in words", async () => {
    const page = await browser.context.newPage();
    const missing = await page.goto(`${stack.worker}/no/such/page`);
    expect(missing!.status()).toBe(404);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Page not found");
    await screenshot(page, "error-not-found");
    const bad = await page.goto(`${stack.worker}/shopify/not%20a%20shop!/login`);
    expect(bad!.status()).toBe(400);
    const body = (await page.textContent("body"))!;
    expect(body).toContain("That link did not work");
    expect(body).not.toMatch(/Not a valid shop name|Error:|at \S+\.ts/);
    await screenshot(page, "error-bad-link");
    await page.close();
  });

  it("a JSON client still gets the error body", async () => {
    const res = await fetch(`${stack.workerDirect}/no/such/page`);
    expect(await res.json()).toEqual({ error: { code: "not_found", message: "No route for GET /no/such/page" } });
  });

  it.each([
    [
      "shop-connected",
      () =>
        merchant.ShopConnectedPage({
          shop: "acme-7cu19ngr.myshopify.com",
          userUuid: USER,
          sync: { state: "done", products: 42 },
          webhooksOk: true,
          otherAccount: false,
          facebookLoginHref: "/facebook/login",
        }),
      "acme-7cu19ngr.myshopify.com is connected.",
    ],
    [
      "shop-connected-other-account",
      () =>
        merchant.ShopConnectedPage({
          shop: "acme-7cu19ngr.myshopify.com",
          userUuid: USER,
          sync: { state: "queued" },
          webhooksOk: false,
          otherAccount: true,
        }),
      "already connected to another account",
    ],
    [
      "pages-connected",
      () =>
        merchant.PagesConnectedPage({
          userUuid: USER,
          pages: [
            { id: "101234567890123", name: "Acme Shoes", otherAccount: false },
            { id: "101234567890124", name: '<img src=x onerror="alert(1)">', otherAccount: false, queued: true },
            { id: "101234567890125", name: "Agency client", otherAccount: true },
          ],
        }),
      "3 pages are connected.",
    ],
    [
      "shop-home",
      () =>
        merchant.ShopHomePage({
          shop: "acme-7cu19ngr.myshopify.com",
          userUuid: USER,
          productCount: 42,
          lastSyncAt: Date.now() - 3600_000,
          pages: [{ id: "101234567890123", name: "Acme Shoes", needsLogin: false }],
          facebookLoginHref: "/facebook/login",
        }),
      "The app is installed",
    ],
    [
      "shop-home-reconnect",
      () =>
        merchant.ShopHomePage({
          shop: "acme-7cu19ngr.myshopify.com",
          userUuid: USER,
          productCount: 42,
          lastSyncAt: Date.now() - 3600_000,
          pages: [
            { id: "101234567890123", name: "Acme Shoes", needsLogin: true },
            { id: "101234567890124", name: "Acme Hats", needsLogin: false },
          ],
          facebookLoginHref: "/facebook/login",
        }),
      "We can no longer reach Acme Shoes",
    ],
    [
      "error-upstream",
      () => merchant.ErrorPage({ status: 502, ...merchant.errorView("upstream_error", "/shopify/callback") }),
      "Shopify did not answer as expected",
    ],
  ])("%s reads well", async (name, render, expected) => {
    const page = await browser.context.newPage();
    let dialogs = 0;
    page.on("dialog", async (d) => {
      dialogs++;
      await d.dismiss();
    });
    await page.setContent(String(await render().toString()));
    const text = (await page.textContent("body"))!.replace(/\s+/g, " ");
    expect(text).toContain(expected);
    expect(await page.locator("img").count()).toBe(0);
    expect(dialogs).toBe(0);
    await screenshot(page, `merchant-${name}`);
    await page.close();
  });
});
