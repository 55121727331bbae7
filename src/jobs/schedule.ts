import { log } from "../lib/log";
import { runBackup } from "../backup/run";
import { forgetOldDeliveries } from "../shopify/webhooks";
import { fanOutFacebookPoll, fanOutShopifyPoll } from "./poll";
import { sessionStore } from "../services";

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
  "0 4 * * *": { name: "d1_backup", run: runBackup },
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
