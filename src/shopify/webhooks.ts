import { CALLBACK_JOURNAL_DEADLINE_MS } from "../backup/journal";
import { z } from "zod";
import { AppError, badRequest } from "../lib/errors";
import { describeError, log } from "../lib/log";
import { shopOwnerOf, shopOwnerQuery } from "../db/links";
import { commitTogether } from "../db/group-commit";
import { readInstall } from "../db/shop-lifecycle";
import {
  forgetDeliveriesBefore,
  forgetDelivery,
  recordDelivery,
  recordDeliveryQuery,
  type DeliveryRef,
} from "../db/webhook-deliveries";
import type { Job } from "../jobs/queue-jobs";
import { shopLifecycle, tokenStore } from "../services";
import { productsChanged } from "../catalogue/changes";
import { isoTime, productNumber } from "./products";
import { shopTokenKey } from "../db/tokens";

export interface ShopifyDelivery extends DeliveryRef {
  /** `X-Shopify-Triggered-At` in epoch ms (when the event happened); null when absent or unreadable. */
  triggeredAt: number | null;
  payload: Record<string, unknown>;
}

const HEADER_ID = /^[A-Za-z0-9-]{1,100}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

const deliveryHeaders = z.object({
  topic: z.string({ error: "X-Shopify-Topic is missing or invalid" }).regex(/^[a-z_]+\/[a-z_]+$/, {
    error: "X-Shopify-Topic is missing or invalid",
  }),
  webhookId: z.string({ error: "X-Shopify-Webhook-Id is missing or invalid" }).regex(HEADER_ID, {
    error: "X-Shopify-Webhook-Id is missing or invalid",
  }),
  eventId: z
    .string()
    .regex(HEADER_ID, { error: "X-Shopify-Event-Id is invalid" })
    .optional()
    .transform((v) => v ?? null),
  // Unreadable is taken as unknown: only a destructive topic needs it, and it then does nothing.
  triggeredAt: z
    .string()
    .optional()
    .transform((v) => (v && ISO_TIME.test(v) && !Number.isNaN(Date.parse(v)) ? Date.parse(v) : null)),
});

/** The delivery headers after the signature and the shop domain were checked; a 400 when malformed. */
export function parseDeliveryHeaders(header: (name: string) => string | undefined) {
  const parsed = deliveryHeaders.safeParse({
    topic: header("x-shopify-topic"),
    webhookId: header("x-shopify-webhook-id"),
    eventId: header("x-shopify-event-id"),
    triggeredAt: header("x-shopify-triggered-at"),
  });
  if (!parsed.success) throw badRequest(parsed.error.issues[0]!.message);
  return parsed.data;
}

/**
 * Shopify retries a delivery for 4 hours; an id is remembered for a week, then forgotten by the
 * daily Shopify cron, so the table does not grow with every delivery ever received.
 */
const DELIVERY_MEMORY_MS = 7 * 24 * 60 * 60 * 1000;
const FORGET_CHUNK = 10_000;
/** Chunks forgotten per daily run: a few of the invocation's queries, never a long one. */
const FORGET_CHUNKS_PER_RUN = 20;

/** Deletes the delivery ids older than a week, in chunks; returns how many went. */
export async function forgetOldDeliveries(db: D1Database, now = Date.now()): Promise<number> {
  let forgotten = 0;
  for (let chunk = 0; chunk < FORGET_CHUNKS_PER_RUN; chunk++) {
    const changes = await forgetDeliveriesBefore(db, now - DELIVERY_MEMORY_MS, FORGET_CHUNK);
    forgotten += changes;
    if (changes < FORGET_CHUNK) break;
  }
  log.info(`Forgot ${forgotten} Shopify webhook ids older than a week`, { forgotten });
  return forgotten;
}

const PRODUCT_TOPICS = new Set(["products/create", "products/update", "products/delete"]);
/** Topics about the shop itself, each handled without a walk of anything. */
const SHOP_TOPICS = new Set(["shop/update", "app/scopes_update"]);
const COMPLIANCE_TOPICS = new Set(["customers/data_request", "customers/redact", "shop/redact"]);

