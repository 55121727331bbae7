import { describeError, log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { backoffMs } from "../lib/retry";
import { shopPrefix } from "../spaces/keys";
import { pageTokenKey, shopTokenKey } from "../db/tokens";
import { spaces, tokenStore } from "../services";
import { reconcileShop, refreshMetadataOf, syncShop } from "../shopify/sync";
import { catalogueStub } from "../catalogue/durable-object";
import { checkShopWebhooks } from "../shopify/webhook-registration";
import { jobSubject, parseJob, type Job } from "./queue-jobs";
import { writeJournal } from "../backup/journal";
import { backupAuth } from "../backup/auth";
import { facebookJob } from "../facebook/poll";
import { jobDone, jobGivenUp, redeliverAlert, shopTokenRefused } from "../alerts/alerts";
import { runRestoreTest } from "../backup/restore-test";
import {
  deadJobBody,
  deadJobDone,
  deadJobFailedAgain,
  dueDeadJobs,
  recordDeadJob,
  type DeadJob,
} from "../db/dead-jobs";

/** Deliveries of a message before the queue gives up: 1 + `max_retries` of wrangler.toml. */
const MAX_ATTEMPTS = 9;

export type Decision = { action: "ack" } | { action: "retry"; delaySeconds: number };

/** When a message is delivered again after D1 failed to store it as a dead job. */
const DEAD_STORE_RETRY_S = 60;

/** The longest delay Queues accepts on a retry (12 hours): a platform's Retry-After may ask for more. */
const MAX_RETRY_DELAY_S = 43_200;

const retryIn = (ms: number): Decision => ({
  action: "retry",
  delaySeconds: Math.min(MAX_RETRY_DELAY_S, Math.max(1, Math.ceil(ms / 1000))),
});

/** What to do with a failed job: wait out throttles, back off on faults, stop on dead tokens. */
function decide(err: unknown, attempts: number): Decision {
  if (err instanceof PlatformError) {
    if (err.kind === "auth" || err.kind === "rejected") return { action: "ack" };
    if (err.kind === "throttled") return retryIn(err.retryAfterMs ?? backoffMs(attempts, 2000));
  }
  return retryIn(backoffMs(attempts, 2000, 600_000));
}

export async function run(env: Env, job: Job): Promise<void> {
  switch (job.type) {
    case "shopify.sync":
      // The daily poll also puts back the subscriptions Shopify removed, and compares the catalogue
      // instead of reading it whole.
      if (job.reason === "poll") {
        await checkShopWebhooks(env, job.shop);
        await reconcileShop(env, job.shop);
      } else await syncShop(env, job.shop);
      return;
    case "shopify.metadata":
      await refreshMetadataOf(env, job.shop);
      return;
    case "journal.write":
      await writeJournal(spaces(env), await backupAuth(env), job.entry);
      return;
    case "backup.restore_test":
      await runRestoreTest(env, job.backups);
      return;
    case "alert.deliver":
      await redeliverAlert(env, job.id, job.body);
      return;
    case "shopify.redact": {
      const store = spaces(env);
      const keys = await store.listKeys(shopPrefix(job.userUuid, job.shop));
      for (const key of keys) await store.delete(key);
      await catalogueStub(env, job.shop).forget();
      log.info(`Shop data redacted for ${job.shop}: ${keys.length} objects deleted`, { shop: job.shop });
      return;
    }
    default:
      await facebookJob(env, job);
  }
}

/** Marks a token as needing a new install or login, after the platform refused it for good. */
async function markDeadToken(env: Env, job: Job) {
  const tokens = await tokenStore(env);
  if (job.type === "shopify.sync" || job.type === "shopify.metadata") {
    await tokens.markNeedsReauth(shopTokenKey(job.shop));
    log.warn(`Token for ${job.shop} needs a new install`, { shop: job.shop });
    await shopTokenRefused(env, job.shop);
  } else if (job.type === "facebook.poll" || job.type === "facebook.page_metadata") {
    await tokens.markNeedsReauth(pageTokenKey(job.pageId));
    log.warn(`Token for page ${job.pageId} needs a new login`, { page_id: job.pageId });
  }
}

/** The `jobs` queue: each message acked, or retried with a delay, on its own. */
export async function consumeJobs(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const parsed = parseJob(message.body);
    if ("problem" in parsed) {
      // Retrying cannot make it readable: kept as a dead job for the operator, never run.
      if (await keepDead(env, message.body, parsed.problem, message.attempts)) message.ack();
      else message.retry({ delaySeconds: DEAD_STORE_RETRY_S });
      continue;
    }
    const job = parsed.job;
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
      // Already marked (`token_already_marked`): the token was not even used, nothing new to say.
      if (err instanceof PlatformError && err.reason === "token_needs_reauth") await markDeadToken(env, job);
      if (decision.action === "ack") message.ack();
      else if (message.attempts >= MAX_ATTEMPTS && (await keepDead(env, message.body, reason, message.attempts)))
        message.ack();
      else message.retry({ delaySeconds: decision.delaySeconds });
    }
  }
}

