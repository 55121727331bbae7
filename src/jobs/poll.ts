import { log } from "../lib/log";
import { installedShops, linkedPages } from "../storage/links";
import { enqueueAll, type Job } from "./messages";

/**
 * The daily polls do not run inline (a cron has 30 s of CPU and 1,000 subrequests): they enqueue
 * one job per shop or page, and the queue consumer does the work.
 */
export async function fanOutShopifyPoll(env: Env): Promise<number> {
  let total = 0;
  let after = "";
  for (;;) {
    const shops = await installedShops(env.TOKENS_DB, after, 1000);
    if (!shops.length) break;
    total += await enqueueAll(
      env.JOBS,
      shops.map((s): Job => ({ type: "shopify.sync", shop: s.shop, reason: "poll" })),
    );
    after = shops[shops.length - 1]!.shop;
  }
  log.info(`Shopify poll enqueued for ${total} shops`, { shops: total });
  return total;
}

export async function fanOutFacebookPoll(env: Env): Promise<number> {
  let total = 0;
  let after = "";
  for (;;) {
    const pages = await linkedPages(env.TOKENS_DB, after, 1000);
    if (!pages.length) break;
    total += await enqueueAll(
      env.JOBS,
      pages.map((p): Job => ({ type: "facebook.poll", pageId: p.pageId })),
    );
    after = pages[pages.length - 1]!.pageId;
  }
  log.info(`Facebook poll enqueued for ${total} pages`, { pages: total });
  return total;
}