/** A short, safe description of a product payload for the log. */
function productSummary(payload: Record<string, unknown>): string {
  const id = typeof payload.id === "number" || typeof payload.id === "string" ? String(payload.id) : "?";
  const title = typeof payload.title === "string" ? JSON.stringify(payload.title.slice(0, 80)) : null;
  const updated = typeof payload.updated_at === "string" ? payload.updated_at : null;
  return [`product ${id}`, title, updated && `updated_at ${updated}`].filter(Boolean).join(", ");
}

/** Topics that delete what the worker holds for a shop: acted on only when provably meant. */
const DESTRUCTIVE_TOPICS = new Set(["app/uninstalled", "shop/redact"]);

/**
 * Acts on a verified delivery once per `X-Shopify-Webhook-Id` and per `X-Shopify-Event-Id`,
 * answering without waiting on Shopify or Spaces: the slow work goes to the queue. A delivery whose
 * work could not be queued is forgotten again and answered 503, so Shopify delivers it again.
 */
export async function handleShopifyWebhook(
  env: Env,
  delivery: ShopifyDelivery,
  waitUntil?: (p: Promise<unknown>) => void,
) {
  const { shop, topic, webhookId } = delivery;
  const fields = { shop, topic, webhook_id: webhookId };
  if (COMPLIANCE_TOPICS.has(topic)) log.info(`Received compliance webhook ${topic} from ${shop}`, fields);
  if (DESTRUCTIVE_TOPICS.has(topic)) return destructiveTopic(env, delivery);
  const db = env.TOKENS_DB;
  const platformTopic = PRODUCT_TOPICS.has(topic) || SHOP_TOPICS.has(topic);
  // One transaction, shared with concurrent deliveries: record the delivery id and, for the topics
  // that need it, read whether the shop is installed (no round trip of its own).
  const [recorded, owner] = await commitTogether(
    db,
    [recordDeliveryQuery(delivery), ...(platformTopic ? [shopOwnerQuery(shop)] : [])],
    waitUntil,
  );
  if (recorded!.meta.changes === 0) {
    log.info(`Duplicate webhook ${webhookId} (${topic}) from ${shop} ignored`, fields);
    return { ok: true, duplicate: true };
  }
  try {
    if (platformTopic) {
      if (PRODUCT_TOPICS.has(topic))
        log.info(`Received ${topic} event from ${shop}: ${productSummary(delivery.payload)}`, fields);
      else log.info(`Received ${topic} event from ${shop}`, fields);
      if (!shopOwnerOf(owner)?.installed) {
        log.info(`Ignored ${topic} for ${shop}: not installed`, fields);
        return { ok: true, ignored: "not installed" };
      }
      if (PRODUCT_TOPICS.has(topic)) return await productChanged(env, delivery, waitUntil);
      if (topic === "shop/update") return await queueJob(env, { type: "shopify.metadata", shop }, "metadata");
      return await scopesUpdated(env, delivery);
    }
    if (COMPLIANCE_TOPICS.has(topic)) return { ok: true, customer_data: "none held" };
    log.info(`Ignored webhook topic ${topic} from ${shop}`, fields);
    return { ok: true, ignored: topic };
  } catch (err) {
    await notAccepted(env, delivery, err);
  }
}

/** The product a product topic's payload names: its numeric `id`, or its `admin_graphql_api_id`. */
function payloadProduct(payload: Record<string, unknown>): number | null {
  return productNumber(payload.id) ?? productNumber(payload.admin_graphql_api_id);
}

/**
 * A product created, updated or deleted: the shop's catalogue object reads that one product again
 * (or drops it) and rewrites the file from what it holds, shortly after, with whatever else came.
 */
async function productChanged(
  env: Env,
  { shop, topic, webhookId, payload }: ShopifyDelivery,
  waitUntil?: (p: Promise<unknown>) => void,
) {
  const id = payloadProduct(payload);
  if (id === null) {
    log.warn(`Ignored ${topic} for ${shop}: the payload names no product`, { shop, topic, webhook_id: webhookId });
    return { ok: true, ignored: "payload names no product" };
  }
  const change = topic === "products/delete" ? { remove: [id] } : { read: [id] };
  await productsChanged(env, shop, change, waitUntil);
  return { ok: true, queued: topic === "products/delete" ? "product removed" : "product read" };
}

const ScopesUpdate = z.object({
  current: z.array(z.string()),
  updated_at: z.string().optional(),
});

