import { log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import type { AdminApi } from "./admin-api";
import { WEBHOOK_SUBSCRIPTION_CREATE, WEBHOOK_SUBSCRIPTIONS_QUERY } from "./queries";

/** The topics each shop is subscribed to, as GraphQL enum and as webhook topic. */
const SHOP_WEBHOOK_TOPICS = [
  ["PRODUCTS_UPDATE", "products/update"],
  ["PRODUCTS_CREATE", "products/create"],
  ["PRODUCTS_DELETE", "products/delete"],
  ["APP_UNINSTALLED", "app/uninstalled"],
] as const;

interface SubscriptionsPage {
  webhookSubscriptions: {
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    nodes: { id: string; topic: string; endpoint: { callbackUrl?: string } | null }[];
  };
}

/**
 * Registers the shop's webhooks to `callbackUrl`, skipping topics already registered there, so
 * running it again (a re-install) creates nothing twice. Returns the topics created.
 */
export async function registerShopWebhooks(api: AdminApi, shop: string, callbackUrl: string): Promise<string[]> {
  const existing = new Set<string>();
  let cursor: string | null = null;
  do {
    const page: SubscriptionsPage = await api.query<SubscriptionsPage>(WEBHOOK_SUBSCRIPTIONS_QUERY, { cursor });
    for (const node of page.webhookSubscriptions.nodes) {
      if (node.endpoint?.callbackUrl === callbackUrl) existing.add(node.topic);
    }
    cursor = page.webhookSubscriptions.pageInfo.hasNextPage ? page.webhookSubscriptions.pageInfo.endCursor : null;
  } while (cursor);

  const created: string[] = [];
  for (const [enumTopic, topic] of SHOP_WEBHOOK_TOPICS) {
    if (existing.has(enumTopic)) {
      log.info(`Webhook already registered for ${shop}: ${topic}`, { shop, topic });
      continue;
    }
    const result = await api.query<{
      webhookSubscriptionCreate: { webhookSubscription: { id: string } | null; userErrors: { message: string }[] };
    }>(WEBHOOK_SUBSCRIPTION_CREATE, { topic: enumTopic, callbackUrl });
    const { userErrors } = result.webhookSubscriptionCreate;
    if (userErrors.length) {
      // Shopify answers "Address for this topic has already been taken" when it exists already.
      if (userErrors.every((e) => /already been taken/i.test(e.message))) continue;
      throw new PlatformError(
        "shopify",
        "rejected",
        `webhookSubscriptionCreate ${topic}: ${userErrors.map((e) => e.message).join("; ")}`,
      );
    }
    log.info(`Webhook registered for ${shop}: ${topic}`, { shop, topic });
    created.push(topic);
  }
  return created;
}
