import { toBase64, toHex, utf8 } from "./encoding";

// Imported keys, per secret: importing costs as much as signing a webhook.
const hmacKeys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    if (hmacKeys.size > 16) hmacKeys.clear();
    key = crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    hmacKeys.set(secret, key);
  }
  return key;
}

/** HMAC-SHA256 of `data` under `secret`. */
export async function hmacSha256(secret: string, data: Uint8Array | string): Promise<Uint8Array> {
  const key = await hmacKey(secret);
  const bytes = typeof data === "string" ? utf8(data) : data;
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes));
}

export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", typeof data === "string" ? utf8(data) : data));
}

/** Compares two strings in time that does not depend on where they differ. */
export function timingSafeEqual(a: string, b: string): boolean {
  const left = utf8(a);
  const right = utf8(b);
  let diff = left.length ^ right.length;
  const length = Math.max(left.length, right.length);
  for (let i = 0; i < length; i++) diff |= (left[i] ?? 0) ^ (right[i] ?? 0);
  return diff === 0;
}

/** Shopify webhook: base64 HMAC-SHA256 of the raw body bytes (X-Shopify-Hmac-Sha256). */
export async function verifyShopifyWebhook(rawBody: Uint8Array, header: string | undefined, secret: string) {
  if (!header) return false;
  return timingSafeEqual(toBase64(await hmacSha256(secret, rawBody)), header.trim());
}

/**
 * Shopify OAuth callback: hex HMAC over the query without `hmac` and `signature`, keys sorted,
 * joined as `k=v&k=v` (values as received, decoded).
 */
export async function verifyShopifyQuery(params: URLSearchParams, secret: string): Promise<boolean> {
  const given = params.getAll("hmac");
  if (given.length !== 1 || !/^[0-9a-f]{64}$/i.test(given[0]!)) return false;
  return timingSafeEqual(await signShopifyQuery(params, secret), given[0]!.toLowerCase());
}

/** The hex HMAC Shopify puts in a callback query (also used by the test fakes). */
export async function signShopifyQuery(params: URLSearchParams, secret: string): Promise<string> {
  const message = [...params.entries()]
    .filter(([k]) => k !== "hmac" && k !== "signature")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  return toHex(await hmacSha256(secret, message));
}

/** Meta webhook: `X-Hub-Signature-256: sha256=<hex HMAC of the raw body>`. */
export async function verifyMetaSignature(rawBody: Uint8Array, header: string | undefined, appSecret: string) {
  if (!header || !header.startsWith("sha256=")) return false;
  const hex = header.slice("sha256=".length).trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) return false;
  return timingSafeEqual(toHex(await hmacSha256(appSecret, rawBody)), hex);
}

/** Meta `appsecret_proof`: hex HMAC-SHA256 of the access token with the app secret. */
export async function appSecretProof(accessToken: string, appSecret: string): Promise<string> {
  return toHex(await hmacSha256(appSecret, accessToken));
}
