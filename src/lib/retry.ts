import { PlatformError } from "./platform-error";

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with jitter: 1st retry ~base, doubling, capped. */
export function backoffMs(attempt: number, baseMs = 500, capMs = 30_000): number {
  const exp = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

/** `Retry-After` (seconds or an HTTP date) in ms, or undefined. */
export function retryAfterMs(header: string | null): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  // An HTTP date names its day and month; anything else (a negative number) is malformed.
  if (!/[a-z]/i.test(value)) return undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** What one answer of the platform means for the call. */
export type Verdict<T> =
  /** The call succeeded with this value. */
  | { done: T }
  /** Try again after `waitMs` (default: backoff); `error` is what is thrown when no try is left. */
  | { retry: PlatformError; waitMs?: number }
  /** Send again at once (e.g. with a refreshed token). */
  | { resend: true };

export interface RetryPolicy {
  /** Requests sent at most, the first included. */
  maxAttempts: number;
  /** Backoff of the first retry after a fault (doubling after that). */
  backoffBaseMs: number;
  /** Longest throttle waited out in place; a longer one is thrown, so the queue retries later. */
  maxInlineWaitMs?: number;
  /** The error for a request that never got an answer (network fault); retried with backoff. */
  unreachable: (err: unknown) => PlatformError;
}

/**
 * One platform call over HTTP: `send` makes the request, `read` turns each answer into a verdict
 * (or throws a final PlatformError). Faults are retried with backoff, throttles wait what they ask
 * for, up to `maxAttempts` requests; then the last verdict's error is thrown.
 */
export async function fetchWithRetry<T>(
  send: () => Promise<Response>,
  read: (response: Response, attempt: number) => Promise<Verdict<T>>,
  policy: RetryPolicy,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const response = await send().catch((err: unknown) => {
      // A PlatformError comes from `send` itself (e.g. a throttle it would not wait for): final.
      if (err instanceof PlatformError) throw err;
      return policy.unreachable(err);
    });
    const verdict: Verdict<T> = response instanceof PlatformError ? { retry: response } : await read(response, attempt);
    if ("done" in verdict) return verdict.done;
    if ("resend" in verdict) continue;
    const wait = verdict.waitMs ?? backoffMs(attempt, policy.backoffBaseMs);
    const tooLong = verdict.retry.kind === "throttled" && wait > (policy.maxInlineWaitMs ?? Infinity);
    if (tooLong || attempt + 1 >= policy.maxAttempts) throw verdict.retry;
    await sleep(wait);
  }
}
