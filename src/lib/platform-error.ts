/**
 * A failed call to Shopify or Meta, classified by what the caller should do next:
 * - `throttled`: try again after `retryAfterMs`;
 * - `transient`: a 5xx or network fault, try again with backoff;
 * - `auth`: the token is dead (Shopify 401 after a refresh, Meta 190); needs a new install or login;
 * - `rejected`: the request itself was refused (4xx, GraphQL userErrors); retrying will not help.
 */
export type PlatformErrorKind = "throttled" | "transient" | "auth" | "rejected";

/** Why an `auth` error happened, which decides whether the token gets marked. */
type AuthReason =
  /** The platform refused the token, or there is none, or it could not be refreshed: mark it. */
  | "token_needs_reauth"
  /** The stored token was already marked as needing a new install or login: it was not even used. */
  | "token_already_marked";

/**
 * What a consumer decides on beyond the kind (never the message text):
 * - `cost_exceeded` (rejected): Shopify refused the query for its cost; a smaller one will pass;
 * - `bulk_failed` (transient): a bulk operation ended without a result.
 */
export type PlatformErrorReason = AuthReason | "cost_exceeded" | "bulk_failed";

export interface PlatformErrorOptions {
  retryAfterMs?: number;
  /** The HTTP status of the answer, when there was one. */
  status?: number;
  /** The platform's error code (Meta's `error.code`). */
  code?: number;
  reason?: PlatformErrorReason;
}

type Platform = "shopify" | "facebook";

export class PlatformError extends Error {
  readonly retryAfterMs?: number;
  readonly status?: number;
  readonly code?: number;
  readonly reason?: PlatformErrorReason;

  /** An `auth` error always says whether the token needs marking. */
  constructor(platform: Platform, kind: "auth", message: string, opts: PlatformErrorOptions & { reason: AuthReason });
  constructor(
    platform: Platform,
    kind: Exclude<PlatformErrorKind, "auth">,
    message: string,
    opts?: PlatformErrorOptions & { reason?: Exclude<PlatformErrorReason, AuthReason> },
  );
  constructor(
    readonly platform: Platform,
    readonly kind: PlatformErrorKind,
    message: string,
    opts: PlatformErrorOptions = {},
  ) {
    super(message);
    this.name = "PlatformError";
    this.retryAfterMs = opts.retryAfterMs;
    this.status = opts.status;
    this.code = opts.code;
    this.reason = opts.reason;
  }
}

/**
 * What a client may be told of a failed platform call, in place of the platform's own words (kept
 * in the log): the kind of failure, or `internal` for anything that is not a platform's answer.
 */
export function platformFailureCode(err: unknown): `platform_${PlatformErrorKind}` | "internal" {
  return err instanceof PlatformError ? `platform_${err.kind}` : "internal";
}
