import { createHmac } from "node:crypto";

/**
 * What Shopify, Meta and a merchant's browser do to the worker, from Node: used by the drill and
 * the benchmark against a running worker and the platform fakes.
 */

export interface Secrets {
  SHOPIFY_API_SECRET: string;
  FACEBOOK_APP_SECRET: string;
  ADMIN_TOKEN: string;
}

export const cookieOf = (res: Response) =>
  /__Host-sid=([0-9a-f]{64})/.exec(res.headers.get("set-cookie") ?? "")?.[1] ?? null;

export async function control(fakeOrigin: string, path: string, body: unknown = {}) {
  const res = await fetch(`${fakeOrigin}/_control/${path}`, { method: "POST", body: JSON.stringify(body) });
  return (await res.json()) as any;
}

async function json(res: Response) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return { raw: text };
  }
}

/** As Shopify signs a callback query: sorted entries without hmac/signature, form-encoded. */
export function signShopifyQuery(params: URLSearchParams, secret: string) {
  const entries = [...params.entries()]
    .filter(([k]) => k !== "hmac" && k !== "signature")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHmac("sha256", secret).update(new URLSearchParams(entries).toString()).digest("hex");
}

/** Login, the authorize step at the fake (a code), the signed callback. */
export async function installShop(
  worker: string,
  fake: string,
  secrets: Secrets,
  shop: string,
  cookie?: string | null,
) {
  const login = await fetch(`${worker}/shopify/${shop}/login`, {
    redirect: "manual",
    headers: cookie ? { cookie: `__Host-sid=${cookie}` } : {},
  });
  if (login.status !== 302) throw new Error(`login answered ${login.status}: ${await login.text()}`);
  const sid = cookieOf(login) ?? cookie;
  const state = new URL(login.headers.get("location")!).searchParams.get("state")!;
  const { code } = await control(fake, "code", { shop });
  const params = new URLSearchParams({ code, shop, state, timestamp: String(Math.floor(Date.now() / 1000)) });
  params.set("hmac", signShopifyQuery(params, secrets.SHOPIFY_API_SECRET));
  const res = await fetch(`${worker}/shopify/callback?${params}`, { headers: { cookie: `__Host-sid=${sid}` } });
  const body = await json(res);
  if (res.status !== 200) throw new Error(`Shopify callback answered ${res.status}: ${JSON.stringify(body)}`);
  // The callback replaced the session id: the browser keeps the new cookie.
  return { body, cookie: cookieOf(res) ?? sid!, newCookie: cookieOf(login) !== null };
}

export async function loginFacebook(worker: string, fake: string, pages: string[], cookie?: string | null) {
  const login = await fetch(`${worker}/facebook/login`, {
    redirect: "manual",
    headers: cookie ? { cookie: `__Host-sid=${cookie}` } : {},
  });
  if (login.status !== 302) throw new Error(`login answered ${login.status}`);
  const sid = cookieOf(login) ?? cookie;
  const state = new URL(login.headers.get("location")!).searchParams.get("state")!;
  const { code } = await control(fake, "code", { pages });
  const res = await fetch(`${worker}/facebook/callback?code=${code}&state=${state}`, {
    headers: { cookie: `__Host-sid=${sid}` },
  });
  const body = await json(res);
  if (res.status !== 200) throw new Error(`Facebook callback answered ${res.status}: ${JSON.stringify(body)}`);
  return { body, cookie: cookieOf(res) ?? sid! };
}

export function shopifyWebhookRequest(
  worker: string,
  secrets: Secrets,
  shop: string,
  topic: string,
  payload: unknown,
  id: string,
) {
  const body = JSON.stringify(payload);
  return new Request(`${worker}/shopify/webhook`, {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      "x-shopify-hmac-sha256": createHmac("sha256", secrets.SHOPIFY_API_SECRET).update(body).digest("base64"),
      "x-shopify-topic": topic,
      "x-shopify-shop-domain": shop,
      "x-shopify-webhook-id": id,
      "x-shopify-event-id": crypto.randomUUID(),
      "x-shopify-triggered-at": new Date().toISOString(),
      "x-shopify-api-version": "2026-10",
    },
  });
}

export function messengerWebhookRequest(worker: string, secrets: Secrets, payload: unknown) {
  const body = JSON.stringify(payload);
  return new Request(`${worker}/facebook/webhook`, {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": `sha256=${createHmac("sha256", secrets.FACEBOOK_APP_SECRET).update(body).digest("hex")}`,
    },
  });
}

export const messageDelivery = (page: string, customer: string, mid: string, text: string, timestamp = Date.now()) => ({
  object: "page",
  entry: [
    {
      id: page,
      time: timestamp,
      messaging: [{ sender: { id: customer }, recipient: { id: page }, timestamp, message: { mid, text } }],
    },
  ],
});

export const nameChangeDelivery = (page: string, name: string) => ({
  object: "page",
  entry: [{ id: page, time: Date.now(), changes: [{ field: "name", value: name }] }],
});
