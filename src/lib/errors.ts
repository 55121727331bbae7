import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Codes of the error body `{"error":{"code","message"}}`, each tied to one status. */
const STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  misconfigured: 500,
  internal: 500,
  upstream_error: 502,
  unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof STATUS;

/** An error that ends a request with a known status and a message safe to show. */
export class AppError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "AppError";
    this.code = code;
  }
  get status(): ContentfulStatusCode {
    return STATUS[this.code];
  }
  toBody() {
    return { error: { code: this.code, message: this.message } };
  }
}

export const badRequest = (message: string) => new AppError("bad_request", message);
export const unauthorized = (message: string) => new AppError("unauthorized", message);
export const forbidden = (message: string) => new AppError("forbidden", message);
