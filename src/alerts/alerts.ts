import { config } from "../config";
import { enterFailingState, enterWorkingState, forgetState, recordAlert, recordAlertDelivery } from "../db/alerts";
import { recordTokenState } from "../db/page-status";
import { describeError, log } from "../lib/log";
import type { Job } from "../jobs/queue-jobs";
import type { AlertBody, AlertEvent } from "./body";
import { MONITOR_TIMEOUT_MS } from "./heartbeat";

export type { AlertBody, AlertEvent };

/**
 * Alerts to `ALERTS_WEBHOOK_URL`: `POST` JSON `{"event", "at", "shop"|"page_id", "state", "detail"}`
 * when a shop or page stops working (its token refused, its subscription gone and not repairable),
 * when it works again, when a backup or its restore test fails (and works again), and when a job is
 * given up. One alert per change of state (kept in D1), however many calls fail in between. The
 * detail is a fixed wording or a backup's check result: never a token, a secret or customer text.
 * Unset: the change is still recorded for the console, and nothing is sent.
 */

type Subject = { shop: string } | { page_id: string } | Record<string, never>;

/** Whose state it is: a shop's, a page's, or (`""`) the one backup state; a dead job by its id. */
const subjectKey = (event: AlertEvent, subject: Subject, id = "") =>
  `${event}:${"shop" in subject ? subject.shop : "page_id" in subject ? subject.page_id : id}`;

const DETAIL_MAX = 300;

/** Records the alert and sends it; a failed delivery is queued and retried (`alert.deliver`). */
async function announce(env: Env, body: AlertBody): Promise<void> {
  let url: string | undefined;
  let delivery = "not sent (ALERTS_WEBHOOK_URL is not set)";
  try {
    url = config(env, "alerts").ALERTS_WEBHOOK_URL;
  } catch (err) {
    delivery = `not sent (${describeError(err)})`;
  }
  if (url) delivery = await deliver(url, body);
  log.warn(`Alert ${body.event} ${body.state}: ${body.detail}`, {
    event: body.event,
    state: body.state,
    ...(body.shop ? { shop: body.shop } : {}),
    ...(body.page_id ? { page_id: body.page_id } : {}),
    delivery,
  });
  const id = await recordAlert(env.TOKENS_DB, {
    at: Date.parse(body.at),
    event: body.event,
    shop: body.shop ?? null,
    pageId: body.page_id ?? null,
    state: body.state,
    detail: body.detail,
    delivery: url && !delivery.startsWith("delivered") ? `queued after ${delivery}` : delivery,
  });
  if (url && !delivery.startsWith("delivered"))
    await env.JOBS.send({ type: "alert.deliver", id, body } satisfies Job, { contentType: "json" });
}

/** One POST of an alert; what happened, in words for the console. */
async function deliver(url: string, body: AlertBody): Promise<string> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(MONITOR_TIMEOUT_MS),
    });
    await res.body?.cancel();
    return res.ok ? `delivered (HTTP ${res.status})` : `failed (HTTP ${res.status})`;
  } catch (err) {
    return `failed (${err instanceof Error ? err.name : "error"})`;
  }
}

/** The queued retry of an alert whose first delivery failed: throws so the queue retries it. */
export async function redeliverAlert(env: Env, id: number, body: AlertBody): Promise<void> {
  const url = config(env, "alerts").ALERTS_WEBHOOK_URL;
  if (!url) return;
  const delivery = await deliver(url, body);
  if (!delivery.startsWith("delivered")) throw new Error(`alert delivery ${delivery}`);
  await recordAlertDelivery(env.TOKENS_DB, id, delivery);
}

/**
 * Records a subject's state: an alert when it went into `state` from another one. `failing`
 * states alert the first time too; a working state alerts only as a recovery from a failing one.
 */
