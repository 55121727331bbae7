import { z } from "zod";
import type { Config } from "../config";
import { PlatformError } from "../lib/platform-error";
import { backoffMs, fetchWithRetry, retryAfterMs, sleep, type Verdict } from "../lib/retry";
import type { ShopAccess } from "./access";
import { adminOrigin } from "./oauth";

const throttleStatusSchema = z.object({
  maximumAvailable: z.number(),
  currentlyAvailable: z.number(),
  restoreRate: z.number(),
});

type ThrottleStatus = z.output<typeof throttleStatusSchema>;

/** A GraphQL answer's envelope; `data` is checked by each query's caller. */
const graphqlResponseSchema = z.object({
  data: z.unknown().optional(),
  errors: z
    .array(
      z.object({
        message: z.string(),
        extensions: z
          .object({ code: z.string().optional(), cost: z.number().optional(), maxCost: z.number().optional() })
          .optional(),
      }),
    )
    .optional(),
  extensions: z
    .object({
      cost: z
        .object({ requestedQueryCost: z.number().optional(), throttleStatus: throttleStatusSchema.optional() })
        .optional(),
    })
    .optional(),
});

/**
 * Shopify refused a query for its cost (`MAX_COST_EXCEEDED`) before running it: the same query
 * will always be refused, a smaller one will not.
 */
export class QueryCostExceeded extends PlatformError {
  constructor(
    readonly requested: number,
    readonly maxCost: number,
  ) {
    super("shopify", "rejected", `Query cost is ${requested}, over the single query limit (${maxCost})`, {
      reason: "cost_exceeded",
    });
    this.name = "QueryCostExceeded";
  }
}

export interface AdminApiOptions {
  /** Longest wait done in place; a longer throttle is thrown so a queue can retry later. */
  maxInlineWaitMs?: number;
  maxAttempts?: number;
}

/**
 * The GraphQL Admin API of one shop. Obeys the cost throttle: the cost Shopify reported for the
 * same document and page size is remembered, and the next one waits until the last throttleStatus
 * says the bucket holds it; a THROTTLED answer waits exactly as long as the bucket needs. Also
 * obeys HTTP 429 `Retry-After`, retries 5xx with backoff, retries once after a token refresh on
 * 401, and throws QueryCostExceeded on MAX_COST_EXCEEDED.
 */
export class AdminApi {
  /** Requests sent, for the sync's figures. */
  calls = 0;
  private lastThrottle: ThrottleStatus | null = null;
  private lastThrottleAt = 0;
  /** requestedQueryCost last reported per document and page size. */
  private readonly costs = new Map<string, number>();
  private readonly maxInlineWaitMs: number;
  private readonly maxAttempts: number;

  constructor(
    private readonly cfg: Config<"shopify">,
    private readonly access: ShopAccess,
    opts: AdminApiOptions = {},
  ) {
    this.maxInlineWaitMs = opts.maxInlineWaitMs ?? 10_000;
    this.maxAttempts = opts.maxAttempts ?? 4;
  }

  private get endpoint() {
    return `${adminOrigin(this.cfg, this.access.shop)}/admin/api/${this.cfg.SHOPIFY_API_VERSION}/graphql.json`;
  }

  /** The answer's `data`, for the caller to parse with its schema. */
  async query(query: string, variables: Record<string, unknown> = {}): Promise<unknown> {
    let token = await this.access.accessToken();
    let refreshed = false;
    const costKey = `${String(variables.first ?? "")}\u0000${query}`;
    const send = async () => {
      await this.waitForPoints(this.costs.get(costKey) ?? 0);
      this.calls++;
      return fetch(this.endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", "x-shopify-access-token": token },
        body: JSON.stringify({ query, variables }),
      });
    };
    const read = async (response: Response, attempt: number): Promise<Verdict<unknown>> => {
      if (!response.ok) await response.body?.cancel();
      const failed = (kind: "transient" | "rejected") =>
        new PlatformError("shopify", kind, `Admin API answered ${response.status}`, { status: response.status });
      if (response.status === 401 && !refreshed) {
        refreshed = true;
        token = await this.access.afterUnauthorized();
        return { resend: true };
      }
      if (response.status === 401) {
        throw new PlatformError("shopify", "auth", "Admin API answered 401", {
          status: 401,
          reason: "token_needs_reauth",
        });
      }
      if (response.status === 429) {
        const wait = retryAfterMs(response.headers.get("retry-after")) ?? backoffMs(attempt, 1000);
        const error = new PlatformError("shopify", "throttled", "Admin API answered 429", {
          retryAfterMs: wait,
          status: 429,
        });
        return { retry: error, waitMs: wait };
      }
      if (response.status >= 500) return { retry: failed("transient") };
      if (!response.ok) throw failed("rejected");
      const parsed = graphqlResponseSchema.safeParse(await response.json().catch(() => undefined));
      if (!parsed.success) throw new PlatformError("shopify", "rejected", "Admin API answered an unexpected body");
      const body = parsed.data;
      this.noteThrottle(body.extensions?.cost?.throttleStatus);
      const requested = body.extensions?.cost?.requestedQueryCost;
      if (typeof requested === "number") this.costs.set(costKey, requested);
      const tooCostly = body.errors?.find((e) => e.extensions?.code === "MAX_COST_EXCEEDED");
      if (tooCostly) {
        throw new QueryCostExceeded(
          tooCostly.extensions?.cost ?? requested ?? 0,
          tooCostly.extensions?.maxCost ?? 1000,
        );
      }
      if (body.errors?.some((e) => e.extensions?.code === "THROTTLED")) {
        const needed = requested ?? this.costs.get(costKey) ?? 0;
        const wait = this.msUntilPoints(needed) ?? backoffMs(attempt, 1000);
        const error = new PlatformError("shopify", "throttled", "Admin API cost throttle", { retryAfterMs: wait });
        return { retry: error, waitMs: wait };
      }
      if (body.errors?.length || !body.data) {
        throw new PlatformError(
          "shopify",
          "rejected",
          `GraphQL errors: ${body.errors?.map((e) => e.message).join("; ") ?? "no data"}`,
        );
      }
      return { done: body.data };
    };
    return fetchWithRetry(send, read, {
      maxAttempts: this.maxAttempts,
      backoffBaseMs: 500,
      maxInlineWaitMs: this.maxInlineWaitMs,
      unreachable: (err) => new PlatformError("shopify", "transient", `unreachable: ${String(err)}`),
    });
  }

  private noteThrottle(status: ThrottleStatus | undefined) {
    if (!status) return;
    this.lastThrottle = status;
    this.lastThrottleAt = Date.now();
  }

  /** Time until the bucket holds `cost` points, from the last throttleStatus seen. */
  private msUntilPoints(cost: number): number | undefined {
    const t = this.lastThrottle;
    if (!t || t.restoreRate <= 0) return undefined;
    const elapsed = (Date.now() - this.lastThrottleAt) / 1000;
    const available = Math.min(t.maximumAvailable, t.currentlyAvailable + elapsed * t.restoreRate);
    if (available >= cost) return 0;
    return Math.ceil(((cost - available) / t.restoreRate) * 1000);
  }

  private async waitForPoints(cost: number) {
    if (cost <= 0) return;
    const wait = this.msUntilPoints(cost);
    if (!wait) return;
    if (wait > this.maxInlineWaitMs) {
      throw new PlatformError("shopify", "throttled", "Admin API cost throttle", { retryAfterMs: wait });
    }
    await sleep(wait);
  }
}
