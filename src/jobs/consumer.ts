import { describeError, log } from "../lib/log";
import { PlatformError, backoffMs } from "../lib/platform-error";
import { shopPrefix } from "../storage/keys";
import { pageTokenKey, shopTokenKey } from "../storage/tokens";
import { syncFinished } from "../storage/links";
import { spaces, tokenStore } from "../services";
import { syncShop } from "../shopify/sync";
import { checkShopWebhooks } from "../shopify/webhook-registration";
import { jobSubject, type Job } from "./messages";
import { writeJournal } from "../backup/journal";
import { facebookJob } from "../facebook/jobs";

export type Decision = { action: "ack" } | { action: "retry"; delaySeconds: number };

/** What to do with a failed job: wait out throttles, back off on faults, stop on dead tokens. */
function decide(err: unknown, attempts: number): Decision {
  if (err instanceof PlatformError) {
    if (err.kind === "auth" || err.kind === "rejected") return { action: "ack" };
    if (err.kind === "throttled") {
      return {
        action: "retry",
        delaySeconds: Math.max(1, Math.ceil((err.retryAfterMs ?? backoffMs(attempts, 2000)) / 1000)),
      };
    }
  }
  return { action: "retry", delaySeconds: Math.max(1, Math.ceil(backoffMs(attempts, 2000, 600_000) / 1000)) };
}

async function run(env: Env, job: Job): Promise<void> {
  switch (job.type) {
    case "shopify.sync":
      // The daily poll also puts back the subscriptions Shopify removed.
      if (job.reason === "poll") await checkShopWebhooks(env, job.shop);
      await syncShop(env, job.shop, { verifyFirst: job.reason === "poll" });
      // Webhooks came in while it ran: one more run picks up what they changed.
      if (await syncFinished(env.TOKENS_DB, job.shop)) {
        await env.JOBS.send({ type: "shopify.sync", shop: job.shop, reason: "webhook" } satisfies Job, {
          contentType: "json",
        });
      }
      return;
    case "journal.write":
      await writeJournal(spaces(env), job.entry);
      return;
    case "shopify.redact": {
      const store = spaces(env);
      const keys = await store.listKeys(shopPrefix(job.userUuid, job.shop));
      for (const key of keys) await store.delete(key);
      log.info(`Shop data redacted for ${job.shop}: ${keys.length} objects deleted`, { shop: job.shop });
      return;
    }
    default:
      await facebookJob(env, job);
  }
}

/** Marks a token as needing a new install or login, after the platform refused it for good. */
async function onDeadToken(env: Env, job: Job, err: PlatformError) {
  // Already marked: the token was not even used this time, so there is nothing new to say.
  if (/needs a new (install|login)/.test(err.message)) return;
  const tokens = await tokenStore(env);
  if (job.type === "shopify.sync") {
    await tokens.markNeedsReauth(shopTokenKey(job.shop));
    log.warn(`Token for ${job.shop} needs a new install`, { shop: job.shop });
  } else if (job.type === "facebook.poll" || job.type === "facebook.page_metadata") {
    await tokens.markNeedsReauth(pageTokenKey(job.pageId));
    log.warn(`Token for page ${job.pageId} needs a new login`, { page_id: job.pageId });
  }
}

/** The `jobs` queue: each message acked, or retried with a delay, on its own. */
export async function consumeJobs(batch: MessageBatch<Job>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const job = message.body;
    try {
      await run(env, job);
      if (job.type === "shopify.sync" && job.reason === "poll")
        log.info(`Polled shop ${job.shop}: Success`, { shop: job.shop });
      message.ack();
    } catch (err) {
      const decision = decide(err, message.attempts);
      const reason = describeError(err);
      if (job.type === "shopify.sync" && job.reason === "poll") {
        log.warn(`Polled shop ${job.shop}: Failed (${reason})`, { shop: job.shop, attempt: message.attempts });
      } else {
        log.warn(`Job ${job.type} for ${jobSubject(job)} failed (attempt ${message.attempts}): ${reason}`, {
          type: job.type,
          action: decision.action,
        });
      }
      if (err instanceof PlatformError && err.kind === "auth") await onDeadToken(env, job, err);
      if (decision.action === "ack") message.ack();
      else message.retry({ delaySeconds: decision.delaySeconds });
    }
  }
}

/** The dead-letter queue: what kept failing is logged for the operator, then dropped. */
export async function consumeDeadJobs(batch: MessageBatch<Job>): Promise<void> {
  for (const message of batch.messages) {
    log.error(`Job gave up after retries: ${message.body.type} for ${jobSubject(message.body)}`, {
      type: message.body.type,
    });
    message.ack();
  }
}
