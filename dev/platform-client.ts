import { hc } from "hono/client";
import { z } from "zod";
import type { AdminApi } from "../src/http/admin.ts";
import { toBase64, toHex } from "../src/lib/encoding.ts";
import { hmacSha256, signShopifyQuery } from "../src/lib/signatures.ts";

/**
 * What Shopify, Meta and a merchant's browser do to the worker, signed with the worker's own code:
 * used by the integration tests (test/helpers.ts, inside workerd) and by the drill, the benchmark and
 * the browser tests against a running worker and the platform fakes (Node). Web APIs only.
 */

export interface Secrets {
  SHOPIFY_API_SECRET: string;
  FACEBOOK_APP_SECRET: string;
  ADMIN_TOKEN: string;
}

/** Sends a request to the worker at this path (a path with its query), redirects not followed. */
export type Send = (path: string, init?: RequestInit) => Promise<Response>;

/** `Send` for a worker at this origin, over the network. */
const sendTo =
  (worker: string): Send =>
  (path, init) =>
    fetch(`${worker}${path}`, { redirect: "manual", ...init });

export const cookieOf = (res: Response) =>
  /__Host-sid=([0-9a-f]{64})/.exec(res.headers.get("set-cookie") ?? "")?.[1] ?? null;

const withCookie = (cookie?: string | null): RequestInit =>
  cookie ? { headers: { cookie: `__Host-sid=${cookie}` } } : {};

/** Tells a fake (its `/_control/` API) what to do or to hold; its answer parsed with `answer`. */
export async function control(fakeOrigin: string, path: string, body?: unknown): Promise<unknown>;
export async function control<S extends z.ZodType>(
  fakeOrigin: string,
  path: string,
  body: unknown,
  answer: S,
): Promise<z.output<S>>;
export async function control(fakeOrigin: string, path: string, body: unknown = {}, answer: z.ZodType = z.unknown()) {
  const res = await fetch(`${fakeOrigin}/_control/${path}`, { method: "POST", body: JSON.stringify(body) });
  return answer.parse(await res.json());
}

/** The writes the Spaces fault proxy passed on since the last call, counted from zero again. */
export const takeWriteCount = async (proxyOrigin: string) =>
  (await control(proxyOrigin, "reset-counts", {}, z.object({ writes: z.number() }))).writes;

/** The fakes' answer to `_control/code`: an authorization code their OAuth accepts once. */
const issuedCode = z.object({ code: z.string() });

/**
 * The worker's operator API (`/admin`, Bearer admin token) with the routes' own types: bodies and
 * answers as `src/http/admin.ts` declares them, so a script neither re-declares nor casts them.
 */
export const adminClient = (origin: string, adminToken: string) =>
  hc<AdminApi>(`${origin}/admin`, { headers: { authorization: `Bearer ${adminToken}` } });

const errorAnswer = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** A refused answer as one line: the `{"error":{"code","message"}}` the worker sends, else the status and text. */
export async function refusal(res: { status: number; text(): Promise<string> }): Promise<string> {
  const text = await res.text();
  try {
    const { error } = errorAnswer.parse(JSON.parse(text));
    return `${res.status} ${error.code}: ${error.message}`;
  } catch {
    return `${res.status}: ${text.slice(0, 300)}`;
  }
}

async function json(res: Response) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return { raw: text };
  }
}

/** An OAuth callback path signed as Shopify signs it (`hmac` over the other entries). */
export async function signedShopifyCallback(params: Record<string, string>, secret: string) {
  const query = new URLSearchParams(params);
  query.set("hmac", await signShopifyQuery(query, secret));
  return `/shopify/callback?${query.toString()}`;
}

/** `X-Shopify-Hmac-Sha256`: the base64 HMAC of the raw body. */
const shopifyHmac = async (body: string, secret: string) => toBase64(await hmacSha256(secret, body));

/** `X-Hub-Signature-256`: `sha256=` and the hex HMAC of the raw body. */
export const metaSignature = async (body: string, secret: string) => `sha256=${toHex(await hmacSha256(secret, body))}`;

const postJson = (body: string, headers: Record<string, string>) => ({
  method: "POST",
  body,
  headers: { "content-type": "application/json", ...headers },
});

export interface ShopifyWebhookOptions {
  /** X-Shopify-Webhook-Id (a fresh one unless given). */
  id?: string;
  /** X-Shopify-Event-Id (a fresh one unless given). */
  eventId?: string;
  /** X-Shopify-Triggered-At (now unless given; a string is sent as it is). */
  triggeredAt?: Date | string;
}

/** The request init of a Shopify webhook delivery of this raw body. */
export async function shopifyWebhookInit(
  shop: string,
  topic: string,
  body: string,
  secret: string,
  opts: ShopifyWebhookOptions = {},
) {
  return postJson(body, {
    "x-shopify-hmac-sha256": await shopifyHmac(body, secret),
    "x-shopify-topic": topic,
    "x-shopify-shop-domain": shop,
    "x-shopify-webhook-id": opts.id ?? crypto.randomUUID(),
    "x-shopify-api-version": "2026-10",
    "x-shopify-event-id": opts.eventId ?? crypto.randomUUID(),
    "x-shopify-triggered-at":
      typeof opts.triggeredAt === "string" ? opts.triggeredAt : (opts.triggeredAt ?? new Date()).toISOString(),
  });
}

