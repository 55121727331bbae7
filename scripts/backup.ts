import { z } from "zod";
/**
 * `npm run backup [-- --local | --remote [<url>]] [--persist-to DIR] [--verify-pending]`: `wrangler d1 export`
 * of both databases, each dump uploaded to Spaces under backups/d1/<database>/<UTC timestamp>.sql
 * with a signed manifest beside it and a copy kept under backups/ here; then the worker is asked to
 * restore-test them (`POST /admin/backup/restore-test`: its queue loads each into a scratch database,
 * compares, writes the signed `.verified.json` and calls BACKUP_HEARTBEAT_URL). When no worker
 * answers, the script restore-tests them itself in a scratch local database and writes the same
 * record (no heartbeat: that is the worker's). Then retention (7 daily + 4 weekly, the newest
 * restore-tested kept). `--verify-pending` asks for the restore test of every backup without a
 * record instead of making new ones.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DATABASES, type DatabaseName } from "../src/backup/dump.ts";
import { signedJson, stampOf, verificationKey, parseBackupKey, type Manifest } from "../src/backup/manifest.ts";
import { planRestore } from "../src/backup/pitr.ts";
import { applyRetention, backupOne, retentionPolicy } from "../src/backup/run.ts";
import { ROOT, readDevVars } from "../dev/local-stack.ts";
import { backupAccess, d1Export, human, localBackupsDir, step, type BackupAccess, type Target } from "./lib/ops.ts";
import { DEFAULT_PORT, runScript, scriptArgs } from "./lib/args.ts";
import { rehearse } from "./lib/scratch.ts";

/** Restores one backup (its dump alone) into a scratch local database; writes the signed record if it matches. */
async function verifyLocally(access: BackupAccess, database: DatabaseName, stamp: string) {
  const { spaces, auth, migrations } = access;
  const [plan] = await planRestore(spaces, auth, migrations, {
    from: stamp,
    databases: [database],
    journal: false,
  });
  const problems = await rehearse(database, plan!.state, plan!.facts);
  const key = verificationKey(database, stamp);
  await spaces.put(
    key,
    await signedJson(auth, key, {
      format: 2,
      database,
      dump_key: plan!.manifest.dump_key,
      sha256: plan!.manifest.sha256,
      verified_at: new Date().toISOString(),
      method:
        "restored by npm run backup into a scratch local D1 database (no worker answered); row counts and per-table SHA-256 compared",
      result: problems.length ? "failed" : "passed",
      problems,
      tables: plan!.facts.tables,
      hashes: plan!.facts.hashes,
    }),
  );
  if (problems.length) throw new Error(`backup ${plan!.manifest.dump_key} did not verify: ${problems.join("; ")}`);
  return key;
}

/** The worker these backups belong to: `--remote <url>`, else the local one of `npm start`. */
function workerOf(target: Target) {
  const origin = target.url || `http://127.0.0.1:${process.env.PORT ?? DEFAULT_PORT}`;
  const token = process.env.ADMIN_TOKEN ?? (target.remote ? undefined : readDevVars().ADMIN_TOKEN);
  return { origin: origin.replace(/\/+$/, ""), token };
}

/**
 * Asks the worker to restore-test every backup without a record; the backups it queued, or null
 * when no worker answered (or it has no admin token to ask with).
 */
