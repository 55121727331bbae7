import { z } from "zod";
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, vi } from "vitest";
import { config } from "../src/config";
import worker from "../src/index";
import type { Job } from "../src/jobs/queue-jobs";
import { toBase64Url, utf8 } from "../src/lib/encoding";
import { setLogSink } from "../src/lib/log";
import { hmacSha256 } from "../src/lib/signatures";
import { Spaces } from "../src/spaces/client";
import * as client from "../dev/platform-client";
import { cookieOf, delivery, messageEvent } from "../dev/platform-client";
import { TEST_SECRETS } from "./env";

/** What the platforms, the browser and the operator do to the worker, for the integration tests. */

export const ORIGIN = "https://worker.test";

/** The contract's webhook topics (`GET /shopify/callback`), as the Admin API names them. */
export const CONTRACT_SHOPIFY_TOPICS = [
  "APP_SCOPES_UPDATE",
  "APP_UNINSTALLED",
  "PRODUCTS_CREATE",
  "PRODUCTS_DELETE",
  "PRODUCTS_UPDATE",
  "SHOP_UPDATE",
];

/** The contract's page subscription fields (`GET /facebook/callback`), in the order subscribed. */
export const CONTRACT_PAGE_FIELDS = [
  "name",
  "category",
  "messages",
  "message_echoes",
  "messaging_postbacks",
  "message_edits",
  "messaging_referrals",
  "messaging_handovers",
  "standby",
  "message_reads",
  "message_reactions",
];

/** Retries `check` until it passes (the worker's queued and background work lands), 20 s at most. */
export const waitFor = (check: () => Promise<void> | void, timeout = 20_000, interval = 100) =>
  vi.waitFor(check, { timeout, interval });

let recorded: string[] | null = null;

/** From now on, keep the text of every response body (for the leak check). */
export function recordResponses(): string[] {
  recorded = [];
  return recorded;
}

export async function call(path: string, init?: RequestInit): Promise<Response> {
  const res = await exports.default.fetch(new Request(`${ORIGIN}${path}`, { redirect: "manual", ...init }));
  if (recorded) recorded.push(`${res.status} ${await res.clone().text()}`);
  return res;
}

type Fake = "shopify" | "graph" | "spaces";
const fakeOrigin = (fake: Fake) =>
  ({ shopify: env.FAKE_SHOPIFY, graph: env.FAKE_GRAPH, spaces: env.FAKE_SPACES })[fake];

/** Tells a fake what to do; its answer as the test reads it (the test asserts on it). */
export const control = (fake: Fake, path: string, body: unknown = {}) =>
  client.control(fakeOrigin(fake), path, body, z.any());

export async function fakeState(fake: Fake, query: string) {
  const origin = fakeOrigin(fake);
  return (await fetch(`${origin}/_control/state?${query}`)).json<any>();
}

export const spaces = () => new Spaces(config(env, "spaces"));

export async function readJson(key: string): Promise<any | null> {
  const text = await spaces().getText(key);
  return text === null ? null : JSON.parse(text);
}

/** Captures every log line of the worker (same isolate) while a test runs. */
export function captureLogs(): { lines: string[]; stop: () => void; has: (text: string) => boolean } {
  const lines: string[] = [];
  setLogSink((line) => lines.push(line));
  return {
    lines,
    stop: () => setLogSink(null),
    has: (text) => lines.some((l) => (JSON.parse(l) as { message: string }).message.includes(text)),
  };
}

/** Puts the fakes and the Spaces proxy back to healthy: no faults, hour-long Shopify tokens. */
export async function resetFaults() {
  await control("shopify", "faults", { faults: [] });
  await control("shopify", "token-ttl", { seconds: 3600 });
  await control("graph", "faults", { faults: [] });
  await control("spaces", "mode", { mode: "up" });
}

/** The worker's log lines of the running test; after each test the fakes are made healthy again. */
export function logsOfEachTest(): { has: (text: string) => boolean; readonly lines: string[] } {
  let current: ReturnType<typeof captureLogs> | null = null;
  beforeEach(() => {
    current = captureLogs();
  });
  afterEach(async () => {
    current?.stop();
    await resetFaults();
  });
  return {
    has: (text) => current!.has(text),
    get lines() {
      return current!.lines;
    },
  };
}

export { cookieOf, delivery, messageEvent };

/** A unique shop domain for a test. */
export const uniqueShop = (prefix = "shop") => `${prefix}-${crypto.randomUUID().slice(0, 8)}.myshopify.com`;

