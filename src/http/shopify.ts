import { z } from "zod";
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env";
import { config, publicBase } from "../config";
import { AppError, badRequest, unauthorized } from "../lib/errors";
import { describeError, log } from "../lib/log";
import { platformFailureCode } from "../lib/platform-error";
import {
  SHOPIFY_QUERY_WINDOW_S,
  shopifyTimestampProblem,
  verifyShopifyQuery,
  shopifyWebhookSignature,
} from "../lib/signatures";
import { normalizeShop } from "../spaces/keys";
import { sessionStore, tokenStore } from "../services";
import { bindSession, callbackSession, ensureSession, limitLogin } from "./session";
import { installShop } from "../shopify/install";
import { ShopAccess } from "../shopify/access";
import { AdminApi } from "../shopify/admin-api";
import { authorizeUrl, requestToken } from "../shopify/oauth";
import { syncShop } from "../shopify/sync";
import { registerShopWebhooks } from "../shopify/webhook-registration";
import { handleShopifyWebhook, parseDeliveryHeaders } from "../shopify/webhooks";
import { readSignedJson } from "../lib/json-body";
import { ShopConnectedPage, ShopHomePage } from "./pages/merchant";
import { pagesOfUser } from "../db/facebook-pages";
import { respond } from "./pages/respond";
import { readInstall } from "../db/shop-lifecycle";
import { installHealth } from "../shopify/install-health";
import { tokenState } from "../console/token-state";

export const shopifyRoutes = new Hono<AppEnv>();

/** Where Shopify's admin frames an embedded app's URL. */
const SHOPIFY_ADMIN_FRAME = "https://admin.shopify.com";

/**
 * A query signed by Shopify (the callback, the app URL): a valid `hmac` (else 401) and a
 * `timestamp` of whole seconds (else 400) within SHOPIFY_QUERY_WINDOW_S of now (else 401).
 */
async function requireSignedQuery(params: URLSearchParams, secret: string): Promise<void> {
  if (!(await verifyShopifyQuery(params, secret))) throw unauthorized("Invalid hmac");
  const timestampProblem = shopifyTimestampProblem(params.get("timestamp"));
  if (timestampProblem === "malformed") throw badRequest("timestamp is missing or not an integer");
  if (timestampProblem === "stale") throw unauthorized(`timestamp is more than ${SHOPIFY_QUERY_WINDOW_S} s from now`);
}

/** The signed query of a request from Shopify and its `shop`, exactly as a *.myshopify.com domain (else 400). */
async function signedShopQuery(c: Context<AppEnv>, secret: string) {
  const params = new URL(c.req.url).searchParams;
  await requireSignedQuery(params, secret);
  const shop = normalizeShop(params.get("shop"));
  if (!shop || params.get("shop") !== shop) throw badRequest("shop is missing or not a *.myshopify.com domain");
  return { params, shop };
}

/** 302 to the shop's authorize URL, with a state bound to this browser's session (set if new). */
async function redirectToAuthorize(c: Context<AppEnv>, shop: string) {
  // Each redirect stores a session and a state: limited per client before anything is written.
  await limitLogin(c);
  const cfg = config(c.env, "shopify");
  const session = await ensureSession(c);
  const state = await sessionStore(c.env).createState(session.id, "shopify", shop);
  const redirectUri = `${publicBase(cfg.PUBLIC_URL, c.req.url)}/shopify/callback`;
  return c.redirect(authorizeUrl(cfg, shop, redirectUri, state), 302);
}

/**
 * The app URL: Shopify opens it (App Store, install links, the admin's app list) with a signed
 * `shop`, `hmac`, `timestamp`, `host`. An install that cannot serve the merchant goes straight to
 * OAuth; a healthy one shows the merchant's page (JSON when the client asks for it).
 */
