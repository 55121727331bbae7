import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { TEST_SECRETS } from "../env";
import {
  call,
  control,
  cookieOf,
  databaseSnapshot,
  installShop,
  logsOfEachTest,
  shopifyWebhook,
  uniqueShop,
} from "../helpers";
import { attackTable } from "./harness";

/**
 * `GET /shopify`, the app URL Shopify opens (App Store, install links, the admin's app list) with
 * a signed `shop`, `hmac`, `timestamp`, `host` and more.
 */

const logs = logsOfEachTest();
const now = () => String(Math.floor(Date.now() / 1000));

/** Signs a query as Shopify's library checks it: sorted by localeCompare, form-encoded, hex HMAC. */
async function signedAppUrl(values: Record<string, string>, secret = TEST_SECRETS.SHOPIFY_API_SECRET) {
  const message = new URLSearchParams(Object.entries(values).sort(([a], [b]) => a.localeCompare(b))).toString();
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(message)));
  const hmac = [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
  return { path: `/shopify?${new URLSearchParams({ ...values, hmac })}`, hmac };
}

/** What Shopify's admin sends when a merchant opens the app. */
const openedFromAdmin = (shop: string, extra: Record<string, string> = {}) => ({
  embedded: "1",
  host: btoa(`admin.shopify.com/store/${shop.split(".")[0]}`),
  locale: "fr-CA",
  session: "a b+c/d=é😀",
  shop,
  timestamp: now(),
  ...extra,
});

const open = async (shop: string, accept = "text/html") =>
  call((await signedAppUrl(openedFromAdmin(shop))).path, { headers: { accept } });

function expectAuthorizeRedirect(res: Response, shop: string) {
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get("location")!);
  expect(`${location.origin}${location.pathname}`).toBe(`${env.FAKE_SHOPIFY}/${shop}/admin/oauth/authorize`);
  expect(location.searchParams.get("client_id")).toBe(TEST_SECRETS.SHOPIFY_API_KEY);
  expect(location.searchParams.get("scope")).toBe("read_products");
  expect(location.searchParams.get("redirect_uri")).toBe("https://worker.test/shopify/callback");
  expect(location.searchParams.get("state")).toMatch(/^[0-9a-f]{32,}$/);
  return location;
}

describe("GET /shopify for a shop that is not installed", () => {
  it("goes straight to the authorize URL, and that redirect completes the install", async () => {
    const shop = uniqueShop("appurl");
    await control("shopify", "shop", { shop, products: 2 });
    const res = await open(shop);
    const location = expectAuthorizeRedirect(res, shop);
    const cookie = cookieOf(res);
    expect(cookie).not.toBeNull();
    expect(res.headers.get("set-cookie")).toMatch(/HttpOnly/i);
    const { code } = await control("shopify", "code", { shop });
    const callback = await signedAppUrl({
      code,
      shop,
      state: location.searchParams.get("state")!,
      timestamp: now(),
      host: btoa(`admin.shopify.com/store/${shop.split(".")[0]}`),
    });
    const installed = await call(callback.path.replace("/shopify?", "/shopify/callback?"), {
      headers: { cookie: `__Host-sid=${cookie}` },
    });
    expect(installed.status).toBe(200);
    expect(await installed.json()).toMatchObject({ shop });
  });
});

