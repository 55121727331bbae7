import { afterEach, describe, expect, it, vi } from "vitest";
import type { Config } from "../../src/config";
import { graph } from "../../src/facebook/graph";
import { PlatformError } from "../../src/lib/platform-error";
import { backoffMs, fetchWithRetry, retryAfterMs, type Verdict } from "../../src/lib/retry";
import type { ShopAccess } from "../../src/shopify/access";
import { AdminApi } from "../../src/shopify/admin-api";

afterEach(() => {
  vi.restoreAllMocks();
});

/** A platform that answers each request with the next of `answers` (an Error: the connection failed). */
function platform(answers: (Response | Error)[]) {
  const requests: Request[] = [];
  const fetchStub = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    requests.push(new Request(input, init));
    const answer = answers.shift();
    if (!answer) throw new Error("the test gave no answer for this request");
    if (answer instanceof Error) throw answer;
    return answer;
  });
  return { requests, fetchStub };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

/** What Shopify's Admin API answers for `{ shop { name } }`, with a healthy bucket. */
const shopAnswer = () =>
  json(200, {
    data: { shop: { name: "Acme" } },
    extensions: {
      cost: {
        requestedQueryCost: 1,
        throttleStatus: { maximumAvailable: 2000, currentlyAvailable: 1999, restoreRate: 100 },
      },
    },
  });

const shopifyCfg = {
  SHOPIFY_ADMIN_ORIGIN: "https://{shop}",
  SHOPIFY_API_VERSION: "2026-10",
} as Config<"shopify">;
const access = {
  shop: "acme.myshopify.com",
  accessToken: async () => "shpat_test",
  afterUnauthorized: async () => "shpat_refreshed",
} as unknown as ShopAccess;
const adminApi = (opts: ConstructorParameters<typeof AdminApi>[2] = {}) => new AdminApi(shopifyCfg, access, opts);

const graphCfg = {
  FACEBOOK_GRAPH_ORIGIN: "https://graph.facebook.com",
  FACEBOOK_GRAPH_VERSION: "v25.0",
  FACEBOOK_APP_SECRET: "app-secret",
} as Config<"facebook">;

describe("backoffMs", () => {
  it("waits between half and all of base × 2^attempt, never more than the cap", () => {
    const random = vi.spyOn(Math, "random");
    random.mockReturnValue(0);
    expect([0, 1, 2, 3].map((n) => backoffMs(n, 500))).toEqual([250, 500, 1000, 2000]);
    random.mockReturnValue(0.999999);
    expect([0, 1, 2, 3].map((n) => backoffMs(n, 500))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffMs(20, 500, 30_000)).toBe(30_000);
    random.mockReturnValue(0);
    expect(backoffMs(20, 500, 30_000)).toBe(15_000);
  });
});

describe("retryAfterMs", () => {
  it("reads seconds", () => {
    expect(retryAfterMs("30")).toBe(30_000);
    expect(retryAfterMs("0")).toBe(0);
    expect(retryAfterMs("1.5")).toBe(1500);
  });

  it("reads an HTTP date as the time left until it", () => {
    const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString(); // whole seconds
    const ms = retryAfterMs(inTwoMinutes)!;
    expect(ms).toBeGreaterThan(118_000);
    expect(ms).toBeLessThanOrEqual(120_000);
    expect(retryAfterMs(new Date(Date.now() - 60_000).toUTCString())).toBe(0);
  });

  it("gives nothing for no header or a malformed one", () => {
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs("")).toBeUndefined();
    expect(retryAfterMs("soon")).toBeUndefined();
    expect(retryAfterMs("-5")).toBeUndefined();
  });
});

