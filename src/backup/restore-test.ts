import { restoreTestFailed, restoreTestPassed } from "../alerts/alerts";
import { callHeartbeat } from "../alerts/heartbeat";
import { log } from "../lib/log";
import { spaces } from "../services";
import type { Job } from "../jobs/queue-jobs";
import { backupAuth } from "./auth";
import {
  parseBackupKey,
  passedVerification,
  readVerification,
  signedJson,
  verificationKey,
  type BackupRef,
} from "./manifest";

export type { BackupRef };
import type { ScratchOutcome } from "./scratch";

/**
 * Every backup, whoever made it (the cron, `POST /admin/backup`, `npm run backup`), is
 * restore-tested by the worker: a queue job loads each dump into a scratch database of its own
 * (./scratch.ts), compares it, and writes the signed record beside the manifest. Only when every
 * backup of the job passed is BACKUP_HEARTBEAT_URL called.
 */

const METHOD =
  "loaded into a scratch Durable Object SQLite database by the worker; row counts compared with the manifest and per-table SHA-256 with the dump";

/** Queues the restore test of these backups (a backup run is not held up by it). */
export async function queueRestoreTest(env: Env, backups: BackupRef[]): Promise<void> {
  if (!backups.length) return;
  await env.JOBS.send({ type: "backup.restore_test", backups } satisfies Job, { contentType: "json" });
}

/**
 * Queues one restore test of every backup that has no record yet (a backup made by a script, or
 * one whose job was lost); returns them. The newest first, at most `limit`.
 */
export async function queuePendingRestoreTests(env: Env, limit = 20): Promise<BackupRef[]> {
  const keys = await spaces(env).listKeys("backups/d1/");
  const recorded = new Set(
    keys.flatMap((k) => {
      const p = parseBackupKey(k);
      return p?.kind === "verified.json" ? [`${p.database}/${p.stamp}`] : [];
    }),
  );
  const pending = keys
    .map(parseBackupKey)
    .flatMap((p) =>
      p?.kind === "manifest.json" && p.shelf === "d1" && !recorded.has(`${p.database}/${p.stamp}`)
        ? [{ database: p.database, stamp: p.stamp }]
        : [],
    )
    .sort((a, b) => (a.stamp < b.stamp ? 1 : -1))
    .slice(0, limit);
  await queueRestoreTest(env, pending);
  return pending;
}

/** Restore-tests one backup in its own scratch database; transient faults (Spaces down) throw. */
function testOne(env: Env, backup: BackupRef): Promise<ScratchOutcome> {
  const id = env.BACKUP_SCRATCH.idFromName(`${backup.database}/${backup.stamp}`);
  return env.BACKUP_SCRATCH.get(id).restoreTest(backup.database, backup.stamp);
}

/**
 * The `backup.restore_test` job. A backup that already has a signed record is not tested again (a
 * retried job). A failed test is a result, not a fault: its record says what differed, an alert
 * goes out, and the job ends.
 */
export async function runRestoreTest(env: Env, backups: BackupRef[]): Promise<ScratchOutcome[]> {
  const store = spaces(env);
  const auth = await backupAuth(env);
  const outcomes: ScratchOutcome[] = [];
  let allPassed = true;
  for (const backup of backups) {
    const key = verificationKey(backup.database, backup.stamp);
    const existing = await readVerification(key, await store.getText(key), auth);
    if (existing) {
      allPassed &&= existing.result === "passed";
      continue;
    }
    const outcome = await testOne(env, backup);
    outcomes.push(outcome);
    await store.put(
      key,
      await signedJson(auth, key, {
        format: 2,
        database: backup.database,
        dump_key: outcome.dumpKey,
        ...(outcome.sha256 ? { sha256: outcome.sha256 } : {}),
        verified_at: new Date().toISOString(),
        method: METHOD,
        result: outcome.passed ? "passed" : "failed",
        problems: outcome.problems,
        tables: outcome.facts?.tables ?? {},
        hashes: outcome.facts?.hashes ?? {},
      }),
    );
    if (outcome.passed) {
      log.info(`Backup ${outcome.dumpKey} restore-tested: passed`, { database: backup.database });
    } else {
      allPassed = false;
      log.error(`Backup ${outcome.dumpKey || key} restore test failed: ${outcome.problems.join("; ")}`, {
        database: backup.database,
      });
      await restoreTestFailed(env, `${backup.database} backup ${backup.stamp}: ${outcome.problems[0] ?? "failed"}`);
    }
  }
  if (allPassed && outcomes.length) {
    await restoreTestPassed(env, `${outcomes.map((o) => o.dumpKey).join(", ")} restore-tested`);
    await callHeartbeat(env, outcomes.map((o) => o.dumpKey).join(", "));
  }
  return outcomes;
}

/** Whether a backup's restore test passed, by its signed record (for callers outside this folder). */
export const restoreTestPassedFor = async (env: Env, backup: BackupRef) =>
  (await passedVerification(spaces(env), await backupAuth(env), backup.database, backup.stamp)) !== null;