/** The request init of a Meta webhook delivery of this raw body. */
export async function messengerWebhookInit(body: string, secret: string) {
  return postJson(body, { "x-hub-signature-256": await metaSignature(body, secret) });
}

/**
 * The Shopify install as a browser does it: login, the authorize step at the fake (a code), the
 * signed callback. The responses as they came; the cookie the browser keeps afterwards.
 */
export async function shopifyInstallFlow(
  send: Send,
  fake: string,
  secret: string,
  shop: string,
  cookie?: string | null,
) {
  const login = await send(`/shopify/${shop}/login`, withCookie(cookie));
  const sid = cookieOf(login) ?? cookie ?? null;
  const state = new URL(login.headers.get("location") ?? "http://invalid/").searchParams.get("state");
  if (state === null) return { login, res: login, cookie: sid };
  const { code } = await control(fake, "code", { shop }, issuedCode);
  const path = await signedShopifyCallback(
    {
      code,
      shop,
      state,
      timestamp: String(Math.floor(Date.now() / 1000)),
      host: btoa(`admin.shopify.com/store/${shop.split(".")[0]}`),
    },
    secret,
  );
  const res = await send(path, withCookie(sid));
  // A callback that binds a user replaces the session id: the browser keeps the new cookie.
  return { login, res, cookie: cookieOf(res) ?? sid };
}

/** The Facebook login as a browser does it: login, the dialog at the fake (a code for these pages), callback. */
export async function facebookLoginFlow(
  send: Send,
  fake: string,
  pages: string[],
  cookie?: string | null,
  user?: string,
) {
  const login = await send("/facebook/login", withCookie(cookie));
  const sid = cookieOf(login) ?? cookie ?? null;
  const state = new URL(login.headers.get("location") ?? "http://invalid/").searchParams.get("state");
  if (state === null) return { login, res: login, cookie: sid };
  const { code } = await control(fake, "code", { pages, ...(user ? { user } : {}) }, issuedCode);
  const res = await send(`/facebook/callback?code=${code}&state=${state}`, withCookie(sid));
  return { login, res, cookie: cookieOf(res) ?? sid };
}

/** The install against a running worker; anything but a 200 callback throws. */
export async function installShop(
  worker: string,
  fake: string,
  secrets: Pick<Secrets, "SHOPIFY_API_SECRET">,
  shop: string,
  cookie?: string | null,
) {
  const flow = await shopifyInstallFlow(sendTo(worker), fake, secrets.SHOPIFY_API_SECRET, shop, cookie);
  if (flow.login.status !== 302) throw new Error(`login answered ${flow.login.status}: ${await flow.login.text()}`);
  const body = await json(flow.res);
  if (flow.res.status !== 200) throw new Error(`Shopify callback answered ${flow.res.status}: ${JSON.stringify(body)}`);
  return { body, cookie: flow.cookie!, newCookie: cookieOf(flow.login) !== null };
}

/** The Facebook login against a running worker; anything but a 200 callback throws. */
export async function loginFacebook(worker: string, fake: string, pages: string[], cookie?: string | null) {
  const flow = await facebookLoginFlow(sendTo(worker), fake, pages, cookie);
  if (flow.login.status !== 302) throw new Error(`login answered ${flow.login.status}`);
  const body = await json(flow.res);
  if (flow.res.status !== 200)
    throw new Error(`Facebook callback answered ${flow.res.status}: ${JSON.stringify(body)}`);
  return { body, cookie: flow.cookie! };
}

export async function shopifyWebhookRequest(
  worker: string,
  secrets: Pick<Secrets, "SHOPIFY_API_SECRET">,
  shop: string,
  topic: string,
  payload: unknown,
  id: string,
) {
  const init = await shopifyWebhookInit(shop, topic, JSON.stringify(payload), secrets.SHOPIFY_API_SECRET, { id });
  return new Request(`${worker}/shopify/webhook`, init);
}

export async function messengerWebhookRequest(
  worker: string,
  secrets: Pick<Secrets, "FACEBOOK_APP_SECRET">,
  payload: unknown,
) {
  return new Request(
    `${worker}/facebook/webhook`,
    await messengerWebhookInit(JSON.stringify(payload), secrets.FACEBOOK_APP_SECRET),
  );
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

/** A Messenger delivery of these events for one page. */
export const delivery = (pageId: string, messaging: unknown[], time = Date.now()) => ({
  object: "page",
  entry: [{ id: pageId, time, messaging }],
});

export const messageDelivery = (page: string, customer: string, mid: string, text: string, timestamp = Date.now()) =>
  delivery(page, [messageEvent(page, customer, mid, text, timestamp)], timestamp);

export const nameChangeDelivery = (page: string, name: string) => ({
  object: "page",
  entry: [{ id: page, time: Date.now(), changes: [{ field: "name", value: name }] }],
});
