import { randomBytes } from "node:crypto";
import { json, listen, type FakeResponse } from "./http";

/**
 * A fake Shopify for one or many shops, speaking the documented wire formats:
 * - `POST /{shop}/admin/oauth/access_token`: code → expiring offline token + refresh token
 *   (`expiring: "1"`), and `grant_type: refresh_token` (the refresh token is replaced at each use);
 * - `POST /{shop}/admin/api/{version}/graphql.json`: `X-Shopify-Access-Token`, `shop`, `products`
 *   with cursors (at most 250 a page), `webhookSubscriptions`, `webhookSubscriptionCreate` with
 *   `userErrors`; `extensions.cost.throttleStatus` on every answer, THROTTLED when the bucket is
 *   short, 401 for an unknown or expired token;
 * - faults on demand: HTTP 429 with `Retry-After`, 5xx, slow answers.
 * Tests steer it through `/_control/*`.
 */

interface ShopState {
  products: Record<string, unknown>[];
  accessTokens: Map<string, number>;
  refreshTokens: Set<string>;
  codes: Set<string>;
  webhooks: { id: string; topic: string; callbackUrl: string }[];
  available: number;
  lastRestore: number;
  /** Points restored a second (Shopify: 100 Standard, 200 Advanced, 1000 Plus). */
  restoreRate: number;
  name: string;
}

export interface ShopifyFakeOptions {
  apiKey: string;
  apiSecret: string;
  port?: number;
}

const MAX_COST = 2000;
const RESTORE_RATE = 100;

export function makeProduct(i: number, revision = 0): Record<string, unknown> {
  return {
    id: `gid://shopify/Product/${1000000 + i}`,
    title: `Product ${i}${revision ? ` rev ${revision}` : ""}`,
    handle: `product-${i}`,
    status: "ACTIVE",
    vendor: "Acme",
    productType: "Widget",
    tags: ["sale", `t${i % 7}`],
    description: `A fine widget, number ${i}. It does what widgets do, and a little more.`,
    onlineStoreUrl: `https://shop.example/products/product-${i}`,
    totalInventory: i % 50,
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: `2026-02-01T00:00:${String(revision % 60).padStart(2, "0")}Z`,
    featuredImage: { url: `https://cdn.example/p/${i}.jpg`, altText: null },
    priceRangeV2: {
      minVariantPrice: { amount: `${(i % 100) + 0.5}`, currencyCode: "USD" },
      maxVariantPrice: { amount: `${(i % 100) + 10.5}`, currencyCode: "USD" },
    },
  };
}

