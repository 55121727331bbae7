/**
 * `npm run backup [-- --local | --remote [<url>]] [--persist-to DIR] [--verify-pending]`: `wrangler d1 export` of both
 * databases, each dump uploaded to Spaces under backups/d1/<database>/<UTC timestamp>.sql with a
 * signed manifest beside it and a copy kept under backups/ here; then each new backup is verified
 * (restored into a scratch local database, row counts and hashes compared, a signed
 * `.verified.json` written beside it), then retention (7 daily + 4 weekly, the newest verified kept).
 * `--verify-pending` verifies the backups the worker's cron made instead of making new ones.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DATABASES, type DatabaseName } from "../src/backup/dump.ts";
import { signedJson, stampOf, verificationKey, parseBackupKey, type Manifest } from "../src/backup/manifest.ts";
import { planRestore } from "../src/backup/pitr.ts";
import { applyRetention, backupOne, retentionPolicy } from "../src/backup/run.ts";
import { ROOT } from "../dev/local-stack.ts";
import { backupAccess, d1Export, human, localBackupsDir, step, type BackupAccess, type Target } from "./lib/ops.ts";
import { runScript, scriptArgs } from "./lib/args.ts";
import { rehearse } from "./lib/scratch.ts";

/** Restores one backup (its dump alone) into a scratch database; writes the signed sidecar if it matches. */
async function verifyBackup(access: BackupAccess, database: DatabaseName, stamp: string) {
  const { spaces, auth, migrations } = access;
  const [plan] = await planRestore(spaces, auth, migrations, {
    from: stamp,
    databases: [database],
    journal: false,
  });
  const problems = await rehearse(database, plan!.state, plan!.facts);
  if (problems.length) throw new Error(`backup ${plan!.manifest.dump_key} did not verify: ${problems.join("; ")}`);
  const key = verificationKey(database, stamp);
  await spaces.put(
    key,
    await signedJson(auth, key, {
      format: 2,
      database,
      dump_key: plan!.manifest.dump_key,
      verified_at: new Date().toISOString(),
      method: "restored into a scratch local D1 database; row counts and per-table SHA-256 compared",
      tables: plan!.facts.tables,
      hashes: plan!.facts.hashes,
    }),
  );
  return key;
}

export async function backup(target: Target, opts: { retention?: number } = {}): Promise<Manifest[]> {
  const where = target.remote ? "remote" : `local${target.persistTo ? ` (${target.persistTo})` : ""}`;
  console.log(`Backup of tokens and sessions (${where})`);
  const access = await backupAccess(target);
  const { spaces, bucket, close, auth } = access;
  const outDir = localBackupsDir();
  const manifests: Manifest[] = [];
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
    await step("verify both backups: restore each into a scratch local database, compare rows and hashes", () =>
      Promise.all(manifests.map((m) => verifyBackup(access, m.database, stampOf(m.exported_at)))),
    );
    const policy = retentionPolicy(opts.retention ?? Number(process.env.BACKUP_RETENTION ?? 7));
    const { deleted } = await step(
      `retention: ${policy.daily} daily + ${policy.weekly} weekly of each database, the newest verified kept`,
      () => applyRetention(spaces, policy),
    );
    if (deleted.length) console.log(`  deleted ${deleted.length} old objects`);
  } finally {
    await close();
  }
  console.log(`Backup complete: ${manifests.map((m) => m.dump_key).join(", ")} (verified; copies in backups/)`);
  return manifests;
}

/** Verifies every backup in Spaces that has no sidecar yet (those the worker's cron made). */
export async function verifyPending(target: Target): Promise<number> {
  const access = await backupAccess(target);
  const { spaces, close } = access;
  try {
    const keys = await spaces.listKeys("backups/d1/");
    const verified = new Set(
      keys.filter((k) => k.endsWith(".verified.json")).map((k) => k.replace(".verified.json", "")),
    );
    let count = 0;
    for (const key of keys.filter((k) => k.endsWith(".manifest.json")).sort()) {
      if (verified.has(key.replace(".manifest.json", ""))) continue;
      const { database, stamp } = parseBackupKey(key)!;
      await step(`verify ${key.replace(".manifest.json", ".sql")}`, () => verifyBackup(access, database, stamp));
      count++;
    }
    console.log(`Verified ${count} backups`);
    return count;
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
    const target: Target = { remote: where.remote, persistTo: values["persist-to"] };
    return values["verify-pending"] ? verifyPending(target) : backup(target);
  }, "Backup failed");
}
