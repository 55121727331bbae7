import { Hono } from "hono";
import type { AppEnv } from "../app";
import { config, publicBase } from "../config";
import { AppError, badRequest, forbidden, unauthorized } from "../lib/errors";
import { describeError, log } from "../lib/log";
import { verifyShopifyQuery, verifyShopifyWebhook } from "../lib/signatures";
import { normalizeShop } from "../storage/keys";
import { sessionStore, tokenStore } from "../services";
import { bindSession, currentSession, ensureSession } from "../routes/session";
import { installShop } from "./install";
import { ShopAccess } from "./access";
import { AdminApi } from "./admin-api";
import { authorizeUrl, requestToken } from "./oauth";
import { syncShop } from "./sync";
import { registerShopWebhooks } from "./webhook-registration";
import { handleShopifyWebhook } from "./webhooks";
import { readSignedJson } from "../lib/json-body";

export const shopifyRoutes = new Hono<AppEnv>();

/** How far a callback's `timestamp` may be from now. */
const CALLBACK_WINDOW_S = 90;

// `{.+}` so that a "shop" with slashes reaches the handler and gets its 400, not a 404.
shopifyRoutes.get("/:shop{.+}/login", async (c) => {
  const shop = normalizeShop(c.req.param("shop"));
  if (!shop) throw badRequest("Not a valid shop name: use acme or acme.myshopify.com");
  const cfg = config(c.env, "shopify");
  const session = await ensureSession(c);
  const state = await sessionStore(c.env).createState(session.id, "shopify", shop);
  const redirectUri = `${publicBase(cfg.PUBLIC_URL, c.req.url)}/shopify/callback`;
  return c.redirect(authorizeUrl(cfg, shop, redirectUri, state), 302);
});

shopifyRoutes.get("/callback", async (c) => {
  const cfg = config(c.env, "shopify");
  const params = new URL(c.req.url).searchParams;
  if (!(await verifyShopifyQuery(params, cfg.SHOPIFY_API_SECRET))) throw unauthorized("Invalid hmac");
  const timestamp = params.get("timestamp") ?? "";
  if (!/^\d{1,12}$/.test(timestamp)) throw badRequest("timestamp is missing or not an integer");
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > CALLBACK_WINDOW_S) {
    throw unauthorized(`timestamp is more than ${CALLBACK_WINDOW_S} s from now`);
  }
  const shop = normalizeShop(params.get("shop"));
  if (!shop || params.get("shop") !== shop) throw badRequest("shop is missing or not a *.myshopify.com domain");
  const code = params.get("code");
  if (!code) throw badRequest("code is missing");
  const session = await currentSession(c);
  const state = await sessionStore(c.env).consumeState(params.get("state") ?? "", session?.id ?? null, "shopify", shop);
  if (!state.ok || !session)
    throw forbidden(`Invalid state (${state.ok ? "no session" : state.reason.replace("_", " ")})`);

  let grant;
  try {
    grant = await requestToken(cfg, shop, { code });
  } catch (err) {
    throw new AppError("upstream_error", `Shopify token exchange failed: ${describeError(err)}`);
  }
  const install = await installShop(c.env, { shop, grant, sessionUuid: session.userUuid });
  await bindSession(c, session, install.browserUuid);
  const tokens = await tokenStore(c.env);

  const api = new AdminApi(cfg, new ShopAccess(cfg, tokens, shop));
  const callbackUrl = `${publicBase(cfg.PUBLIC_URL, c.req.url)}/shopify/webhook`;
  const webhooks = await registerShopWebhooks(api, shop, callbackUrl).then(
    (created) => ({ ok: true as const, created }),
    (err) => {
      log.warn(`Webhook registration failed for ${shop}: ${describeError(err)}`, { shop });
      return { ok: false as const, error: describeError(err) };
    },
  );
  const sync = await syncShop(c.env, shop).then(
    (r) => ({
      ok: true as const,
      products: r?.products ?? 0,
      // Keys name the owner's UUID: not shown to a browser of another account.
      files: install.otherAccount ? [] : [r?.metadataKey, r?.productsKey],
    }),
    async (err) => {
      // The install stands; the sync is retried from the queue.
      log.warn(`Sync after install failed for ${shop}: ${describeError(err)}`, { shop });
      await c.env.JOBS.send({ type: "shopify.sync", shop, reason: "install" });
      return { ok: false as const, queued: true, error: describeError(err) };
    },
  );
  return c.json({
    user_uuid: install.browserUuid,
    shop,
    scope: grant.scope ?? null,
    // The shop stays with the account it was linked to (contract, "User identity").
    other_account: install.otherAccount,
    shops_of_other_accounts: install.otherAccount ? [shop] : [],
    webhooks,
    sync,
  });
});

shopifyRoutes.post("/webhook", async (c) => {
  const cfg = config(c.env, "shopify");
  const payload = await readSignedJson(
    c.req,
    (raw) => verifyShopifyWebhook(raw, c.req.header("x-shopify-hmac-sha256"), cfg.SHOPIFY_API_SECRET),
    "Invalid webhook signature",
  );
  const shop = normalizeShop(c.req.header("x-shopify-shop-domain"));
  if (!shop || c.req.header("x-shopify-shop-domain") !== shop)
    throw badRequest("X-Shopify-Shop-Domain is missing or invalid");
  const topic = c.req.header("x-shopify-topic") ?? "";
  if (!/^[a-z_]+\/[a-z_]+$/.test(topic)) throw badRequest("X-Shopify-Topic is missing or invalid");
  const webhookId = c.req.header("x-shopify-webhook-id") ?? "";
  if (!/^[A-Za-z0-9-]{1,100}$/.test(webhookId)) throw badRequest("X-Shopify-Webhook-Id is missing or invalid");
  if (typeof payload !== "object" || payload === null || Array.isArray(payload))
    throw badRequest("Body must be a JSON object");
  const outcome = await handleShopifyWebhook(
    c.env,
    { shop, topic, webhookId, payload: payload as Record<string, unknown> },
    (p) => c.executionCtx.waitUntil(p),
  );
  return c.json(outcome);
});
