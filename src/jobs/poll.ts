import { log } from "../lib/log";
import { installedShops, linkedPages } from "../db/links";
import { SEND_BATCH_LIMIT, enqueueAll, type Job } from "./queue-jobs";

/**
 * The daily polls do not run inline (a cron has 30 s of CPU and 1,000 subrequests): they enqueue
 * one job per shop or page, and the queue consumer does the work.
 */

interface FanOut {
  items: number;
  /** D1 queries and sendBatch calls: what the invocation spends of its subrequests. */
  queries: number;
  batches: number;
}

async function fanOut<T>(
  env: Env,
  page: (after: string) => Promise<T[]>,
  cursor: (item: T) => string,
  job: (item: T) => Job,
): Promise<FanOut> {
  const figures: FanOut = { items: 0, queries: 0, batches: 0 };
  let after = "";
  for (;;) {
    const items = await page(after);
    figures.queries++;
    if (!items.length) break;
    figures.items += await enqueueAll(env.JOBS, items.map(job));
    figures.batches += Math.ceil(items.length / SEND_BATCH_LIMIT);
    after = cursor(items[items.length - 1]!);
  }
  return figures;
}

const fields = (f: FanOut) => ({ ...f, subrequests: f.queries + f.batches });

export async function fanOutShopifyPoll(env: Env): Promise<number> {
  const figures = await fanOut(
    env,
    (after) => installedShops(env.TOKENS_DB, after, 1000),
    (s) => s.shop,
    (s): Job => ({ type: "shopify.sync", shop: s.shop, reason: "poll" }),
  );
  log.info(`Shopify poll enqueued for ${figures.items} shops`, fields(figures));
  return figures.items;
}

export async function fanOutFacebookPoll(env: Env): Promise<number> {
  const figures = await fanOut(
    env,
    (after) => linkedPages(env.TOKENS_DB, after, 1000),
    (p) => p.pageId,
    (p): Job => ({ type: "facebook.poll", pageId: p.pageId }),
  );
  log.info(`Facebook poll enqueued for ${figures.items} pages`, fields(figures));
  return figures.items;
}
