import { describe, expect, it } from "vitest";
import { toBase64, toHex, utf8 } from "../../src/lib/encoding";
import {
  appSecretProof,
  hmacSha256,
  shopifyQueryMessage,
  shopifyTimestampProblem,
  signShopifyQuery,
  timingSafeEqual,
  verifyMetaSignature,
  verifyShopifyQuery,
  verifyShopifyWebhook,
} from "../../src/lib/signatures";

const SECRET = "hush";

describe("Shopify callback HMAC (hex over the sorted query without hmac and signature)", () => {
  it.each([
    // The example of Shopify's OAuth docs (secret "hush"), with and without `state`.
    [
      "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173",
      "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf",
    ],
    [
      "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&timestamp=1337178173",
      "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20",
    ],
  ])("matches Shopify's documented example %#", async (query, expected) => {
    const params = new URLSearchParams(query);
    expect(await signShopifyQuery(params, SECRET)).toBe(expected);
    params.set("hmac", expected);
    expect(await verifyShopifyQuery(params, SECRET)).toBe(true);
  });

  it("ignores `signature`, and fails for a changed value, another secret or a duplicate hmac", async () => {
    const params = new URLSearchParams("shop=a.myshopify.com&timestamp=1&code=x");
    params.set("hmac", await signShopifyQuery(params, SECRET));
    params.set("signature", "whatever");
    expect(await verifyShopifyQuery(params, SECRET)).toBe(true);
    expect(await verifyShopifyQuery(params, "other")).toBe(false);
    const changed = new URLSearchParams(params);
    changed.set("shop", "b.myshopify.com");
    expect(await verifyShopifyQuery(changed, SECRET)).toBe(false);
    const doubled = new URLSearchParams(params);
    doubled.append("hmac", params.get("hmac")!);
    expect(await verifyShopifyQuery(doubled, SECRET)).toBe(false);
  });
});

describe("Shopify callback HMAC: the message as Shopify's library builds it", () => {
  it("form-encodes values (URLSearchParams) and refuses upper-case hex", async () => {
    const params = new URLSearchParams({
      state: "a b&c=d+e%f/g?h#😀",
      host: btoa("admin.shopify.com/store/acme"),
      shop: "acme.myshopify.com",
      timestamp: "1",
    });
    expect(shopifyQueryMessage(params)).toBe(
      "host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ%3D%3D&shop=acme.myshopify.com&state=a+b%26c%3Dd%2Be%25f%2Fg%3Fh%23%F0%9F%98%80&timestamp=1",
    );
    const hmac = toHex(await hmacSha256(SECRET, shopifyQueryMessage(params)!));
    params.set("hmac", hmac);
    expect(await verifyShopifyQuery(params, SECRET)).toBe(true);
    params.set("hmac", hmac.toUpperCase());
    expect(await verifyShopifyQuery(params, SECRET)).toBe(false);
  });

  it("refuses ambiguous queries: a repeated key, keys whose order depends on the collation", () => {
    expect(shopifyQueryMessage(new URLSearchParams("shop=a&shop=b&timestamp=1"))).toBeNull();
    expect(shopifyQueryMessage(new URLSearchParams("B=1&a=2"))).toBeNull();
    expect(shopifyQueryMessage(new URLSearchParams("a_b=1&a1=2"))).toBeNull();
    expect(shopifyQueryMessage(new URLSearchParams("timestamp=1&code=2&id_token=3"))).toBe(
      "code=2&id_token=3&timestamp=1",
    );
  });

  it.each([
    ["1764662400", 1764662400_000, null],
    ["1764662310", 1764662400_999, null],
    ["1764662309", 1764662400_000, "stale"],
    ["1764662490", 1764662400_999, null],
    ["1764662491", 1764662400_000, "stale"],
    [" 1764662400", 1764662400_000, "malformed"],
    ["1764662400.5", 1764662400_000, "malformed"],
    ["", 1764662400_000, "malformed"],
    [null, 1764662400_000, "malformed"],
  ] as const)("timestamp %j at %d: %s", (timestamp, now, expected) => {
    expect(shopifyTimestampProblem(timestamp, now)).toBe(expected);
  });
});

describe("webhook signatures over the raw bytes", () => {
  const body = utf8('{"title":"äöå \\/ caf\\u00e9"}');

  it("Shopify: base64 HMAC-SHA256", async () => {
    const header = toBase64(await hmacSha256(SECRET, body));
    expect(await verifyShopifyWebhook(body, header, SECRET)).toBe(true);
    expect(await verifyShopifyWebhook(body, toHex(await hmacSha256(SECRET, body)), SECRET)).toBe(false);
    expect(await verifyShopifyWebhook(body, undefined, SECRET)).toBe(false);
    expect(await verifyShopifyWebhook(utf8('{"title":"äöå / café"}'), header, SECRET)).toBe(false);
    expect(await verifyShopifyWebhook(body, ` ${header}`, SECRET)).toBe(false);
    expect(await verifyShopifyWebhook(new Uint8Array(), toBase64(await hmacSha256(SECRET, "")), SECRET)).toBe(false);
  });

  it("Meta: sha256=<hex>, not sha1 and not re-serialised JSON", async () => {
    const hex = toHex(await hmacSha256(SECRET, body));
    expect(await verifyMetaSignature(body, `sha256=${hex}`, SECRET)).toBe(true);
    expect(await verifyMetaSignature(body, `sha1=${hex.slice(0, 40)}`, SECRET)).toBe(false);
    expect(await verifyMetaSignature(body, `sha256=${hex.slice(0, 63)}`, SECRET)).toBe(false);
    expect(await verifyMetaSignature(body, hex, SECRET)).toBe(false);
    const reserialised = utf8(JSON.stringify(JSON.parse(new TextDecoder().decode(body))));
    expect(await verifyMetaSignature(reserialised, `sha256=${hex}`, SECRET)).toBe(false);
  });

  it("appsecret_proof is the hex HMAC of the token with the app secret", async () => {
    expect(await appSecretProof("EAAtoken", SECRET)).toBe(toHex(await hmacSha256(SECRET, "EAAtoken")));
  });

  it("timingSafeEqual compares whole strings", () => {
    expect(timingSafeEqual("abc", "abc")).toBe(true);
    expect(timingSafeEqual("abc", "abd")).toBe(false);
    expect(timingSafeEqual("abc", "abcd")).toBe(false);
    expect(timingSafeEqual("", "")).toBe(true);
  });
});
