import { AppError } from "../lib/errors";
import { describeError, log } from "../lib/log";
import { markShopUninstalledStatement, releaseSync, requestSyncQuery, shopOwner } from "../storage/links";
import { commitTogether } from "../storage/group-commit";
import { shopTokenKey } from "../storage/tokens";
import type { Job } from "../jobs/messages";
import { journal } from "../services";

export interface ShopifyDelivery {
  shop: string;
  topic: string;
  webhookId: string;
  payload: Record<string, unknown>;
}

/**
 * Shopify retries a delivery for 4 hours; an id is remembered for a week, then forgotten by the
 * daily Shopify cron, so the table does not grow with every delivery ever received.
 */
const DELIVERY_MEMORY_MS = 7 * 24 * 60 * 60 * 1000;
const FORGET_CHUNK = 10_000;

/** Deletes the delivery ids older than a week, in chunks; returns how many went. */
export async function forgetOldDeliveries(db: D1Database, now = Date.now()): Promise<number> {
  let forgotten = 0;
  // At most 20 chunks (200,000 ids) a day: a few of the invocation's queries, never a long one.
  for (let chunk = 0; chunk < 20; chunk++) {
    const { meta } = await db
      .prepare(
        `DELETE FROM webhook_deliveries WHERE rowid IN
           (SELECT rowid FROM webhook_deliveries WHERE received_at < ?1 LIMIT ?2)`,
      )
      .bind(now - DELIVERY_MEMORY_MS, FORGET_CHUNK)
      .run();
    forgotten += meta.changes;
    if (meta.changes < FORGET_CHUNK) break;
  }
  log.info(`Forgot ${forgotten} Shopify webhook ids older than a week`, { forgotten });
  return forgotten;
}

/** How long a webhook waits for its journal entry to reach Spaces before queueing it instead. */
const JOURNAL_DEADLINE_MS = 1000;

const PRODUCT_TOPICS = new Set(["products/create", "products/update", "products/delete"]);
const COMPLIANCE_TOPICS = new Set(["customers/data_request", "customers/redact", "shop/redact"]);

/** A short, safe description of a product payload for the log. */
function productSummary(payload: Record<string, unknown>): string {
  const id = typeof payload.id === "number" || typeof payload.id === "string" ? String(payload.id) : "?";
  const title = typeof payload.title === "string" ? JSON.stringify(payload.title.slice(0, 80)) : null;
  const updated = typeof payload.updated_at === "string" ? payload.updated_at : null;
  return [`product ${id}`, title, updated && `updated_at ${updated}`].filter(Boolean).join(", ");
}

/**
 * Acts on a verified delivery once per `X-Shopify-Webhook-Id`, answering without waiting on
 * Shopify or Spaces: the slow work goes to the queue. A delivery whose work could not be queued is
 * forgotten again and answered 503, so Shopify delivers it again.
 */
export async function handleShopifyWebhook(
  env: Env,
  delivery: ShopifyDelivery,
  waitUntil?: (p: Promise<unknown>) => void,
) {
  const { shop, topic, webhookId } = delivery;
  const db = env.TOKENS_DB;
  const product = PRODUCT_TOPICS.has(topic);
  // One transaction, shared with concurrent deliveries: record the delivery id and, for product
  // topics, claim the shop's re-sync.
  const [recorded, requested] = await commitTogether(
    db,
    [
      {
        sql: "INSERT OR IGNORE INTO webhook_deliveries (id, topic, shop, received_at) VALUES (?1, ?2, ?3, ?4)",
        params: [webhookId, topic, shop, Date.now()],
      },
      ...(product ? [requestSyncQuery(shop)] : []),
    ],
    waitUntil,
  );
  const fields = { shop, topic, webhook_id: webhookId };
  if (recorded!.meta.changes === 0) {
    log.info(`Duplicate webhook ${webhookId} (${topic}) from ${shop} ignored`, fields);
    return { ok: true, duplicate: true };
  }
  try {
    if (product) {
      log.info(`Received ${topic} event from ${shop}: ${productSummary(delivery.payload)}`, fields);
      // A new delivery for an installed shop always updates the shop's row; no row, no install.
      const claim = requested!.results[0] as { claimed: number } | undefined;
      if (claim?.claimed === 1) return await queueSync(env, shop);
      if (!claim) {
        log.info(`Ignored ${topic} for ${shop}: not installed`, fields);
        return { ok: true, ignored: "not installed" };
      }
      return { ok: true, queued: "sync already queued" };
    }
    return await otherTopic(env, delivery);
  } catch (err) {
    await db.prepare("DELETE FROM webhook_deliveries WHERE id = ?1").bind(webhookId).run();
    log.error(`Webhook ${webhookId} (${topic}) from ${shop} not accepted: ${describeError(err)}`, fields);
    throw new AppError("unavailable", "Could not accept the webhook now; deliver it again");
  }
}

async function queueSync(env: Env, shop: string) {
  try {
    await env.JOBS.send({ type: "shopify.sync", shop, reason: "webhook" } satisfies Job, { contentType: "json" });
  } catch (err) {
    await releaseSync(env.TOKENS_DB, shop);
    throw err;
  }
  return { ok: true, queued: "sync" };
}

async function otherTopic(env: Env, { shop, topic, webhookId }: ShopifyDelivery) {
  const db = env.TOKENS_DB;
  const fields = { shop, topic, webhook_id: webhookId };
  if (topic === "app/uninstalled") {
    await db.batch([
      db.prepare("DELETE FROM tokens WHERE key = ?1").bind(shopTokenKey(shop)),
      markShopUninstalledStatement(db, shop),
    ]);
    // Within a second, else through the queue: the answer must not wait on Spaces.
    await journal(
      env,
      [
        { table: "tokens", key: shopTokenKey(shop) },
        { table: "shops", key: shop },
      ],
      JOURNAL_DEADLINE_MS,
    );
    log.info(`App uninstalled from ${shop}: tokens removed`, fields);
    return { ok: true, removed: "tokens" };
  }
  if (COMPLIANCE_TOPICS.has(topic)) {
    log.info(`Received compliance webhook ${topic} from ${shop}`, fields);
    if (topic === "shop/redact") {
      const owner = await shopOwner(db, shop);
      await db.prepare("DELETE FROM tokens WHERE key = ?1").bind(shopTokenKey(shop)).run();
      await journal(env, [{ table: "tokens", key: shopTokenKey(shop) }], JOURNAL_DEADLINE_MS);
      if (owner) {
        await env.JOBS.send({ type: "shopify.redact", shop, userUuid: owner.userUuid } satisfies Job, {
          contentType: "json",
        });
      }
      return { ok: true, queued: "redact" };
    }
    // We keep no Shopify customer data: products and shop metadata only.
    return { ok: true, customer_data: "none held" };
  }
  log.info(`Ignored webhook topic ${topic} from ${shop}`, fields);
  return { ok: true, ignored: topic };
}
