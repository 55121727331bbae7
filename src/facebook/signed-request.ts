import { z } from "zod";
import { fromBase64, toBase64Url } from "../lib/encoding";
import { hmacSha256, timingSafeEqual } from "../lib/signatures";

/** How old a `signed_request` may be (Meta retries a callback for a while) and how far in the future. */
export const SIGNED_REQUEST_MAX_AGE_S = 24 * 60 * 60;
const SIGNED_REQUEST_MAX_SKEW_S = 5 * 60;

const payloadSchema = z.object({
  algorithm: z.string(),
  issued_at: z.number().int(),
  user_id: z
    .union([z.string(), z.number()])
    .transform(String)
    .pipe(z.string().regex(/^\d{1,32}$/)),
});

export type SignedRequest = { userId: string; issuedAt: number };

export type SignedRequestVerdict =
  { ok: true; request: SignedRequest } | { ok: false; status: 400 | 401; message: string };

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Meta's `signed_request` (Data Deletion Request and deauthorize callbacks): split at the first
 * `.`, the signature is base64url HMAC-SHA256 of the payload part exactly as sent, under the app
 * secret, compared in constant time; the payload is base64url JSON with `algorithm: "HMAC-SHA256"`,
 * `issued_at` and the app-scoped `user_id`. A malformed request is 400; a bad signature, another
 * algorithm or a stale or future `issued_at` is 401.
 */
export async function verifySignedRequest(
  signedRequest: string | undefined,
  appSecret: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<SignedRequestVerdict> {
  if (!signedRequest) return { ok: false, status: 400, message: "signed_request is missing" };
  const dot = signedRequest.indexOf(".");
  if (dot <= 0 || dot === signedRequest.length - 1) {
    return { ok: false, status: 400, message: "signed_request must be <signature>.<payload>" };
  }
  const signature = signedRequest.slice(0, dot);
  const payloadPart = signedRequest.slice(dot + 1);
  const given = fromBase64(signature);
  const payloadBytes = fromBase64(payloadPart);
  if (!given || !payloadBytes) return { ok: false, status: 400, message: "signed_request is not base64url" };
  const expected = toBase64Url(await hmacSha256(appSecret, payloadPart));
  if (!timingSafeEqual(toBase64Url(given), expected)) {
    return { ok: false, status: 401, message: "signed_request signature does not verify" };
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(payloadBytes));
  } catch {
    return { ok: false, status: 400, message: "signed_request payload is not JSON" };
  }
  const payload = payloadSchema.safeParse(json);
  if (!payload.success) {
    return { ok: false, status: 400, message: "signed_request payload needs algorithm, issued_at and user_id" };
  }
  if (payload.data.algorithm.toUpperCase() !== "HMAC-SHA256") {
    return { ok: false, status: 401, message: "signed_request algorithm must be HMAC-SHA256" };
  }
  const age = nowSeconds - payload.data.issued_at;
  if (age > SIGNED_REQUEST_MAX_AGE_S || age < -SIGNED_REQUEST_MAX_SKEW_S) {
    return { ok: false, status: 401, message: "signed_request is expired or issued in the future" };
  }
  return { ok: true, request: { userId: payload.data.user_id, issuedAt: payload.data.issued_at } };
}
