import { describe, expect, it } from "vitest";
import { call, control, cookieOf, signedShopifyCallback, uniqueShop } from "../helpers";

/** The Shopify callback as a merchant's browser sees it: a page in words, the program's JSON unchanged. */
async function callback(shop: string, accept: string) {
  await control("shopify", "shop", { shop, products: 2 });
  const login = await call(`/shopify/${shop}/login`);
  const cookie = cookieOf(login)!;
  const state = new URL(login.headers.get("location")!).searchParams.get("state")!;
  const { code } = await control("shopify", "code", { shop });
  const path = await signedShopifyCallback({ code, shop, state, timestamp: String(Math.floor(Date.now() / 1000)) });
  return call(path, { headers: { cookie: `__Host-sid=${cookie}`, accept } });
}

describe("the Shopify callback's answer", () => {
  it("is a readable page for a browser: the shop, the account, no internal text", async () => {
    const shop = uniqueShop("page");
    const res = await callback(shop, "text/html,application/xhtml+xml,*/*;q=0.8");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain(shop);
    expect(html).toContain("Shop connected");
    expect(html).toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/);
    expect(html).not.toMatch(/PlatformError|Error:|shpua_|shprt_|at .*\.ts:\d+/);
  });

  it("stays the same JSON for a program", async () => {
    const res = await callback(uniqueShop("json"), "application/json");
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = await res.json<{ user_uuid: string; shop: string; sync: { ok: boolean } }>();
    expect(body.user_uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.sync.ok).toBe(true);
  });
});