async function stateOf(
  env: Env,
  event: AlertEvent,
  subject: Subject,
  state: string,
  failing: boolean,
  detail: string,
  id?: string,
): Promise<boolean> {
  try {
    const key = subjectKey(event, subject, id);
    const changed = failing
      ? await enterFailingState(env.TOKENS_DB, key, state)
      : await enterWorkingState(env.TOKENS_DB, key, state);
    if (changed)
      await announce(env, {
        event,
        at: new Date().toISOString(),
        ...subject,
        state,
        detail: detail.slice(0, DETAIL_MAX),
      });
    return changed;
  } catch (err) {
    // Monitoring never breaks the work it watches.
    log.error(`Alert state of ${event} not recorded: ${describeError(err)}`, { event });
    return false;
  }
}

/**
 * Records a page token's state for the console (facebook_page_status) and alerts on a change: the
 * one call for every place that learns whether Meta took the page's token.
 */
export async function recordPageToken(env: Env, pageId: string, state: "active" | "dead", error: string | null = null) {
  await recordTokenState(env.TOKENS_DB, pageId, state, error);
  await (state === "dead" ? pageTokenRefused(env, pageId) : pageTokenWorks(env, pageId));
}

export const pageTokenRefused = (env: Env, pageId: string) =>
  stateOf(
    env,
    "page_token",
    { page_id: pageId },
    "refused",
    true,
    "Meta refused the page token: the page needs a new Facebook login",
  );
export const pageTokenWorks = (env: Env, pageId: string) =>
  stateOf(env, "page_token", { page_id: pageId }, "working", false, "the page token works again");
export const shopTokenRefused = (env: Env, shop: string) =>
  stateOf(
    env,
    "shop_token",
    { shop },
    "refused",
    true,
    "Shopify refused the shop's token: the shop needs a new install",
  );
export const shopTokenWorks = (env: Env, shop: string) =>
  stateOf(env, "shop_token", { shop }, "working", false, "the shop's token works again");
export const pageSubscriptionGone = (env: Env, pageId: string) =>
  stateOf(
    env,
    "page_subscription",
    { page_id: pageId },
    "gone",
    true,
    "the page's webhook subscription is gone and could not be made again",
  );
export const pageSubscriptionWorks = (env: Env, pageId: string) =>
  stateOf(
    env,
    "page_subscription",
    { page_id: pageId },
    "working",
    false,
    "the page's webhook subscription is in place again",
  );
export const shopSubscriptionGone = (env: Env, shop: string, topics: string[]) =>
  stateOf(
    env,
    "shop_subscription",
    { shop },
    "gone",
    true,
    `webhook subscriptions gone and not repairable: ${topics.join(", ")}`,
  );
export const shopSubscriptionWorks = (env: Env, shop: string) =>
  stateOf(env, "shop_subscription", { shop }, "working", false, "the shop's webhook subscriptions are in place again");

export const backupFailed = (env: Env, err: unknown) =>
  stateOf(env, "backup", {}, "failed", true, `the backup failed: ${describeError(err)}`);
export const backupWorked = (env: Env) => stateOf(env, "backup", {}, "working", false, "backups work again");
export const restoreTestFailed = (env: Env, detail: string) =>
  stateOf(env, "backup_restore_test", {}, "failed", true, `a backup failed its restore test: ${detail}`);
export const restoreTestPassed = (env: Env, detail: string) =>
  stateOf(env, "backup_restore_test", {}, "passed", false, `restore tests pass again: ${detail}`);

/** A job was given up (kept as a dead job): one alert per dead job, until it is done. */
export const jobGivenUp = (env: Env, deadJobId: string, type: string, subject: string) =>
  stateOf(
    env,
    "job",
    {},
    "given_up",
    true,
    `job ${type} for ${subject} failed every retry (dead job ${deadJobId})`,
    deadJobId,
  );

/** A dead job was done at last: if it dies again, that alerts again. */
export const jobDone = (env: Env, deadJobId: string) =>
  forgetState(env.TOKENS_DB, subjectKey("job", {}, deadJobId)).catch((err) =>
    log.warn(`Alert state of dead job ${deadJobId} not cleared: ${describeError(err)}`),
  );
