import { createHmac } from "node:crypto";
import { toHex, utf8 } from "./encoding";
import { isolateCache, secretKey } from "./isolate-cache";

const hmacKeys = isolateCache<string, Promise<CryptoKey>>("crypto.hmac-keys", {
  why: "imported HMAC keys per secret (keyed by its SHA-256): importing costs as much as signing a webhook",
  maxEntries: 16,
});

const hmacKey = (secret: string): Promise<CryptoKey> =>
  hmacKeys.getOrCreate(secretKey(secret), () =>
    crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]),
  );

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

/**
 * A webhook's signature as its header states it, read before the body: the HMAC-SHA256 the body
 * must have under `secret`, written as `encoding`. Only a well-formed header becomes one, so a
 * delivery without one is refused before a byte of its body is read.
 */
export interface WebhookSignature {
  secret: string;
  encoding: "base64" | "hex";
  expected: string;
  /** An empty body is never a delivery (Shopify's library refuses it too). */
  refusesEmpty: boolean;
}

/** The one form Shopify's library accepts: the 44-character base64 of a 32-byte HMAC, untrimmed. */
const SHOPIFY_HMAC_HEADER = /^[A-Za-z0-9+/]{43}=$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/**
 * Shopify webhook: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body bytes, compared
 * exactly as Shopify's library does (no trimming, no other alphabet). Null when the header is
 * missing or not of that form.
 */
export function shopifyWebhookSignature(header: string | undefined | null, secret: string): WebhookSignature | null {
  if (!header || !SHOPIFY_HMAC_HEADER.test(header)) return null;
  return { secret, encoding: "base64", expected: header, refusesEmpty: true };
}

/** Meta webhook: `X-Hub-Signature-256: sha256=<hex HMAC of the raw body>`; null when missing or malformed. */
export function metaWebhookSignature(header: string | undefined | null, appSecret: string): WebhookSignature | null {
  if (!header || !header.startsWith("sha256=")) return null;
  const hex = header.slice("sha256=".length).trim().toLowerCase();
  if (!HEX_SHA256.test(hex)) return null;
  return { secret: appSecret, encoding: "hex", expected: hex, refusesEmpty: false };
}

/**
 * The HMAC of a body computed as it streams, chunk by chunk, so no copy of the body is held for
 * it (WebCrypto signs only whole buffers). `matches()` once the body has ended.
 */
export function streamingVerifier(signature: WebhookSignature) {
  const mac = createHmac("sha256", signature.secret);
  let bytes = 0;
  return {
    update(chunk: Uint8Array) {
      bytes += chunk.byteLength;
      mac.update(chunk);
    },
    matches(): boolean {
      if (signature.refusesEmpty && bytes === 0) return false;
      return timingSafeEqual(mac.digest(signature.encoding), signature.expected);
    },
  };
}

function verifyWhole(signature: WebhookSignature | null, rawBody: Uint8Array): boolean {
  if (!signature) return false;
  const verifier = streamingVerifier(signature);
  verifier.update(rawBody);
  return verifier.matches();
}

/** Verifies a whole Shopify webhook body against its `X-Shopify-Hmac-Sha256` header. */
export const verifyShopifyWebhook = (rawBody: Uint8Array, header: string | undefined | null, secret: string) =>
  verifyWhole(shopifyWebhookSignature(header, secret), rawBody);

/**
 * The message Shopify signs in a callback or app-URL query, as `@shopify/shopify-api` builds it: the
 * entries without `hmac` and `signature`, keys sorted, form-encoded by `URLSearchParams` (spaces `+`,
 * `&`, `=`, `%`, `/`, unicode escaped). Null when the query is ambiguous, and refused rather than
 * guessed: a key given twice (the library keeps the last, `URLSearchParams.get` reads the first), or
 * keys whose order by code unit (Shopify's servers) differs from the library's `localeCompare`.
 */
export function shopifyQueryMessage(params: URLSearchParams): string | null {
  const entries = [...params.entries()].filter(([k]) => k !== "hmac" && k !== "signature");
  const keys = entries.map(([k]) => k);
  if (new Set(keys).size !== keys.length) return null;
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (let i = 1; i < entries.length; i++) {
    if (entries[i - 1]![0].localeCompare(entries[i]![0]) >= 0) return null;
  }
  return new URLSearchParams(entries).toString();
}

/**
 * Shopify OAuth callback and app URL: exactly one `hmac`, lower-case hex (as Shopify sends it and
 * its library compares it), over `shopifyQueryMessage`, compared in constant time.
 */
export async function verifyShopifyQuery(params: URLSearchParams, secret: string): Promise<boolean> {
  const given = params.getAll("hmac");
  if (given.length !== 1 || !HEX_SHA256.test(given[0]!)) return false;
  const message = shopifyQueryMessage(params);
  if (message === null) return false;
  return timingSafeEqual(toHex(await hmacSha256(secret, message)), given[0]!);
}

/** The hex HMAC Shopify puts in a callback or app-URL query (the test fakes sign with it). */
export async function signShopifyQuery(params: URLSearchParams, secret: string): Promise<string> {
  const entries = [...params.entries()].filter(([k]) => k !== "hmac" && k !== "signature");
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return toHex(await hmacSha256(secret, new URLSearchParams(entries).toString()));
}

/** How far a signed query's `timestamp` may be from now, in seconds (Shopify's library: 90). */
export const SHOPIFY_QUERY_WINDOW_S = 90;

/**
 * What is wrong with a signed query's `timestamp`, or null when it is fine: whole seconds within
 * 90 s of now, counted as Shopify's library counts (now truncated to the second, 90 itself allowed).
 */
export function shopifyTimestampProblem(timestamp: string | null, nowMs = Date.now()): "malformed" | "stale" | null {
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return "malformed";
  return Math.abs(Math.trunc(nowMs / 1000) - Number(timestamp)) > SHOPIFY_QUERY_WINDOW_S ? "stale" : null;
}

/** Verifies a whole Messenger delivery against its `X-Hub-Signature-256` header. */
export const verifyMetaSignature = (rawBody: Uint8Array, header: string | undefined | null, appSecret: string) =>
  verifyWhole(metaWebhookSignature(header, appSecret), rawBody);

/** Meta `appsecret_proof`: hex HMAC-SHA256 of the access token with the app secret. */
export async function appSecretProof(accessToken: string, appSecret: string): Promise<string> {
  return toHex(await hmacSha256(appSecret, accessToken));
}