export async function startShopifyFake(opts: ShopifyFakeOptions) {
  const shops = new Map<string, ShopState>();
  let faults: { kind: "429" | "500" | "slow"; times: number; retryAfter?: string; delayMs?: number }[] = [];
  let tokenTtlSeconds = 3600;
  const calls = { graphql: 0, token: 0, refresh: 0, throttled: 0 };
  /** Every token handed out, so a leak check can look for them. */
  const issued: string[] = [];

  const shopState = (shop: string): ShopState => {
    let s = shops.get(shop);
    if (!s) {
      s = {
        products: [],
        accessTokens: new Map(),
        refreshTokens: new Set(),
        codes: new Set(),
        webhooks: [],
        available: MAX_COST,
        lastRestore: Date.now(),
        restoreRate: RESTORE_RATE,
        name: shop.split(".")[0]!,
      };
      shops.set(shop, s);
    }
    return s;
  };

  const issueToken = (s: ShopState) => {
    const access = `shpua_${randomBytes(16).toString("hex")}`;
    const refresh = `shprt_${randomBytes(16).toString("hex")}`;
    issued.push(access, refresh);
    s.accessTokens.set(access, Date.now() + tokenTtlSeconds * 1000);
    s.refreshTokens.add(refresh);
    return {
      access_token: access,
      scope: "read_products",
      expires_in: tokenTtlSeconds,
      refresh_token: refresh,
      refresh_token_expires_in: 7776000,
    };
  };

  const throttleStatus = (s: ShopState) => ({
    maximumAvailable: MAX_COST,
    currentlyAvailable: Math.floor(s.available),
    restoreRate: s.restoreRate,
  });

  const restore = (s: ShopState) => {
    const now = Date.now();
    s.available = Math.min(MAX_COST, s.available + ((now - s.lastRestore) / 1000) * s.restoreRate);
    s.lastRestore = now;
  };

  function graphql(s: ShopState, shop: string, query: string, variables: Record<string, any>): FakeResponse {
    restore(s);
    const requested = /ShopProducts/.test(query) ? 752 : 10;
    if (requested > s.available) {
      calls.throttled++;
      return json({
        errors: [
          {
            message: "Throttled",
            extensions: { code: "THROTTLED", documentation: "https://shopify.dev/api/usage/rate-limits" },
          },
        ],
        extensions: {
          cost: { requestedQueryCost: requested, actualQueryCost: null, throttleStatus: throttleStatus(s) },
        },
      });
    }
    let data: unknown;
    let actual = 1;
    if (/query ShopMetadata/.test(query)) {
      data = {
        shop: {
          id: `gid://shopify/Shop/${shop.length}`,
          name: s.name,
          email: `owner@${shop}`,
          myshopifyDomain: shop,
          primaryDomain: { url: `https://${shop}`, host: shop },
          currencyCode: "USD",
          description: null,
          plan: { displayName: "Basic" },
          ianaTimezone: "UTC",
          contactEmail: `owner@${shop}`,
        },
      };
    } else if (/query ShopProducts/.test(query)) {
      const first = Math.min(250, Number(/first:\s*(\d+)/.exec(query)?.[1] ?? 50));
      const start = variables.cursor ? Number(Buffer.from(variables.cursor, "base64").toString().split(":")[1]) : 0;
      const nodes = s.products.slice(start, start + first);
      const end = start + nodes.length;
      actual = 2 + nodes.length * 3;
      data = {
        products: {
          pageInfo: {
            hasNextPage: end < s.products.length,
            endCursor: nodes.length ? Buffer.from(`cursor:${end}`).toString("base64") : null,
          },
          nodes,
        },
      };
    } else if (/query WebhookSubscriptions/.test(query)) {
      data = {
        webhookSubscriptions: {
          pageInfo: { hasNextPage: false, endCursor: null },
          nodes: s.webhooks.map((w) => ({
            id: w.id,
            topic: w.topic,
            endpoint: { __typename: "WebhookHttpEndpoint", callbackUrl: w.callbackUrl },
          })),
        },
      };
    } else if (/mutation WebhookSubscriptionCreate/.test(query)) {
      const taken = s.webhooks.some((w) => w.topic === variables.topic && w.callbackUrl === variables.callbackUrl);
      if (taken || !/^https?:\/\//.test(String(variables.callbackUrl))) {
        data = {
          webhookSubscriptionCreate: {
            webhookSubscription: null,
            userErrors: [
              {
                field: ["webhookSubscription", "callbackUrl"],
                message: taken ? "Address for this topic has already been taken" : "Address is invalid",
              },
            ],
          },
        };
      } else {
        const hook = {
          id: `gid://shopify/WebhookSubscription/${s.webhooks.length + 1}`,
          topic: variables.topic,
          callbackUrl: variables.callbackUrl,
        };
        s.webhooks.push(hook);
        data = {
          webhookSubscriptionCreate: { webhookSubscription: { id: hook.id, topic: hook.topic }, userErrors: [] },
        };
      }
    } else {
      return json({ errors: [{ message: "Parse error on query" }] });
    }
    s.available -= actual;
    return json({
      data,
      extensions: {
        cost: { requestedQueryCost: requested, actualQueryCost: actual, throttleStatus: throttleStatus(s) },
      },
    });
  }

  const fake = await listen(async (req, url, body) => {
    if (url.pathname.startsWith("/_control/")) return control(url, body.length ? JSON.parse(body.toString()) : {});
    const match =
      /^\/([a-z0-9][a-z0-9-]*\.myshopify\.com)\/admin\/(oauth\/access_token|api\/(\d{4}-\d{2})\/graphql\.json)$/.exec(
        url.pathname,
      );
    if (!match || req.method !== "POST") return json({ errors: "Not Found" }, 404);
    const shop = match[1]!;
    const s = shopState(shop);
    const fault = faults[0];
    if (fault) {
      if (--fault.times <= 0) faults.shift();
      if (fault.kind === "429")
        return json({ errors: "Exceeded 2 calls per second for api client." }, 429, {
          "retry-after": fault.retryAfter ?? "1.0",
        });
      if (fault.kind === "500") return json({ errors: "Internal Server Error" }, 500);
      if (fault.kind === "slow") await new Promise((r) => setTimeout(r, fault.delayMs ?? 2000));
    }
    const payload = JSON.parse(body.toString() || "{}");
    if (match[2] === "oauth/access_token") {
      if (payload.client_id !== opts.apiKey || payload.client_secret !== opts.apiSecret) {
        return json({ error: "invalid_client", error_description: "Client authentication failed" }, 401);
      }
      if (payload.grant_type === "refresh_token") {
        calls.refresh++;
        if (!s.refreshTokens.delete(payload.refresh_token))
          return json({ error: "invalid_grant", error_description: "refresh token is invalid" }, 400);
        return json(issueToken(s));
      }
      calls.token++;
      if (!s.codes.delete(payload.code))
        return json(
          { error: "invalid_request", error_description: "authorization code was not found or was already used" },
          400,
        );
      if (payload.expiring !== "1")
        return json({ access_token: `shpat_${randomBytes(16).toString("hex")}`, scope: "read_products" });
      return json(issueToken(s));
    }
    calls.graphql++;
    const token = req.headers["x-shopify-access-token"];
    const expiry = typeof token === "string" ? s.accessTokens.get(token) : undefined;
    if (!expiry || expiry < Date.now()) {
      return json({ errors: "[API] Invalid API key or access token (unrecognized login or wrong password)" }, 401);
    }
    return graphql(s, shop, String(payload.query ?? ""), payload.variables ?? {});
  }, opts.port);

  function control(url: URL, body: any): FakeResponse {
    switch (url.pathname) {
      case "/_control/reset":
        shops.clear();
        faults = [];
        tokenTtlSeconds = 3600;
        Object.assign(calls, { graphql: 0, token: 0, refresh: 0, throttled: 0 });
        return json({ ok: true });
      case "/_control/shop": {
        const s = shopState(body.shop);
        if (body.products !== undefined)
          s.products = Array.from({ length: body.products }, (_, i) => makeProduct(i, body.revision ?? 0));
        if (body.name) s.name = body.name;
        if (body.available !== undefined) s.available = body.available;
        if (body.restoreRate !== undefined) s.restoreRate = body.restoreRate;
        return json({ ok: true });
      }
      case "/_control/code": {
        const code = randomBytes(8).toString("hex");
        shopState(body.shop).codes.add(code);
        return json({ code });
      }
      case "/_control/grant": {
        // A token as if issued by an install long ago (for seeding many shops at once).
        for (const { shop, access_token, products } of body.grants ?? [body]) {
          const s = shopState(shop);
          s.accessTokens.set(access_token, Date.now() + 365 * 24 * 3600 * 1000);
          if (products !== undefined) s.products = Array.from({ length: products }, (_, i) => makeProduct(i));
          if (body.restoreRate !== undefined) s.restoreRate = body.restoreRate;
        }
        return json({ ok: true });
      }
      case "/_control/issued":
        return json({ tokens: issued });
      case "/_control/token-ttl":
        tokenTtlSeconds = body.seconds;
        return json({ ok: true });
      case "/_control/expire-tokens": {
        const s = shopState(body.shop);
        for (const key of s.accessTokens.keys()) s.accessTokens.set(key, 0);
        return json({ ok: true });
      }
      case "/_control/faults":
        faults = body.faults ?? [];
        return json({ ok: true });
      case "/_control/state": {
        const s = shops.get(String(url.searchParams.get("shop")));
        return json({
          calls,
          webhooks: s?.webhooks ?? [],
          liveTokens: s ? [...s.accessTokens.values()].filter((t) => t > Date.now()).length : 0,
          refreshTokens: s?.refreshTokens.size ?? 0,
        });
      }
      default:
        return json({ error: "unknown control" }, 404);
    }
  }

  return { ...fake, shops, calls };
}
