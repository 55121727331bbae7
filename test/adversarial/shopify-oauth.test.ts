import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { call, control, cookieOf, installShop, signedShopifyCallback, spaces, uniqueShop } from "../helpers";
import { attackTable } from "./harness";

const shop = uniqueShop("oauth");
let cookie = "";
let otherCookie = "";
let state = "";
let expiredState = "";
let usedState = "";
let code = "";
const now = () => String(Math.floor(Date.now() / 1000));

async function begin() {
  const login = await call(`/shopify/${shop}/login`, cookie ? { headers: { cookie: `__Host-sid=${cookie}` } } : {});
  cookie ||= cookieOf(login)!;
  return new URL(login.headers.get("location")!).searchParams.get("state")!;
}

beforeAll(async () => {
  await control("shopify", "shop", { shop, products: 1 });
  state = await begin();
  expiredState = await begin();
  await env.SESSIONS_DB.prepare("UPDATE oauth_states SET expires_at = 1 WHERE state = ?1").bind(expiredState).run();
  usedState = await begin();
  ({ code } = await control("shopify", "code", { shop }));
  const used = await call(await signedShopifyCallback({ code, shop, state: usedState, timestamp: now() }), {
    headers: { cookie: `__Host-sid=${cookie}` },
  });
  if (used.status !== 200) throw new Error(`setup install failed: ${used.status}`);
  ({ code } = await control("shopify", "code", { shop }));
  otherCookie = cookieOf(await call(`/shopify/${uniqueShop()}/login`))!;
});

const withCookie = (path: string, sid = cookie) => call(path, { headers: { cookie: `__Host-sid=${sid}` } });

describe("Shopify login under attack", () => {
  attackTable(
    [
      "evil.com%2Fx.myshopify.com",
      "evil.com/x.myshopify.com",
      "shop.myshopify.com.evil.test",
      "..%2Fadmin",
      "a%00b",
      "%D0%B0cme", // Cyrillic a
      "acme.myshopify.com%3A443",
      "x".repeat(80),
      "x".repeat(64), // longer than a DNS label
    ].map((name) => ({ name: `shop ${name}`, status: 400, send: () => call(`/shopify/${name}/login`) })),
  );
  // A dot segment is removed by URL parsing before routing: the path is no longer a login route.
  attackTable(
    ["..", "%2e%2e", ".%2E"].map((name) => ({
      name: `shop ${name} (dot segment)`,
      status: 404,
      send: () => call(`/shopify/${name}/login`),
    })),
  );
});

describe("shop names up to a DNS label", () => {
  it("a 63-character shop name installs: its files are written under its domain", async () => {
    const name = `${"n".repeat(55)}${crypto.randomUUID().slice(0, 8)}`;
    expect(name).toHaveLength(63);
    const longShop = `${name}.myshopify.com`;
    const login = await call(`/shopify/${name}/login`);
    expect(login.status).toBe(302);
    const { res, body } = await installShop(longShop, { products: 2 });
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ shop: longShop });
    const prefix = `users/${body.user_uuid}/shopify/${longShop}/`;
    await vi.waitFor(async () =>
      expect((await spaces().listKeys(prefix)).sort()).toEqual([
        `${prefix}shop_metadata.json`,
        `${prefix}shop_products.json`,
      ]),
    );
  });
});

describe("Shopify callback under attack", () => {
  attackTable([
    {
      name: "forged hmac",
      status: 401,
      send: async () => withCookie(await signedShopifyCallback({ code, shop, state, timestamp: now() }, "guess")),
    },
    {
      name: "missing hmac",
      status: 401,
      send: () => withCookie(`/shopify/callback?${new URLSearchParams({ code, shop, state, timestamp: now() })}`),
    },
    {
      name: "truncated hmac",
      status: 401,
      send: async () =>
        withCookie(
          (await signedShopifyCallback({ code, shop, state, timestamp: now() })).replace(
            /hmac=([0-9a-f]{60})[0-9a-f]{4}/,
            "hmac=$1",
          ),
        ),
    },
    {
      name: "timestamp 91 s old",
      status: 401,
      send: async () =>
        withCookie(await signedShopifyCallback({ code, shop, state, timestamp: String(Number(now()) - 91) })),
    },
    {
      name: "timestamp 91 s ahead",
      status: 401,
      send: async () =>
        withCookie(await signedShopifyCallback({ code, shop, state, timestamp: String(Number(now()) + 91) })),
    },
    {
      name: "timestamp not an integer",
      status: 400,
      send: async () => withCookie(await signedShopifyCallback({ code, shop, state, timestamp: "1e9" })),
    },
    {
      name: "replayed state",
      status: 403,
      send: async () => withCookie(await signedShopifyCallback({ code, shop, state: usedState, timestamp: now() })),
    },
    {
      name: "expired state",
      status: 403,
      send: async () => withCookie(await signedShopifyCallback({ code, shop, state: expiredState, timestamp: now() })),
    },
    {
      name: "state of another session",
      status: 403,
      send: async () => withCookie(await signedShopifyCallback({ code, shop, state, timestamp: now() }), otherCookie),
    },
    {
      name: "no session cookie",
      status: 403,
      send: async () => call(await signedShopifyCallback({ code, shop, state, timestamp: now() })),
    },
    {
      name: "state for another shop",
      status: 403,
      send: async () => withCookie(await signedShopifyCallback({ code, shop: uniqueShop(), state, timestamp: now() })),
    },
    {
      name: "spoofed shop, signed",
      status: 400,
      send: async () =>
        withCookie(await signedShopifyCallback({ code, shop: "evil.com/x.myshopify.com", state, timestamp: now() })),
    },
    {
      name: "missing code",
      status: 400,
      send: async () => withCookie(await signedShopifyCallback({ shop, state, timestamp: now() })),
    },
  ]);
});
