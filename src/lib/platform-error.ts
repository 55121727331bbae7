/**
 * A failed call to Shopify or Meta, classified by what the caller should do next:
 * - `throttled`: try again after `retryAfterMs`;
 * - `transient`: a 5xx or network fault, try again with backoff;
 * - `auth`: the token is dead (Shopify 401 after a refresh, Meta 190); needs a new install or login;
 * - `rejected`: the request itself was refused (4xx, GraphQL userErrors); retrying will not help.
 */
export type PlatformErrorKind = "throttled" | "transient" | "auth" | "rejected";

export class PlatformError extends Error {
  constructor(
    readonly platform: "shopify" | "facebook",
    readonly kind: PlatformErrorKind,
    message: string,
    readonly retryAfterMs?: number,
    readonly status?: number,
    readonly code?: number,
  ) {
    super(message);
    this.name = "PlatformError";
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with jitter: 1st retry ~base, doubling, capped. */
export function backoffMs(attempt: number, baseMs = 500, capMs = 30_000): number {
  const exp = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

/** `Retry-After` (seconds or an HTTP date) in ms, or undefined. */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
