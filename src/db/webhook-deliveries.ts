import type { Query } from "./group-commit";

/** Shopify deliveries already accepted (table `webhook_deliveries`), so that none is acted on twice. */

export interface DeliveryRef {
  shop: string;
  topic: string;
  /** `X-Shopify-Webhook-Id`: one delivery (a retry keeps it). */
  webhookId: string;
  /** `X-Shopify-Event-Id`: one event (every delivery of it keeps it); null when not sent. */
  eventId: string | null;
}

/**
 * Records a delivery unless its webhook id, or its event for this shop and topic, is already
 * recorded: `changes = 1` means it is new. A query, so that it can travel in a group commit.
 */
export function recordDeliveryQuery(d: DeliveryRef, now = Date.now()): Query {
  return {
    sql: "INSERT OR IGNORE INTO webhook_deliveries (id, topic, shop, received_at, event_id) VALUES (?1, ?2, ?3, ?4, ?5)",
    params: [d.webhookId, d.topic, d.shop, now, d.eventId],
  };
}

/** `recordDeliveryQuery` on its own: true when the delivery is new. */
export async function recordDelivery(db: D1Database, d: DeliveryRef): Promise<boolean> {
  const q = recordDeliveryQuery(d);
  const { meta } = await db
    .prepare(q.sql)
    .bind(...q.params)
    .run();
  return meta.changes === 1;
}

/** Forgets a delivery whose work could not be done, so that Shopify's next try is acted on. */
export async function forgetDelivery(db: D1Database, webhookId: string): Promise<void> {
  await db.prepare("DELETE FROM webhook_deliveries WHERE id = ?1").bind(webhookId).run();
}

/** Deletes up to `limit` deliveries received before `cutoff`; returns how many went. */
export async function forgetDeliveriesBefore(db: D1Database, cutoff: number, limit: number): Promise<number> {
  const { meta } = await db
    .prepare(
      `DELETE FROM webhook_deliveries WHERE rowid IN
         (SELECT rowid FROM webhook_deliveries WHERE received_at < ?1 LIMIT ?2)`,
    )
    .bind(cutoff, limit)
    .run();
  return meta.changes;
}
