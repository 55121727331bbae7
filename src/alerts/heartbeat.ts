import { config } from "../config";
import { recordHeartbeat } from "../db/alerts";
import { describeError, log } from "../lib/log";

/** How long a monitor gets to answer a heartbeat or an alert. */
export const MONITOR_TIMEOUT_MS = 5000;

/**
 * `GET BACKUP_HEARTBEAT_URL` after a backup the worker restore-tested and found good: a monitor
 * (healthchecks.io, say) alerts when these calls stop. Unset: nothing is sent. A failed call is
 * logged and recorded, never thrown: the backup is good whatever the monitor says.
 */
export async function callHeartbeat(env: Env, backup: string): Promise<void> {
  let url: string | undefined;
  try {
    url = config(env, "alerts").BACKUP_HEARTBEAT_URL;
  } catch (err) {
    log.error(`Backup heartbeat not sent: ${describeError(err)}`);
    return;
  }
  if (!url) return;
  let delivery: string;
  try {
    const res = await fetch(url, { method: "GET", signal: AbortSignal.timeout(MONITOR_TIMEOUT_MS) });
    await res.body?.cancel();
    delivery = res.ok ? `ok (HTTP ${res.status})` : `failed (HTTP ${res.status})`;
  } catch (err) {
    delivery = `failed (${err instanceof Error ? err.name : "error"})`;
  }
  // The URL is the monitor's secret: it is never logged.
  if (delivery.startsWith("ok")) log.info(`Backup heartbeat ${delivery}`, { backup });
  else log.warn(`Backup heartbeat ${delivery}`, { backup });
  await recordHeartbeat(env.TOKENS_DB, { at: Date.now(), backup, delivery });
}
