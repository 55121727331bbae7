/**
 * `npm run backup [-- --remote] [--persist-to DIR]`: `wrangler d1 export` of both databases, each
 * dump uploaded to Spaces under backups/d1/<database>/<UTC timestamp>.sql with a manifest beside it,
 * a copy kept under backups/ here, then retention (BACKUP_RETENTION, default 7).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DATABASES, type DatabaseName } from "../src/backup/dump.ts";
import type { Manifest } from "../src/backup/manifest.ts";
import { applyRetention, backupOne } from "../src/backup/run.ts";
import { ROOT } from "./lib/local-stack.ts";
import { d1Export, ensureDir, human, parseTarget, scriptSpaces, step, type Target } from "./lib/ops.ts";

export async function backup(target: Target, opts: { retention?: number } = {}): Promise<Manifest[]> {
  const where = target.remote ? "remote" : `local${target.persistTo ? ` (${target.persistTo})` : ""}`;
  console.log(`Backup of tokens and sessions (${where})`);
  const { spaces, bucket, close } = await scriptSpaces(target);
  const outDir = ensureDir(join(ROOT, "backups"));
  const manifests: Manifest[] = [];
  try {
    for (const database of Object.keys(DATABASES) as DatabaseName[]) {
      const exportedAt = Date.now();
      const file = join(outDir, `${database}-${new Date(exportedAt).toISOString().replace(/[:.]/g, "-")}.sql`);
      await step(`wrangler d1 export ${DATABASES[database].binding} → ${file.replace(`${ROOT}/`, "")}`, () =>
        d1Export(DATABASES[database].binding, file, target),
      );
      const manifest = await step(`upload ${database} dump and manifest to Spaces`, async () => {
        const text = readFileSync(file);
        async function* chunks() {
          for (let i = 0; i < text.length; i += 1 << 20) yield new Uint8Array(text.subarray(i, i + (1 << 20)));
        }
        return backupOne(
          spaces,
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
    const keep = opts.retention ?? Number(process.env.BACKUP_RETENTION ?? 7);
    const { deleted } = await step(`retention: keep the newest ${keep} of each database`, () =>
      applyRetention(spaces, keep),
    );
    if (deleted.length) console.log(`  deleted ${deleted.length} old objects`);
  } finally {
    await close();
  }
  console.log(`Backup complete: ${manifests.map((m) => m.dump_key).join(", ")} (copies in backups/)`);
  return manifests;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const target = parseTarget(process.argv.slice(2));
  backup(target).catch((err) => {
    console.error(`Backup failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
