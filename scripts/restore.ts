/**
 * `npm run restore [-- --remote] [--from KEY|STAMP] [--database tokens|sessions] [--persist-to DIR]`:
 * fetch the latest (or the named) backup from Spaces, verify it against its manifest, and only then
 * replace the database with it (`wrangler d1 execute --file`) and replay the token journal.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DATABASES, isDatabaseName, type DatabaseName } from "../src/backup/dump.ts";
import { JOURNAL_PREFIX, journalKeyTime, parseJournal, type JournalEntry } from "../src/backup/journal.ts";
import { checkDump, parseManifest, parseManifestKey, type Manifest } from "../src/backup/manifest.ts";
import { restoreSql } from "../src/backup/restore-plan.ts";
import type { Spaces } from "../src/storage/spaces.ts";
import { ROOT } from "./lib/local-stack.ts";
import { d1ExecuteFile, d1Query, ensureDir, human, parseTarget, scriptSpaces, step, type Target } from "./lib/ops.ts";

/** Journal entries this long before a dump's export are replayed too (they are idempotent). */
const JOURNAL_OVERLAP_MS = 10 * 60 * 1000;

export class RestoreRefused extends Error {}

async function findManifest(spaces: Spaces, database: DatabaseName, from?: string): Promise<string> {
  const keys = (await spaces.listKeys(`backups/d1/${database}/`)).filter(
    (k) => parseManifestKey(k)?.database === database,
  );
  if (from) {
    const wanted = from.endsWith(".sql") ? from.replace(/\.sql$/, ".manifest.json") : from;
    const match = keys.find((k) => k === wanted || parseManifestKey(k)?.stamp === from);
    if (!match) throw new RestoreRefused(`no ${database} backup matches ${from}`);
    return match;
  }
  const latest = keys.sort().at(-1);
  if (!latest) throw new RestoreRefused(`no backup of ${database} in Spaces`);
  return latest;
}

async function readJournal(spaces: Spaces, since: number): Promise<JournalEntry[]> {
  const entries: JournalEntry[] = [];
  for (const key of (await spaces.listKeys(JOURNAL_PREFIX)).sort()) {
    const at = journalKeyTime(key);
    if (at === null || at < since) continue;
    try {
      entries.push(parseJournal((await spaces.getText(key)) ?? ""));
    } catch (err) {
      console.warn(`  skipped ${key}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return entries;
}

export interface RestoreReport {
  database: DatabaseName;
  manifest: Manifest;
  journalEntries: number;
  rows: Record<string, number>;
}

export async function restore(
  target: Target,
  opts: { from?: string; databases?: DatabaseName[] } = {},
): Promise<RestoreReport[]> {
  const { spaces, close } = await scriptSpaces(target);
  const reports: RestoreReport[] = [];
  const databases = opts.databases ?? (Object.keys(DATABASES) as DatabaseName[]);
  try {
    // Verify everything first: a bad backup must not touch a live database.
    const plans: { database: DatabaseName; manifest: Manifest; dump: Buffer }[] = [];
    for (const database of databases) {
      const manifestKey = await step(`find the ${opts.from ? "named" : "latest"} ${database} backup`, () =>
        findManifest(spaces, database, opts.from),
      );
      const plan = await step(`download and verify ${manifestKey.replace(".manifest.json", ".sql")}`, async () => {
        const manifest = parseManifest((await spaces.getText(manifestKey)) ?? "");
        const text = await spaces.getText(manifest.dump_key);
        if (text === null) throw new RestoreRefused(`the dump ${manifest.dump_key} is missing`);
        const dump = Buffer.from(text, "utf8");
        const sha = createHash("sha256").update(dump).digest("hex");
        const problems = checkDump(manifest, new Uint8Array(dump), sha, database);
        if (problems.length) throw new RestoreRefused(`refusing ${manifest.dump_key}: ${problems.join("; ")}`);
        return { database, manifest, dump };
      });
      plans.push(plan);
    }
    for (const { database, manifest, dump } of plans) {
      const binding = DATABASES[database].binding;
      const journal =
        database === "tokens"
          ? await step("read the token journal written since the backup", () =>
              readJournal(spaces, manifest.exported_at - JOURNAL_OVERLAP_MS),
            )
          : [];
      const live = await step(`list the tables now in ${database}`, () =>
        d1Query<{ name: string }>(binding, "SELECT name FROM sqlite_master WHERE type = 'table'", target).map(
          (r) => r.name,
        ),
      );
      const file = join(ensureDir(join(ROOT, "backups")), `restore-${database}.sql`);
      writeFileSync(file, restoreSql(dump.toString("utf8"), live, journal));
      await step(
        `wrangler d1 execute ${binding} --file (${human(dump.length)}${journal.length ? ` + ${journal.length} journal entries` : ""})`,
        () => d1ExecuteFile(binding, file, target),
      );
      const rows: Record<string, number> = {};
      for (const table of DATABASES[database].tables) {
        rows[table] = Number(d1Query<{ n: number }>(binding, `SELECT COUNT(*) AS n FROM ${table}`, target)[0]?.n ?? 0);
      }
      console.log(
        `  ${database} restored from ${manifest.dump_key}: ${Object.entries(rows)
          .map(([t, n]) => `${t} ${n}`)
          .join(", ")}`,
      );
      reports.push({ database, manifest, journalEntries: journal.length, rows });
    }
  } finally {
    await close();
  }
  return reports;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const target = parseTarget(process.argv.slice(2));
  const database = target.args.get("database");
  if (database && !isDatabaseName(database)) {
    console.error("--database must be tokens or sessions");
    process.exit(2);
  }
  const started = Date.now();
  restore(target, { from: target.args.get("from"), databases: database ? [database as DatabaseName] : undefined })
    .then((reports) => {
      console.log(
        `Restore complete in ${((Date.now() - started) / 1000).toFixed(1)} s: ${reports.map((r) => r.database).join(", ")}`,
      );
    })
    .catch((err) => {
      console.error(`Restore failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}