shopifyRoutes.get("/", async (c) => {
  const cfg = config(c.env, "shopify");
  const { shop } = await signedShopQuery(c, cfg.SHOPIFY_API_SECRET);
  const health = installHealth(await readInstall(c.env.TOKENS_DB, shop), cfg.SHOPIFY_SCOPES);
  if (!health.healthy) {
    log.info(`App opened for ${shop}: ${health.reason}, starting OAuth`, { shop });
    return redirectToAuthorize(c, shop);
  }
  const { install } = health;
  const lastSyncedAt = install.lastSyncedAt === null ? null : new Date(install.lastSyncedAt).toISOString();
  const answer = { shop, user_uuid: install.userUuid, products: install.productCount, last_synced_at: lastSyncedAt };
  return respond(
    c,
    answer,
    async () =>
      ShopHomePage({
        shop,
        userUuid: install.userUuid,
        productCount: install.productCount,
        lastSyncAt: install.lastSyncedAt,
        // A page Meta refused (marked by the poll) or that lost its token needs a new login.
        pages: (await pagesOfUser(c.env.TOKENS_DB, install.userUuid)).map((p) => ({
          id: p.id,
          name: p.name,
          needsLogin: tokenState(p.token) === "needs_reauth",
        })),
        facebookLoginHref: "/facebook/login",
      }),
    200,
    // Shopify shows the app URL inside its admin: only the admin and the shop may frame it.
    { pageByDefault: true, frameAncestors: [SHOPIFY_ADMIN_FRAME, `https://${shop}`] },
  );
});

// `{.+}` so that a "shop" with slashes reaches the handler and gets its 400, not a 404.
shopifyRoutes.get("/:shop{.+}/login", async (c) => {
  const shop = normalizeShop(c.req.param("shop"));
  if (!shop) throw badRequest("Not a valid shop name: use acme or acme.myshopify.com");
  return redirectToAuthorize(c, shop);
});

shopifyRoutes.get("/callback", async (c) => {
  const cfg = config(c.env, "shopify");
  const { params, shop } = await signedShopQuery(c, cfg.SHOPIFY_API_SECRET);
  const code = params.get("code");
  if (!code) throw badRequest("code is missing");
  const session = await callbackSession(c, "shopify", params.get("state"), shop);

  let grant;
  try {
    grant = await requestToken(cfg, shop, { code });
  } catch (err) {
    // Shopify's words stay in the log: the client gets the step and a code.
    log.warn(`Shopify token exchange failed for ${shop}: ${describeError(err)}`, { shop });
    throw new AppError("upstream_error", "Shopify token exchange failed");
  }
  const install = await installShop(c.env, { shop, grant, session });
  await bindSession(c, session, install.browserUuid, install.proven);
  const tokens = await tokenStore(c.env);

  const api = new AdminApi(cfg, new ShopAccess(cfg, tokens, shop));
  const callbackUrl = `${publicBase(cfg.PUBLIC_URL, c.req.url)}/shopify/webhook`;
  const webhooks = await registerShopWebhooks(api, shop, callbackUrl).then(
    (created) => ({ ok: true as const, created }),
    (err) => {
      log.warn(`Webhook registration failed for ${shop}: ${describeError(err)}`, { shop });
      return { ok: false as const, error: platformFailureCode(err) };
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
      return { ok: false as const, queued: true, error: platformFailureCode(err) };
    },
  );
  const answer = {
    user_uuid: install.browserUuid,
    shop,
    scope: grant.scope ?? null,
    // The shop stays with the account it was linked to (docs/identity.md).
    other_account: install.otherAccount,
    shops_of_other_accounts: install.otherAccount ? [shop] : [],
    webhooks,
    sync,
  };
  // A browser gets the same answer as a page in words (no error text); a program, the JSON.
  return respond(c, answer, () =>
    ShopConnectedPage({
      shop,
      userUuid: install.browserUuid,
      sync: sync.ok ? { state: "done", products: sync.products } : { state: "queued" },
      webhooksOk: webhooks.ok,
      otherAccount: install.otherAccount,
      facebookLoginHref: "/facebook/login",
    }),
  );
});

/** A webhook's body: any JSON object (each topic's handler reads the fields it needs). */
const jsonObject = z.record(z.string(), z.unknown());

shopifyRoutes.post("/webhook", async (c) => {
  const cfg = config(c.env, "shopify");
  const signature = shopifyWebhookSignature(c.req.header("x-shopify-hmac-sha256"), cfg.SHOPIFY_API_SECRET);
  const payload = await readSignedJson(c.req.raw, signature, "Invalid webhook signature");
  const shop = normalizeShop(c.req.header("x-shopify-shop-domain"));
  if (!shop || c.req.header("x-shopify-shop-domain") !== shop)
    throw badRequest("X-Shopify-Shop-Domain is missing or invalid");
  const headers = parseDeliveryHeaders((name) => c.req.header(name));
  const body = jsonObject.safeParse(payload);
  if (!body.success) throw badRequest("Body must be a JSON object");
  const outcome = await handleShopifyWebhook(c.env, { shop, ...headers, payload: body.data }, (p) =>
    c.executionCtx.waitUntil(p),
  );
  return c.json(outcome);
});
