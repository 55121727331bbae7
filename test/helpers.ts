import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach } from "vitest";
import { config } from "../src/config";
import { toBase64, toHex } from "../src/lib/encoding";
import { setLogSink } from "../src/lib/log";
import { hmacSha256, signShopifyQuery } from "../src/lib/signatures";
import { Spaces } from "../src/storage/spaces";
import { TEST_SECRETS } from "./env";

/** What the platforms, the browser and the operator do to the worker, for the integration tests. */

export const ORIGIN = "https://worker.test";

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

export async function control(fake: Fake, path: string, body: unknown = {}) {
  const origin = fakeOrigin(fake);
  const res = await fetch(`${origin}/_control/${path}`, { method: "POST", body: JSON.stringify(body) });
  return res.json<any>();
}

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

export const cookieOf = (res: Response) =>
  /__Host-sid=([0-9a-f]{64})/.exec(res.headers.get("set-cookie") ?? "")?.[1] ?? null;

/** A unique shop domain for a test. */
export const uniqueShop = (prefix = "shop") => `${prefix}-${crypto.randomUUID().slice(0, 8)}.myshopify.com`;

/** A unique numeric id (page or sender). */
export const uniqueId = () => String(100000000000000 + Math.floor(Math.random() * 899999999999999));

export async function signedShopifyCallback(params: Record<string, string>, secret = TEST_SECRETS.SHOPIFY_API_SECRET) {
  const query = new URLSearchParams(params);
  query.set("hmac", await signShopifyQuery(query, secret));
  return `/shopify/callback?${query.toString()}`;
}

export async function shopifyWebhook(
  shop: string,
  topic: string,
  payload: unknown,
  opts: {
    id?: string;
    secret?: string;
    raw?: string;
    /** X-Shopify-Event-Id (a fresh one unless given). */
    eventId?: string;
    /** X-Shopify-Triggered-At (now unless given; a string is sent as it is). */
    triggeredAt?: Date | string;
  } = {},
): Promise<Response> {
  const body = opts.raw ?? JSON.stringify(payload);
  const hmac = toBase64(await hmacSha256(opts.secret ?? TEST_SECRETS.SHOPIFY_API_SECRET, body));
  return call("/shopify/webhook", {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      "x-shopify-hmac-sha256": hmac,
      "x-shopify-topic": topic,
      "x-shopify-shop-domain": shop,
      "x-shopify-webhook-id": opts.id ?? crypto.randomUUID(),
      "x-shopify-api-version": "2026-10",
      "x-shopify-event-id": opts.eventId ?? crypto.randomUUID(),
      "x-shopify-triggered-at":
        typeof opts.triggeredAt === "string" ? opts.triggeredAt : (opts.triggeredAt ?? new Date()).toISOString(),
    },
  });
}

/** The whole Shopify install as a browser does it: login, authorize at the fake, callback. */
export async function installShop(shop: string, opts: { cookie?: string | null; products?: number } = {}) {
  await control("shopify", "shop", { shop, products: opts.products ?? 3 });
  const login = await call(`/shopify/${shop}/login`, {
    headers: opts.cookie ? { cookie: `__Host-sid=${opts.cookie}` } : {},
  });
  const cookie = cookieOf(login) ?? opts.cookie!;
  const location = new URL(login.headers.get("location")!);
  const { code } = await control("shopify", "code", { shop });
  const path = await signedShopifyCallback({
    code,
    shop,
    state: location.searchParams.get("state")!,
    timestamp: String(Math.floor(Date.now() / 1000)),
    host: btoa(`admin.shopify.com/store/${shop.split(".")[0]}`),
  });
  const res = await call(path, { headers: { cookie: `__Host-sid=${cookie}` } });
  // A callback that binds a user replaces the session id: the browser keeps the new cookie.
  return { res, cookie: cookieOf(res) ?? cookie, body: (await res.json()) as any, login };
}

/** One Messenger `messaging` event carrying a message (an echo when `echo`). */
export function messageEvent(
  pageId: string,
  senderId: string,
  mid: string,
  text: string,
  timestamp = Date.now(),
  echo = false,
) {
  return {
    sender: { id: echo ? pageId : senderId },
    recipient: { id: echo ? senderId : pageId },
    timestamp,
    message: { mid, text, ...(echo ? { is_echo: true, app_id: 1234567890 } : {}) },
  };
}

/** A signed-ready Messenger delivery of these events for one page. */
export const delivery = (pageId: string, messaging: unknown[]) => ({
  object: "page",
  entry: [{ id: pageId, time: Date.now(), messaging }],
});

export async function metaSignature(body: string, secret = TEST_SECRETS.FACEBOOK_APP_SECRET) {
  return `sha256=${toHex(await hmacSha256(secret, body))}`;
}

export async function messengerWebhook(payload: unknown, opts: { raw?: string; secret?: string } = {}) {
  const body = opts.raw ?? JSON.stringify(payload);
  return call("/facebook/webhook", {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "x-hub-signature-256": await metaSignature(body, opts.secret) },
  });
}

/** The whole Facebook login: login, the dialog at the fake (a code for these pages), callback. */
export async function loginFacebook(
  pages: { id: string; name?: string; subscribed?: string[] }[],
  cookie?: string | null,
) {
  for (const p of pages) await control("graph", "page", p);
  const login = await call("/facebook/login", { headers: cookie ? { cookie: `__Host-sid=${cookie}` } : {} });
  const sid = cookieOf(login) ?? cookie!;
  const state = new URL(login.headers.get("location")!).searchParams.get("state")!;
  const { code } = await control("graph", "code", { pages: pages.map((p) => p.id) });
  const res = await call(`/facebook/callback?code=${code}&state=${state}`, {
    headers: { cookie: `__Host-sid=${sid}` },
  });
  return { res, cookie: cookieOf(res) ?? sid, body: (await res.json()) as any, login };
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