async function askWorkerToRestoreTest(target: Target): Promise<string[] | null> {
  const { origin, token } = workerOf(target);
  if (!token) return null;
  try {
    const res = await fetch(`${origin}/admin/backup/restore-test`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (res.status !== 202) {
      console.log(`  the worker at ${origin} answered ${res.status}`);
      return null;
    }
    const body = z.object({ queued: z.array(z.unknown()).optional() }).safeParse(await res.json());
    return body.success ? (body.data.queued ?? []).map(String) : [];
  } catch {
    return null;
  }
}

/** The restore test of new backups: by the worker when it answers, else here. */
async function restoreTest(
  access: BackupAccess,
  target: Target,
  backups: { database: DatabaseName; stamp: string }[],
): Promise<"worker" | "here"> {
  const queued = await step("ask the worker to restore-test them (its queue, a scratch database each)", () =>
    askWorkerToRestoreTest(target),
  );
  if (queued) {
    console.log(
      `  queued by the worker: ${queued.join(", ") || "nothing (already tested)"}; records appear within minutes`,
    );
    return "worker";
  }
  console.log(`  no worker answered at ${workerOf(target).origin}: restore-testing here instead (no heartbeat)`);
  await step("restore each into a scratch local database, compare rows and hashes", () =>
    Promise.all(backups.map((b) => verifyLocally(access, b.database, b.stamp))),
  );
  return "here";
}

export async function backup(target: Target, opts: { retention?: number } = {}): Promise<Manifest[]> {
  const where = target.remote ? "remote" : `local${target.persistTo ? ` (${target.persistTo})` : ""}`;
  console.log(`Backup of tokens and sessions (${where})`);
  const access = await backupAccess(target);
  const { spaces, bucket, close, auth } = access;
  const outDir = localBackupsDir();
  const manifests: Manifest[] = [];
  let testedBy: "worker" | "here" = "here";
  try {
    for (const database of Object.keys(DATABASES) as DatabaseName[]) {
      const exportedAt = Date.now();
      const file = join(outDir, `${database}-${new Date(exportedAt).toISOString().replace(/[:.]/g, "-")}.sql`);
      await step(`wrangler d1 export ${DATABASES[database].binding} → ${file.replace(`${ROOT}/`, "")}`, () =>
        d1Export(DATABASES[database].binding, file, target),
      );
      const manifest = await step(`upload ${database} dump and signed manifest to Spaces`, async () => {
        const text = readFileSync(file);
        async function* chunks() {
          for (let i = 0; i < text.length; i += 1 << 20) yield new Uint8Array(text.subarray(i, i + (1 << 20)));
        }
        return backupOne(
          spaces,
          auth,
          database,
          chunks(),
          `wrangler d1 export ${target.remote ? "--remote" : "--local"}`,
          exportedAt,
        );
      });
      const rows = Object.entries(manifest.tables)
        .filter(([t]) => t !== "sqlite_sequence")
        .map(([t, n]) => `${t} ${n}`)
        .join(", ");
      console.log(
        `  ${database}: ${human(manifest.bytes)}, sha256 ${manifest.sha256.slice(0, 12)}…, migration ${manifest.migration}; rows: ${rows}`,
      );
      console.log(`  → s3://${bucket}/${manifest.dump_key}`);
      manifests.push(manifest);
    }
    testedBy = await restoreTest(
      access,
      target,
      manifests.map((m) => ({ database: m.database, stamp: stampOf(m.exported_at) })),
    );
    const policy = retentionPolicy(opts.retention ?? Number(process.env.BACKUP_RETENTION ?? 7));
    const { deleted } = await step(
      `retention: ${policy.daily} daily + ${policy.weekly} weekly of each database, the newest restore-tested kept`,
      () => applyRetention(spaces, auth, policy),
    );
    if (deleted.length) console.log(`  deleted ${deleted.length} old objects`);
  } finally {
    await close();
  }
  console.log(
    `Backup complete: ${manifests.map((m) => m.dump_key).join(", ")} (${testedBy === "worker" ? "restore test queued in the worker" : "restore-tested here"}; copies in backups/)`,
  );
  return manifests;
}

/** Restore-tests every backup in Spaces that has no record yet: by the worker, else here. */
export async function verifyPending(target: Target): Promise<number> {
  const access = await backupAccess(target);
  const { spaces, close } = access;
  try {
    const keys = await spaces.listKeys("backups/d1/");
    const recorded = new Set(
      keys.filter((k) => k.endsWith(".verified.json")).map((k) => k.replace(".verified.json", "")),
    );
    const pending = keys
      .filter((k) => k.endsWith(".manifest.json") && !recorded.has(k.replace(".manifest.json", "")))
      .sort()
      .map((k) => parseBackupKey(k)!);
    await restoreTest(access, target, pending);
    console.log(`Restore tests asked for ${pending.length} backups`);
    return pending.length;
  } finally {
    await close();
  }
}

const USAGE = "usage: npm run backup [-- --local | --remote [<url>]] [--persist-to <dir>] [--verify-pending]";

if (import.meta.url === `file://${process.argv[1]}`) {
  runScript(async () => {
    const { values, where } = scriptArgs(USAGE, {
      "persist-to": { type: "string" },
      "verify-pending": { type: "boolean" },
    });
    const url = where.remote ? where.url : undefined;
    const target: Target = { remote: where.remote, url, persistTo: values["persist-to"] };
    return values["verify-pending"] ? verifyPending(target) : backup(target);
  }, "Backup failed");
}
