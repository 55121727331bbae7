import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { backupAuth } from "../../src/backup/auth";
import { JOURNAL_PREFIX, parseJournal } from "../../src/backup/journal";
import worker from "../../src/index";
import { deadLetterRetryDelayS, retryDeadJob, retryDueDeadJobs } from "../../src/jobs/consumer";
import type { Job } from "../../src/jobs/queue-jobs";
import { isCriticalJob, listDeadJobs, nextRetryDelayMs, recordDeadJob } from "../../src/db/dead-jobs";
import { shopPrefix } from "../../src/spaces/keys";
import wranglerToml from "../../wrangler.toml?raw";
import { control, installShop, logsOfEachTest, spaces, uniqueShop } from "../helpers";

const logs = logsOfEachTest();

/** Delivers one message to the worker's queue handler, as the Queues runtime does. */
async function deliver(queue: "jobs" | "jobs-dead", body: Job | Record<string, unknown>, attempts: number) {
  const batch = createMessageBatch<unknown>(queue, [{ id: `m-${attempts}`, timestamp: new Date(), attempts, body }]);
  for (const message of batch.messages) {
    const original = message.retry.bind(message);
    message.retry = (opts) => original(opts);
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

const HOUR = 3_600_000;

describe("dead jobs", () => {
  it("a shop/redact that failed every retry during a Spaces outage is done after Spaces returns", async () => {
    const shop = uniqueShop("redact");
    const { body } = await installShop(shop);
    const prefix = shopPrefix(body.user_uuid, shop);
    await vi.waitFor(async () => expect(await spaces().listKeys(prefix)).toHaveLength(2), { timeout: 15_000 });
    const job: Job = { type: "shopify.redact", shop, userUuid: body.user_uuid };

    await control("spaces", "mode", { mode: "down" });
    for (let attempt = 1; attempt <= 8; attempt++) {
      const result = await deliver("jobs", job, attempt);
      expect(result.retryMessages).toHaveLength(1);
    }
    // The ninth delivery is the last the queue makes: the job is stored, not dropped.
    const last = await deliver("jobs", job, 9);
    expect(last.explicitAcks).toEqual(["m-9"]);
    expect(logs.has(`Job gave up after retries, kept as a dead job: shopify.redact for ${shop}`)).toBe(true);
    let dead = (await listDeadJobs(env.TOKENS_DB)).filter((d) => d.subject === shop);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ type: "shopify.redact", attempts: 9, critical: true, alert: false, retries: 0 });
    expect(dead[0]!.error).toMatch(/Spaces is down|503|ServiceUnavailable/);

    // The cron's retry while Spaces is still down fails again and backs off.
    const whileDown = (await retryDueDeadJobs(env)).find((r) => r.subject === shop)!;
    expect(whileDown.status).toBe("failed");
    dead = (await listDeadJobs(env.TOKENS_DB)).filter((d) => d.subject === shop);
    expect(dead[0]).toMatchObject({ retries: 1, attempts: 10, givenUp: false });
    expect(dead[0]!.nextRetryAt - dead[0]!.lastFailedAt).toBe(2 * HOUR);
    expect((await retryDueDeadJobs(env)).find((r) => r.subject === shop)).toBeUndefined(); // not due yet
    // A day later it is flagged for the operator.
    expect((await listDeadJobs(env.TOKENS_DB, Date.now() + 25 * HOUR)).find((d) => d.subject === shop)?.alert).toBe(
      true,
    );

    await control("spaces", "mode", { mode: "up" });
    expect(await spaces().listKeys(prefix)).toHaveLength(2); // nothing was deleted yet
    const afterwards = (await retryDueDeadJobs(env, Date.now() + 3 * HOUR)).find((r) => r.subject === shop)!;
    expect(afterwards.status).toBe("done");
    expect(await spaces().listKeys(prefix)).toEqual([]);
    expect((await listDeadJobs(env.TOKENS_DB)).filter((d) => d.subject === shop)).toEqual([]);
    expect(logs.has(`Shop data redacted for ${shop}: 2 objects deleted`)).toBe(true);
  });

  it("the dead-letter queue stores what reaches it; the daily cron and the retry button finish it", async () => {
    const entry = { format: 2 as const, at: Date.now(), changes: [] };
    const result = await deliver("jobs-dead", { type: "journal.write", entry }, 9);
    expect(result.explicitAcks).toEqual(["m-9"]);
    const dead = (await listDeadJobs(env.TOKENS_DB)).find((d) => d.type === "journal.write")!;
    expect(dead).toMatchObject({ subject: "the token journal", critical: true });
    const before = new Set(await spaces().listKeys(JOURNAL_PREFIX));
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "0 4 * * *", scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect((await listDeadJobs(env.TOKENS_DB)).find((d) => d.id === dead.id)).toBeUndefined();
    const written = (await spaces().listKeys(JOURNAL_PREFIX)).filter((k) => !before.has(k));
    const entries = await Promise.all(
      written.map(async (k) => parseJournal(k, (await spaces().getText(k))!, await backupAuth(env))),
    );
    expect(entries.map((e) => e.at)).toContain(entry.at);

    // The button: one job, by id.
    const shop = uniqueShop("retry");
    const { body } = await installShop(shop);
    await control("spaces", "mode", { mode: "down" });
    await deliver("jobs", { type: "shopify.redact", shop, userUuid: body.user_uuid }, 9);
    const id = (await listDeadJobs(env.TOKENS_DB)).find((d) => d.subject === shop)!.id;
    expect((await retryDeadJob(env, id))?.status).toBe("failed");
    await control("spaces", "mode", { mode: "up" });
    expect(await retryDeadJob(env, id)).toMatchObject({ status: "done", type: "shopify.redact", subject: shop });
    expect(await retryDeadJob(env, id)).toBeNull();
  });

  it("while D1 is down the dead-letter queue retries on its own, for days; once D1 is back the job is stored", async () => {
    const job: Job = { type: "shopify.redact", shop: uniqueShop("outage"), userUuid: crypto.randomUUID() };
    const d1Down = new Proxy(env.TOKENS_DB, {
      get: (target, name) =>
        name === "prepare" || name === "batch" || name === "exec"
          ? () => {
              throw new Error("D1_ERROR: Network connection lost.");
            }
          : Reflect.get(target, name),
    });
    const duringOutage = { ...env, TOKENS_DB: d1Down } as Env;
    const delays: number[] = [];
    for (let attempts = 1; attempts <= 4; attempts++) {
      const batch = createMessageBatch<Job>("jobs-dead", [
        { id: `d-${attempts}`, timestamp: new Date(), attempts, body: job },
      ]);
      for (const message of batch.messages) {
        const original = message.retry.bind(message);
        message.retry = (opts) => {
          delays.push(opts?.delaySeconds ?? 0);
          original(opts);
        };
      }
      const ctx = createExecutionContext();
      await worker.queue(batch, duringOutage, ctx);
      const result = await getQueueResult(batch, ctx);
      expect(result.explicitAcks).toEqual([]);
      expect(result.retryMessages).toHaveLength(1);
    }
    expect(delays).toEqual([1, 2, 3, 4].map(deadLetterRetryDelayS));
    expect(delays).toEqual([60, 120, 240, 480]);

    // The queue delivers 1 + max_retries times: the waits between them outlast a day of outage.
    const dead = wranglerToml.slice(wranglerToml.indexOf('queue = "jobs-dead"\nmax_batch_size'));
    const retries = Number(/max_retries = (\d+)/.exec(dead.split("[[")[0]!)?.[1] ?? 3); // Queues' default: 3
    let waited = 0;
    for (let attempts = 1; attempts <= retries; attempts++) waited += deadLetterRetryDelayS(attempts);
    expect(waited).toBeGreaterThan((24 * HOUR) / 1000);

    // D1 back: the next delivery stores it and is acknowledged.
    const back = await deliver("jobs-dead", job, 5);
    expect(back.explicitAcks).toEqual(["m-5"]);
    expect((await listDeadJobs(env.TOKENS_DB)).filter((d) => d.subject === job.shop)).toHaveLength(1);
  });

  it("a message that is not a job this version runs is kept as a dead job, never run, and its retry says why", async () => {
    const shop = uniqueShop("unreadable");
    const { body } = await installShop(shop);
    const prefix = shopPrefix(body.user_uuid, shop);
    await vi.waitFor(async () => expect(await spaces().listKeys(prefix)).toHaveLength(2), { timeout: 15_000 });
    // A redact from another version: the user UUID under another name. Run as it is, it would
    // delete under `users/undefined/...`; parsed, it is refused on its first delivery.
    const foreign = { type: "shopify.redact", shop, user: body.user_uuid };
    const result = await deliver("jobs", foreign, 1);
    expect(result.explicitAcks).toEqual(["m-1"]);
    expect(result.retryMessages).toEqual([]);
    const dead = (await listDeadJobs(env.TOKENS_DB)).find(
      (d) => d.error.includes("userUuid") && d.type === "shopify.redact",
    );
    expect(dead).toMatchObject({ subject: "an unreadable job", critical: true });
    expect(dead!.error).toMatch(/^not a job this worker runs \(userUuid: /);
    expect(await spaces().listKeys(prefix)).toHaveLength(2);

    // A dead job stored by an older version whose body this one no longer reads: the retry fails
    // with the reason and the job stays listed, its files untouched.
    const id = await recordDeadJob(env.TOKENS_DB, {
      type: "shopify.sync",
      subject: shop,
      body: { type: "shopify.sync", shop, reason: "backfill" },
      error: "old failure",
      attempts: 9,
    });
    const retried = await retryDeadJob(env, id);
    expect(retried).toMatchObject({ status: "failed", type: "shopify.sync" });
    expect(retried!.status === "failed" && retried!.error).toMatch(/not a job this worker runs \(reason: /);
    expect((await listDeadJobs(env.TOKENS_DB)).find((d) => d.id === id)).toMatchObject({ retries: 1 });
    expect(await spaces().listKeys(prefix)).toHaveLength(2);
  });

  it("the ninth delivery is the queue's last: 1 + max_retries of wrangler.toml", () => {
    const jobs = wranglerToml.slice(wranglerToml.indexOf('queue = "jobs"\nmax_batch_size'));
    expect(Number(/max_retries = (\d+)/.exec(jobs)![1]) + 1).toBe(9);
  });

  it("backs off 1 h, 2 h, 4 h ... 20 h; compliance, deletion and journal work is never given up", () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => nextRetryDelayMs("shopify.redact", n)! / HOUR)).toEqual([
      1, 2, 4, 8, 16, 20, 20,
    ]);
    expect(nextRetryDelayMs("journal.write", 100)).toBe(20 * HOUR);
    expect(nextRetryDelayMs("facebook.poll", 3)).toBe(8 * HOUR);
    expect(nextRetryDelayMs("facebook.poll", 4)).toBeNull();
    expect(["shopify.redact", "journal.write", "facebook.data_deletion"].every(isCriticalJob)).toBe(true);
    expect(isCriticalJob("shopify.sync")).toBe(false);
  });
});