describe("fetchWithRetry", () => {
  /** A client of the stub platform: 2xx is done, 429 waits Retry-After, 5xx backs off, the rest is refused. */
  const read = async (res: Response): Promise<Verdict<string>> => {
    if (res.ok) return { done: await res.text() };
    if (res.status === 429) {
      const wait = retryAfterMs(res.headers.get("retry-after")) ?? 0;
      return { retry: new PlatformError("shopify", "throttled", "429", { retryAfterMs: wait }), waitMs: wait };
    }
    if (res.status >= 500) return { retry: new PlatformError("shopify", "transient", `${res.status}`) };
    throw new PlatformError("shopify", "rejected", `${res.status}`);
  };
  const call = (maxInlineWaitMs?: number) =>
    fetchWithRetry(() => fetch("https://platform.test/"), read, {
      maxAttempts: 4,
      backoffBaseMs: 1,
      maxInlineWaitMs,
      unreachable: (err) => new PlatformError("shopify", "transient", `unreachable: ${String(err)}`),
    });

  it("retries faults, throttles and lost connections until an answer comes", async () => {
    const { requests } = platform([
      new Response("busy", { status: 503 }),
      new Response("slow down", { status: 429, headers: { "retry-after": "0" } }),
      new TypeError("Network connection lost"),
      new Response("ok"),
    ]);
    expect(await call()).toBe("ok");
    expect(requests).toHaveLength(4);
  });

  it("gives up after maxAttempts with the last error", async () => {
    const { requests } = platform([500, 502, 503, 504, 200].map((s) => new Response("x", { status: s })));
    await expect(call()).rejects.toMatchObject({ kind: "transient", message: "504" });
    expect(requests).toHaveLength(4);
  });

  it("hands a throttle longer than the inline wait to the caller at once, with its wait", async () => {
    const { requests } = platform([new Response("x", { status: 429, headers: { "retry-after": "30" } })]);
    await expect(call(10_000)).rejects.toMatchObject({ kind: "throttled", retryAfterMs: 30_000 });
    expect(requests).toHaveLength(1);
  });

  it("does not retry a refusal", async () => {
    const { requests } = platform([new Response("no", { status: 404 }), new Response("ok")]);
    await expect(call()).rejects.toMatchObject({ kind: "rejected", message: "404" });
    expect(requests).toHaveLength(1);
  });
});

describe("the Admin API over fetchWithRetry", () => {
  it("waits out a 429's Retry-After and retries a 5xx, then answers", async () => {
    const { requests } = platform([
      json(429, { errors: "Exceeded 2 calls per second for api client." }, { "retry-after": "0" }),
      new Response("Internal Server Error", { status: 500 }),
      shopAnswer(),
    ]);
    const api = adminApi();
    expect(await api.query("{ shop { name } }")).toEqual({ shop: { name: "Acme" } });
    expect(api.calls).toBe(3);
    expect(requests.map((r) => r.headers.get("x-shopify-access-token"))).toEqual(Array(3).fill("shpat_test"));
  });

  it("throws a long 429 as `throttled` with its Retry-After, for the queue to wait", async () => {
    platform([json(429, { errors: "Throttled" }, { "retry-after": "30" })]);
    await expect(adminApi().query("{ shop { name } }")).rejects.toMatchObject({
      kind: "throttled",
      status: 429,
      retryAfterMs: 30_000,
    });
  });

  it("gives up on 5xx after maxAttempts as `transient`", async () => {
    const { requests } = platform([502, 503].map((s) => new Response("down", { status: s })));
    await expect(adminApi({ maxAttempts: 2 }).query("{ shop { name } }")).rejects.toMatchObject({
      kind: "transient",
      status: 503,
      message: "Admin API answered 503",
    });
    expect(requests).toHaveLength(2);
  });

  it("sends again with a refreshed token after a 401; a second 401 is a dead token", async () => {
    const { requests } = platform([json(401, { errors: "Unauthorized" }), json(401, { errors: "Unauthorized" })]);
    await expect(adminApi().query("{ shop { name } }")).rejects.toMatchObject({
      kind: "auth",
      reason: "token_needs_reauth",
    });
    expect(requests.map((r) => r.headers.get("x-shopify-access-token"))).toEqual(["shpat_test", "shpat_refreshed"]);
  });
});

describe("Graph over fetchWithRetry", () => {
  const metaError = (status: number, code: number, extra: Record<string, unknown> = {}) =>
    json(status, { error: { message: "An unexpected error has occurred.", type: "OAuthException", code, ...extra } });

  it("retries Meta's transient errors, then answers", async () => {
    const { requests } = platform([
      metaError(500, 2, { is_transient: true }),
      new TypeError("Network connection lost"),
      json(200, { id: "123", name: "Acme" }),
    ]);
    expect(await graph(graphCfg, "GET", "123", { fields: "id,name" }, "EAAtoken")).toEqual({ id: "123", name: "Acme" });
    expect(requests).toHaveLength(3);
  });

  it("gives up after three tries as `transient`", async () => {
    const { requests } = platform([metaError(503, 1), metaError(503, 1), metaError(503, 1), json(200, {})]);
    await expect(graph(graphCfg, "GET", "123", {}, "EAAtoken")).rejects.toMatchObject({
      kind: "transient",
      status: 503,
      code: 1,
    });
    expect(requests).toHaveLength(3);
  });

  it("hands throttling to the queue at once and marks error 190 as a dead token", async () => {
    platform([metaError(400, 4), metaError(400, 190)]);
    await expect(graph(graphCfg, "GET", "123", {}, "EAAtoken")).rejects.toMatchObject({
      kind: "throttled",
      retryAfterMs: 60_000,
    });
    await expect(graph(graphCfg, "GET", "123", {}, "EAAtoken")).rejects.toMatchObject({
      kind: "auth",
      reason: "token_needs_reauth",
    });
  });
});
