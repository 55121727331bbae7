import { describeError, log } from "../lib/log";
import { runBackup } from "../backup/run";
import { queuePendingRestoreTests } from "../backup/restore-test";
import { forgetOldDeliveries } from "../shopify/webhooks";
import { fanOutFacebookPoll, fanOutShopifyPoll } from "./poll";
import { sessionStore } from "../services";
import { retryDueDeadJobs } from "./consumer";

/** Cron expressions of wrangler.toml `[triggers]` and what each runs (UTC, daily). */
export const SCHEDULE: Record<string, { name: string; run: (env: Env) => Promise<unknown> }> = {
  "0 3 * * *": {
    name: "shopify_daily_poll",
    run: async (env) => {
      await forgetOldDeliveries(env.TOKENS_DB);
      await sessionStore(env).purgeExpired();
      return fanOutShopifyPoll(env);
    },
  },
  "30 3 * * *": { name: "facebook_daily_poll", run: fanOutFacebookPoll },
  // Dead jobs first: a journal write that lands now is in the backup that follows.
  "0 4 * * *": {
    name: "d1_backup",
    run: async (env) => {
      await retryDueDeadJobs(env).catch((err) => log.error(`Dead job retries stopped: ${describeError(err)}`));
      const manifests = await runBackup(env);
      // Backups a script made while no worker answered it get their restore test now.
      await queuePendingRestoreTests(env).catch((err) =>
        log.warn(`Pending restore tests not queued: ${describeError(err)}`),
      );
      return manifests;
    },
  },
};

export async function runScheduled(cron: string, env: Env): Promise<void> {
  const entry = SCHEDULE[cron];
  if (!entry) {
    log.warn(`No job for cron ${cron}`, { cron });
    return;
  }
  log.info(`Cron ${entry.name} started`, { cron });
  await entry.run(env);
}