/** What a dead job is listed as: its type and subject, or what can be said of a body that is not a job. */
function deadJobLabel(body: unknown): { type: string; subject: string } {
  const parsed = parseJob(body);
  if ("job" in parsed) return { type: parsed.job.type, subject: jobSubject(parsed.job) };
  const type = typeof body === "object" && body !== null && "type" in body ? body.type : undefined;
  return { type: typeof type === "string" ? type.slice(0, 100) : "unknown", subject: "an unreadable job" };
}

/**
 * Stores a message that failed its last delivery (or is not a job) as a dead job, its body as it
 * came, so its id is the same however often it arrives; false when D1 failed too.
 */
async function keepDead(env: Env, body: unknown, error: string, attempts: number): Promise<boolean> {
  const { type, subject } = deadJobLabel(body);
  try {
    const id = await recordDeadJob(env.TOKENS_DB, { type, subject, body, error, attempts });
    log.error(`Job gave up after retries, kept as a dead job: ${type} for ${subject}`, { type, attempts });
    // An alert that could not be delivered is in the console already: no alert about the alert.
    if (type !== "alert.deliver") await jobGivenUp(env, id, type, subject);
    return true;
  } catch (err) {
    log.error(`Dead job could not be stored: ${describeError(err)}`, { type });
    return false;
  }
}

/** The dead-letter queue's first retry while D1 fails, in seconds; each next one waits twice as long. */
const DEAD_LETTER_FIRST_RETRY_S = 60;
/** Its longest wait between retries: with `max_retries` of jobs-dead (wrangler.toml) they span days. */
const DEAD_LETTER_MAX_RETRY_S = 3600;

/** How long the dead-letter queue waits before delivery `attempts + 1` of a message it could not store. */
export function deadLetterRetryDelayS(attempts: number): number {
  return Math.min(DEAD_LETTER_MAX_RETRY_S, DEAD_LETTER_FIRST_RETRY_S * 2 ** Math.max(0, attempts - 1));
}

/**
 * The dead-letter queue (what reached it without being stored, e.g. while D1 failed): stored as
 * dead jobs, never dropped; a message is acknowledged only once it is stored, and retried with its
 * own backoff (and its own `max_retries`) while D1 is down.
 */
export async function consumeDeadJobs(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const stored = await keepDead(env, message.body, "failed every retry of the jobs queue", message.attempts);
    if (stored) message.ack();
    else message.retry({ delaySeconds: deadLetterRetryDelayS(message.attempts) });
  }
}

export type RetryResult = { id: string; type: string; subject: string } & (
  { status: "done" } | { status: "failed"; error: string; givenUp: boolean }
);

async function retryOne(env: Env, job: DeadJob, body: unknown): Promise<RetryResult> {
  const about = { id: job.id, type: job.type, subject: job.subject };
  try {
    const parsed = parseJob(body);
    if ("problem" in parsed) throw new Error(parsed.problem);
    await run(env, parsed.job);
    await deadJobDone(env.TOKENS_DB, job.id);
    await jobDone(env, job.id);
    log.info(`Dead job retried: ${job.type} for ${job.subject}: done`, { type: job.type, id: job.id });
    return { ...about, status: "done" };
  } catch (err) {
    const error = describeError(err);
    const { givenUp, retries } = await deadJobFailedAgain(env.TOKENS_DB, job.id, job.type, error);
    log.warn(`Dead job retried: ${job.type} for ${job.subject}: failed again (${error})`, {
      type: job.type,
      id: job.id,
      retries,
      given_up: givenUp,
    });
    return { ...about, status: "failed", error, givenUp };
  }
}

/** The operator's retry of one dead job (the console's button); null when there is no such job. */
export async function retryDeadJob(env: Env, id: string): Promise<RetryResult | null> {
  const found = await deadJobBody(env.TOKENS_DB, id);
  return found ? retryOne(env, found.job, found.body) : null;
}

/** The daily cron's retry of every dead job that is due, oldest due first. */
export async function retryDueDeadJobs(env: Env, now = Date.now()): Promise<RetryResult[]> {
  const results: RetryResult[] = [];
  for (const { job, body } of await dueDeadJobs(env.TOKENS_DB, now)) results.push(await retryOne(env, job, body));
  if (results.length)
    log.info(`Dead jobs retried: ${results.filter((r) => r.status === "done").length} of ${results.length} done`, {
      retried: results.length,
    });
  return results;
}