describe("GET /shopify for an installed shop", () => {
  it("healthy: 200, the merchant's page with the shop, its account and the last sync; no token", async () => {
    const shop = uniqueShop("healthy");
    const { body } = await installShop(shop, { products: 3 });
    const res = await open(shop);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain(shop);
    expect(html).toContain(body.user_uuid);
    expect(html).toMatch(/<dt>Products<\/dt><dd>3<\/dd>/);
    expect(html).toMatch(/<time datetime="\d{4}-\d{2}-\d{2}T/);
    expect(html).not.toMatch(/shpat_|access_token|refresh/i);
  });

  it("healthy: the page has the page headers, framed only by Shopify's admin and the shop", async () => {
    const shop = uniqueShop("headers");
    await installShop(shop, { products: 1 });
    for (const accept of ["text/html", "*/*"]) {
      const res = await open(shop, accept);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'none'");
      expect(csp).toMatch(
        new RegExp(`frame-ancestors https://admin\\.shopify\\.com https://${shop.replace(/\./g, "\\.")}$`),
      );
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("vary")).toBe("Accept");
    }
  });

  it("healthy, asked for JSON: the same as JSON", async () => {
    const shop = uniqueShop("json");
    const { body } = await installShop(shop, { products: 4 });
    const res = await open(shop, "application/json");
    expect(res.status).toBe(200);
    const page = await res.json<Record<string, unknown>>();
    expect(page).toMatchObject({ shop, user_uuid: body.user_uuid, products: 4 });
    expect(page.last_synced_at).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(JSON.stringify(page)).not.toMatch(/shpat_|token/i);
  });

  it.each([
    ["its token needs a new install", "UPDATE tokens SET status = 'needs_reauth' WHERE key = ?1", "needs reauth"],
    ["its token is gone", "DELETE FROM tokens WHERE key = ?1", "no token"],
    [
      "the granted scopes differ from SHOPIFY_SCOPES",
      "UPDATE tokens SET scope = 'read_orders' WHERE key = ?1",
      "scopes changed",
    ],
    [
      "the token and its refresh token expired",
      "UPDATE tokens SET expires_at = 1, refresh_expires_at = 1 WHERE key = ?1",
      "token expired",
    ],
  ])("%s: 302 straight to the authorize URL", async (_name, sql, reason) => {
    const shop = uniqueShop("dead");
    await installShop(shop);
    await env.TOKENS_DB.prepare(sql).bind(`shopify:${shop}`).run();
    expectAuthorizeRedirect(await open(shop), shop);
    expect(logs.has(`App opened for ${shop}: ${reason}, starting OAuth`)).toBe(true);
  });

  it("uninstalled: 302 straight to the authorize URL", async () => {
    const shop = uniqueShop("gone");
    await installShop(shop);
    await shopifyWebhook(shop, "app/uninstalled", { myshopify_domain: shop });
    expectAuthorizeRedirect(await open(shop), shop);
    expect(logs.has(`App opened for ${shop}: uninstalled, starting OAuth`)).toBe(true);
  });
});

describe("GET /shopify under attack", () => {
  const shop = uniqueShop("attack");
  attackTable([
    {
      name: "forged hmac",
      status: 401,
      send: async () => call((await signedAppUrl(openedFromAdmin(shop), "guess")).path),
    },
    {
      name: "missing hmac",
      status: 401,
      send: () => call(`/shopify?${new URLSearchParams(openedFromAdmin(shop))}`),
    },
    {
      name: "upper-case hex hmac",
      status: 401,
      send: async () => {
        const { path, hmac } = await signedAppUrl(openedFromAdmin(shop));
        return call(path.replace(hmac, hmac.toUpperCase()));
      },
    },
    {
      name: "a signed value changed",
      status: 401,
      send: async () => call((await signedAppUrl(openedFromAdmin(shop))).path.replace("locale=fr-CA", "locale=en")),
    },
    {
      name: "stale timestamp (91 s)",
      status: 401,
      send: async () =>
        call((await signedAppUrl(openedFromAdmin(shop, { timestamp: String(Number(now()) - 91) }))).path),
    },
    {
      name: "timestamp not whole seconds",
      status: 400,
      send: async () => call((await signedAppUrl(openedFromAdmin(shop, { timestamp: `${now()}.5` }))).path),
    },
    {
      name: "shop not a shop domain (signed)",
      status: 400,
      send: async () => call((await signedAppUrl(openedFromAdmin("evil.com/x.myshopify.com"))).path),
    },
    {
      name: "shop in upper case (signed)",
      status: 400,
      send: async () => call((await signedAppUrl(openedFromAdmin(shop.toUpperCase()))).path),
    },
    { name: "no query at all", status: 401, send: () => call("/shopify") },
  ]);

  it("a rejected open sets no cookie", async () => {
    const before = await databaseSnapshot();
    const res = await call((await signedAppUrl(openedFromAdmin(shop), "guess")).path);
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(await databaseSnapshot()).toBe(before);
  });
});
