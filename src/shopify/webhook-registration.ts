import { z } from "zod";
import { config } from "../config";
import { describeError, log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { shopOwner } from "../db/links";
import { recordWebhookHealth } from "../db/shop-status";
import { tokenStore } from "../services";
import { ShopAccess } from "./access";
import { AdminApi } from "./admin-api";
import { WEBHOOK_SUBSCRIPTION_CREATE, WEBHOOK_SUBSCRIPTIONS_QUERY } from "./queries";

/**
 * The subscriptions each shop should have. A product event only names the product the worker reads
 * again (and a one-line summary for the log), so product payloads are trimmed to those fields: a
 * whole product resource can be several MB. `app/uninstalled` keeps its (small) whole payload,
 * whose shop the webhook handler compares with the header; `shop/update` only triggers a read of
 * the shop, and `app/scopes_update` is small.
 */
export const SHOP_WEBHOOKS = [
  { enumTopic: "PRODUCTS_UPDATE", topic: "products/update", includeFields: ["id", "title", "updated_at"] },
  { enumTopic: "PRODUCTS_CREATE", topic: "products/create", includeFields: ["id", "title", "updated_at"] },
  { enumTopic: "PRODUCTS_DELETE", topic: "products/delete", includeFields: ["id"] },
  { enumTopic: "SHOP_UPDATE", topic: "shop/update", includeFields: ["id", "updated_at"] },
  { enumTopic: "APP_SCOPES_UPDATE", topic: "app/scopes_update", includeFields: null },
  { enumTopic: "APP_UNINSTALLED", topic: "app/uninstalled", includeFields: null },
] as const;
type WantedWebhook = (typeof SHOP_WEBHOOKS)[number];

const SubscriptionsPage = z.object({
  webhookSubscriptions: z.object({
    pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullable() }),
    nodes: z.array(
      z.object({
        id: z.string(),
        topic: z.string(),
        endpoint: z.object({ callbackUrl: z.string().optional() }).nullable(),
      }),
    ),
  }),
});
export interface Subscription {
  topic: string;
  callbackUrl: string | null;
}

const CreateResult = z.object({
  webhookSubscriptionCreate: z.object({
    webhookSubscription: z.object({ id: z.string() }).nullable(),
    userErrors: z.array(z.object({ message: z.string() })),
  }),
});

/** The shop's subscriptions, every page. */
async function listSubscriptions(api: AdminApi): Promise<Subscription[]> {
  const out: Subscription[] = [];
  let cursor: string | null = null;
  do {
    const page = SubscriptionsPage.parse(await api.query(WEBHOOK_SUBSCRIPTIONS_QUERY, { cursor }));
    for (const node of page.webhookSubscriptions.nodes)
      out.push({ topic: node.topic, callbackUrl: node.endpoint?.callbackUrl ?? null });
    cursor = page.webhookSubscriptions.pageInfo.hasNextPage ? page.webhookSubscriptions.pageInfo.endCursor : null;
  } while (cursor);
  return out;
}

/** The wanted subscriptions that `existing` lacks (a subscription is its topic and callback URL). */
export function missingWebhooks(existing: Subscription[], callbackUrl: string): WantedWebhook[] {
  return SHOP_WEBHOOKS.filter((w) => !existing.some((e) => e.topic === w.enumTopic && e.callbackUrl === callbackUrl));
}

async function createSubscription(api: AdminApi, wanted: WantedWebhook, callbackUrl: string): Promise<boolean> {
  const result = CreateResult.parse(
    await api.query(WEBHOOK_SUBSCRIPTION_CREATE, {
      topic: wanted.enumTopic,
      callbackUrl,
      includeFields: wanted.includeFields,
    }),
  );
  const { userErrors } = result.webhookSubscriptionCreate;
  if (!userErrors.length) return true;
  // Shopify answers "Address for this topic has already been taken" when it exists already.
  if (userErrors.every((e) => /already been taken/i.test(e.message))) return false;
  throw new PlatformError(
    "shopify",
    "rejected",
    `webhookSubscriptionCreate ${wanted.topic}: ${userErrors.map((e) => e.message).join("; ")}`,
  );
}

/**
 * Registers the shop's webhooks to `callbackUrl`, skipping topics already registered there, so
 * running it again (a re-install) creates nothing twice. Returns the topics created.
 */
export async function registerShopWebhooks(api: AdminApi, shop: string, callbackUrl: string): Promise<string[]> {
  const missing = missingWebhooks(await listSubscriptions(api), callbackUrl);
  for (const w of SHOP_WEBHOOKS) {
    if (!missing.includes(w)) log.info(`Webhook already registered for ${shop}: ${w.topic}`, { shop, topic: w.topic });
  }
  const created: string[] = [];
  for (const wanted of missing) {
    if (!(await createSubscription(api, wanted, callbackUrl))) continue;
    log.info(`Webhook registered for ${shop}: ${wanted.topic}`, { shop, topic: wanted.topic });
    created.push(wanted.topic);
  }
  return created;
}

export interface WebhookCheck {
  /** Topics that were missing when checked (before the repair). */
  missing: string[];
  repaired: string[];
}

/**
 * The daily check of a shop's subscriptions: Shopify removes a subscription whose deliveries kept
 * failing, so whatever is missing is created again (one log line each) and the outcome is recorded
 * in `shop_status`. The callback URL is PUBLIC_URL's; without it, the one the shop's other
 * subscriptions use. Never throws: a failed check is logged and the poll goes on.
 */
export async function checkShopWebhooks(env: Env, shop: string): Promise<WebhookCheck | null> {
  const owner = await shopOwner(env.TOKENS_DB, shop);
  if (!owner?.installed) return null;
  try {
    const cfg = config(env, "shopify");
    const api = new AdminApi(cfg, new ShopAccess(cfg, await tokenStore(env), shop));
    const existing = await listSubscriptions(api);
    const callbackUrl = cfg.PUBLIC_URL
      ? `${cfg.PUBLIC_URL.replace(/\/+$/, "")}/shopify/webhook`
      : (existing.find((e) => e.callbackUrl?.endsWith("/shopify/webhook"))?.callbackUrl ?? null);
    if (!callbackUrl) {
      log.warn(`Webhook subscriptions of ${shop} cannot be repaired: PUBLIC_URL is not set`, { shop });
      const missing = SHOP_WEBHOOKS.map((w) => w.topic);
      await recordWebhookHealth(env.TOKENS_DB, shop, Date.now(), missing);
      return { missing, repaired: [] };
    }
    const missing = missingWebhooks(existing, callbackUrl);
    const repaired: string[] = [];
    for (const wanted of missing) {
      await createSubscription(api, wanted, callbackUrl);
      log.info(`Webhook subscription repaired for ${shop}: ${wanted.topic}`, { shop, topic: wanted.topic });
      repaired.push(wanted.topic);
    }
    const topics = missing.map((w) => w.topic);
    await recordWebhookHealth(env.TOKENS_DB, shop, Date.now(), topics);
    return { missing: topics, repaired };
  } catch (err) {
    log.warn(`Webhook subscription check failed for ${shop}: ${describeError(err)}`, { shop });
    return null;
  }
}