/** `app/scopes_update`: the stored scopes become the granted ones, unless the token changed since. */
async function scopesUpdated(env: Env, { shop, topic, webhookId, payload, triggeredAt }: ShopifyDelivery) {
  const parsed = ScopesUpdate.safeParse(payload);
  if (!parsed.success) {
    log.warn(`Ignored ${topic} for ${shop}: no current scopes in the payload`, { shop, topic, webhook_id: webhookId });
    return { ok: true, ignored: "payload names no scopes" };
  }
  const at = Date.parse(isoTime(parsed.data.updated_at)) || triggeredAt || Date.now();
  const scope = parsed.data.current.join(",");
  const updated = await (await tokenStore(env)).updateScope(shopTokenKey(shop), scope, at);
  log.info(`Scopes of ${shop} ${updated ? "now" : "not changed (the token is newer)"}: ${scope}`, { shop, topic });
  return { ok: true, scopes: updated ? "updated" : "unchanged" };
}

async function notAccepted(env: Env, { shop, topic, webhookId }: ShopifyDelivery, err: unknown): Promise<never> {
  await forgetDelivery(env.TOKENS_DB, webhookId);
  log.error(`Webhook ${webhookId} (${topic}) from ${shop} not accepted: ${describeError(err)}`, {
    shop,
    topic,
    webhook_id: webhookId,
  });
  throw new AppError("unavailable", "Could not accept the webhook now; deliver it again");
}

async function queueJob(env: Env, job: Job, what: string) {
  await env.JOBS.send(job, { contentType: "json" });
  return { ok: true, queued: what };
}

/** The shop a destructive topic's payload names: `myshopify_domain` (a Shop) or `shop_domain`. */
const payloadShop = z.union([
  z.object({ myshopify_domain: z.string() }).transform((p) => p.myshopify_domain),
  z.object({ shop_domain: z.string() }).transform((p) => p.shop_domain),
]);

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Headers are not signed, and Shopify retries an event with its original payload for 4 hours:
 * a destructive topic acts only when the signed payload names the header's shop and the event
 * happened after the shop's latest install. Otherwise it is answered 200 (so Shopify stops) and
 * changes nothing, not even the delivery log, so a forged copy cannot mask a real delivery.
 */
async function destructiveTopic(env: Env, delivery: ShopifyDelivery) {
  const { shop, topic, webhookId, triggeredAt } = delivery;
  const fields = { shop, topic, webhook_id: webhookId };
  const ignore = (why: string, reason: string) => {
    log.warn(`Ignored ${topic} for ${shop}: ${why}`, fields);
    return { ok: true, ignored: reason };
  };
  const named = payloadShop.safeParse(delivery.payload);
  if (!named.success) return ignore("the payload names no shop", "payload names no shop");
  if (named.data !== shop) {
    return ignore(`the payload names ${JSON.stringify(named.data.slice(0, 100))}`, "payload names another shop");
  }
  if (triggeredAt === null) return ignore("no readable X-Shopify-Triggered-At", "no trigger time");
  const install = await readInstall(env.TOKENS_DB, shop);
  if (!install) return ignore("not installed", "not installed");
  if (triggeredAt <= install.installedAt) {
    return ignore(
      `triggered at ${iso(triggeredAt)}, before the latest install at ${iso(install.installedAt)}`,
      "triggered before the latest install",
    );
  }
  if (!(await recordDelivery(env.TOKENS_DB, delivery))) {
    log.info(`Duplicate webhook ${webhookId} (${topic}) from ${shop} ignored`, fields);
    return { ok: true, duplicate: true };
  }
  try {
    const lifecycle = shopLifecycle(env);
    if (topic === "app/uninstalled") {
      // The answer must not wait on Spaces: the journal entry goes through the queue if it is slow.
      if (!(await lifecycle.uninstall(shop, triggeredAt, CALLBACK_JOURNAL_DEADLINE_MS))) {
        return ignore("reinstalled while this event was handled", "triggered before the latest install");
      }
      log.info(`App uninstalled from ${shop}: tokens removed`, fields);
      return { ok: true, removed: "tokens" };
    }
    await lifecycle.redactToken(shop, triggeredAt, CALLBACK_JOURNAL_DEADLINE_MS);
    await env.JOBS.send({ type: "shopify.redact", shop, userUuid: install.userUuid } satisfies Job, {
      contentType: "json",
    });
    return { ok: true, queued: "redact" };
  } catch (err) {
    return notAccepted(env, delivery, err);
  }
}