/** A unique numeric id (page or sender). */
export const uniqueId = () => String(100000000000000 + Math.floor(Math.random() * 899999999999999));

export const signedShopifyCallback = (params: Record<string, string>, secret = TEST_SECRETS.SHOPIFY_API_SECRET) =>
  client.signedShopifyCallback(params, secret);

export async function shopifyWebhook(
  shop: string,
  topic: string,
  payload: unknown,
  opts: client.ShopifyWebhookOptions & { secret?: string; raw?: string } = {},
): Promise<Response> {
  const body = opts.raw ?? JSON.stringify(payload);
  const secret = opts.secret ?? TEST_SECRETS.SHOPIFY_API_SECRET;
  return call("/shopify/webhook", await client.shopifyWebhookInit(shop, topic, body, secret, opts));
}

/** The whole Shopify install as a browser does it: login, authorize at the fake, callback. */
export async function installShop(shop: string, opts: { cookie?: string | null; products?: number | null } = {}) {
  // `products: null`: the catalogue the test seeded at the fake stays as it is.
  if (opts.products !== null) await control("shopify", "shop", { shop, products: opts.products ?? 3 });
  const flow = await client.shopifyInstallFlow(
    call,
    env.FAKE_SHOPIFY,
    TEST_SECRETS.SHOPIFY_API_SECRET,
    shop,
    opts.cookie,
  );
  return { res: flow.res, cookie: flow.cookie!, body: (await flow.res.json()) as any, login: flow.login };
}

export const metaSignature = (body: string, secret = TEST_SECRETS.FACEBOOK_APP_SECRET) =>
  client.metaSignature(body, secret);

export async function messengerWebhook(payload: unknown, opts: { raw?: string; secret?: string } = {}) {
  const body = opts.raw ?? JSON.stringify(payload);
  return call(
    "/facebook/webhook",
    await client.messengerWebhookInit(body, opts.secret ?? TEST_SECRETS.FACEBOOK_APP_SECRET),
  );
}

/**
 * The whole Facebook login: login, the dialog at the fake (a code for these pages), callback. The
 * Facebook user is `user`, else the fake's one for the first page (the same admin logging in again).
 */
export async function loginFacebook(
  pages: { id: string; name?: string; subscribed?: string[] }[],
  cookie?: string | null,
  user?: string,
) {
  for (const p of pages) await control("graph", "page", p);
  const flow = await client.facebookLoginFlow(
    call,
    env.FAKE_GRAPH,
    pages.map((p) => p.id),
    cookie,
    user,
  );
  return { res: flow.res, cookie: flow.cookie!, body: (await flow.res.json()) as any, login: flow.login };
}

/** Meta's `signed_request` of a data deletion or deauthorize callback, signed with `secret`. */
export async function signedRequest(payload: Record<string, unknown>, secret = TEST_SECRETS.FACEBOOK_APP_SECRET) {
  const part = toBase64Url(utf8(JSON.stringify(payload)));
  return `${toBase64Url(await hmacSha256(secret, part))}.${part}`;
}

/** Meta posting a `signed_request` to its data deletion or deauthorize callback. */
export async function metaCallback(path: "/facebook/data-deletion" | "/facebook/deauthorize", signed: string) {
  return call(path, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ signed_request: signed }).toString(),
  });
}

/** Every row of both databases, to show that a rejected request changed nothing. */
export async function databaseSnapshot(): Promise<string> {
  const out: Record<string, unknown> = {};
  for (const [name, db] of [
    ["tokens", env.TOKENS_DB],
    ["sessions", env.SESSIONS_DB],
  ] as const) {
    const { results } = await db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' AND name != 'd1_migrations'",
      )
      .all<{ name: string }>();
    for (const { name: table } of results) {
      out[`${name}.${table}`] = (await db.prepare(`SELECT * FROM ${table} ORDER BY 1`).all()).results;
    }
  }
  return JSON.stringify(out);
}

/** Every key in the bucket, to show that a rejected request wrote nothing. */
export const spacesSnapshot = async () => (await spaces().listKeys("")).sort().join("\n");

/** Delivers jobs to the worker's queue handler as the Queues runtime does (first attempt); says what was acked or retried. */
export async function consumeJobs(jobs: Job[], target: Env = env) {
  const batch = createMessageBatch<Job>(
    "jobs",
    jobs.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, target, ctx);
  return getQueueResult(batch, ctx);
}
