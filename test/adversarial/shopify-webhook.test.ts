import { beforeAll, describe } from "vitest";
import { toBase64, toHex } from "../../src/lib/encoding";
import { hmacSha256 } from "../../src/lib/signatures";
import { TEST_SECRETS } from "../env";
import { call, installShop, uniqueShop } from "../helpers";
import { attackTable } from "./harness";

const shop = uniqueShop("target");
const SECRET = TEST_SECRETS.SHOPIFY_API_SECRET;
const body = JSON.stringify({ id: 1000000, title: "Product 0" });

async function sha1Base64(secret: string, data: string) {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-1" },
    false,
    ["sign"],
  );
  return toBase64(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(data)));
}

function post(raw: string | Uint8Array, headers: Record<string, string | undefined>) {
  const clean = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<
    string,
    string
  >;
  return call("/shopify/webhook", { method: "POST", body: raw, headers: clean });
}

const headers = async (raw: string, overrides: Record<string, string | undefined> = {}) => ({
  "content-type": "application/json",
  "x-shopify-hmac-sha256": toBase64(await hmacSha256(SECRET, raw)),
  "x-shopify-topic": "products/update",
  "x-shopify-shop-domain": shop,
  "x-shopify-webhook-id": crypto.randomUUID(),
  ...overrides,
});

beforeAll(async () => {
  await installShop(shop);
});

describe("POST /shopify/webhook under attack", () => {
  attackTable([
    {
      name: "forged signature (another secret)",
      status: 401,
      send: async () =>
        post(body, await headers(body, { "x-shopify-hmac-sha256": toBase64(await hmacSha256("guess", body)) })),
    },
    {
      name: "missing signature",
      status: 401,
      send: async () => post(body, await headers(body, { "x-shopify-hmac-sha256": undefined })),
    },
    {
      name: "truncated signature",
      status: 401,
      send: async () =>
        post(
          body,
          await headers(body, { "x-shopify-hmac-sha256": toBase64(await hmacSha256(SECRET, body)).slice(0, 20) }),
        ),
    },
    {
      name: "hex instead of base64",
      status: 401,
      send: async () =>
        post(body, await headers(body, { "x-shopify-hmac-sha256": toHex(await hmacSha256(SECRET, body)) })),
    },
    {
      name: "wrong algorithm (HMAC-SHA1)",
      status: 401,
      send: async () => post(body, await headers(body, { "x-shopify-hmac-sha256": await sha1Base64(SECRET, body) })),
    },
    { name: "signature of another body", status: 401, send: async () => post(`${body} `, await headers(body)) },
    {
      name: "empty body, no signature",
      status: 401,
      send: () => post("", { "x-shopify-topic": "products/update", "x-shopify-shop-domain": shop }),
    },
    {
      name: "empty body, signed (never a delivery, as for Shopify's library)",
      status: 401,
      send: async () => post("", await headers("")),
    },
    { name: "malformed JSON, signed", status: 400, send: async () => post('{"id":', await headers('{"id":')) },
    {
      name: "JSON that is not an object, signed",
      status: 400,
      send: async () => post("[1,2]", await headers("[1,2]")),
    },
    {
      name: "invalid UTF-8, signed",
      status: 400,
      send: async () => {
        const raw = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
        return post(raw, { ...(await headers("")), "x-shopify-hmac-sha256": toBase64(await hmacSha256(SECRET, raw)) });
      },
    },
    {
      name: "wrong content type, signed",
      status: 400,
      send: async () => post(body, await headers(body, { "content-type": "application/x-www-form-urlencoded" })),
    },
    {
      name: "shop header evil.com/x.myshopify.com",
      status: 400,
      send: async () => post(body, await headers(body, { "x-shopify-shop-domain": "evil.com/x.myshopify.com" })),
    },
    {
      name: "shop header shop.myshopify.com.evil.test",
      status: 400,
      send: async () => post(body, await headers(body, { "x-shopify-shop-domain": "shop.myshopify.com.evil.test" })),
    },
    {
      name: "shop header in upper case",
      status: 400,
      send: async () => post(body, await headers(body, { "x-shopify-shop-domain": shop.toUpperCase() })),
    },
    {
      name: "shop header with ..",
      status: 400,
      send: async () => post(body, await headers(body, { "x-shopify-shop-domain": "../x.myshopify.com" })),
    },
    {
      name: "missing topic",
      status: 400,
      send: async () => post(body, await headers(body, { "x-shopify-topic": undefined })),
    },
    {
      name: "topic with a path",
      status: 400,
      send: async () => post(body, await headers(body, { "x-shopify-topic": "../../products/update" })),
    },
    {
      name: "missing webhook id",
      status: 400,
      send: async () => post(body, await headers(body, { "x-shopify-webhook-id": undefined })),
    },
    {
      name: "body over the limit (8 MiB)",
      status: 413,
      send: async () => {
        const big = JSON.stringify({ pad: "x".repeat(8 * 1024 * 1024) });
        return post(big, await headers(big));
      },
    },
    {
      name: "customers/data_request unsigned",
      status: 401,
      send: async () =>
        post(
          body,
          await headers(body, { "x-shopify-topic": "customers/data_request", "x-shopify-hmac-sha256": "AAAA" }),
        ),
    },
    {
      name: "customers/redact unsigned",
      status: 401,
      send: async () =>
        post(body, await headers(body, { "x-shopify-topic": "customers/redact", "x-shopify-hmac-sha256": undefined })),
    },
    {
      name: "shop/redact forged",
      status: 401,
      send: async () =>
        post(
          body,
          await headers(body, {
            "x-shopify-topic": "shop/redact",
            "x-shopify-hmac-sha256": toBase64(await hmacSha256("guess", body)),
          }),
        ),
    },
    { name: "GET instead of POST", status: 404, send: () => call("/shopify/webhook") },
  ]);
});
