/**
 * `npm run restore [-- --local | --remote [<url>]] [--at ISO_TIME] [--from KEY|STAMP] [--database tokens|sessions]
 * [--dry-run] [--undo] [--persist-to DIR]`: the state of the databases at a moment (the newest
 * backup before it, then the token journal up to it), the latest state, or a named backup.
 * Everything is checked before anything live is touched: signed manifests and journal entries, the
 * dump's SHA-256 and statement shapes, then a rehearsal into scratch local databases whose row
 * counts, hashes and token keys must be what the plan says. `--dry-run` stops there and shows what
 * would change. Before writing, what the restore replaces is exported and kept, signed, under
 * `backups/undo/`; `--undo` puts the newest of those back (and keeps what it replaces in turn, so a
 * second `--undo` goes forward again).
 */
import { join } from "node:path";
import { DATABASES, isDatabaseName, type DatabaseName } from "../src/backup/dump.ts";
import { BackupRefused } from "../src/backup/dump-parse.ts";
import { JOURNALED_TABLES } from "../src/backup/journal.ts";
import type { Manifest } from "../src/backup/manifest.ts";
import { planRestore, type RestorePlan } from "../src/backup/pitr.ts";
import { diffState } from "../src/backup/restore-plan.ts";
import { readFileSync, rmSync } from "node:fs";
import { databaseOfDump, readDump } from "../src/backup/dump.ts";
import { backupOne } from "../src/backup/run.ts";
import {
  backupAccess,
  d1Export,
  d1QueryAll,
  human,
  localBackupsDir,
  step,
  type BackupAccess,
  type Target,
} from "./lib/ops.ts";
import { scriptArgs } from "./lib/args.ts";
import { compareFacts, readBack, rehearse, writeState } from "./lib/scratch.ts";
import { schemaFromMigrations } from "../src/backup/schema.ts";

async function sequentially<T, R>(items: T[], run: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const [i, item] of items.entries()) out.push(await run(item, i));
  return out;
}

export class RestoreRefused extends Error {}

export interface RestoreReport {
  database: DatabaseName;
  manifest: Manifest;
  journalEntries: number;
  rows: Record<string, number>;
  tokenKeys: string[];
}

const rowsText = (rows: Record<string, number>) =>
  Object.entries(rows)
    .filter(([t]) => t !== "d1_migrations")
    .map(([t, n]) => `${t} ${n}`)
    .join(", ");

const list = (keys: string[]) =>
  keys.length > 8 ? `${keys.slice(0, 8).join(", ")} and ${keys.length - 8} more` : keys.join(", ");

async function showDryRun(plan: RestorePlan, target: Target) {
  const tables = Object.keys(JOURNALED_TABLES).filter((t) => plan.state.tables.has(t));
  const binding = DATABASES[plan.database].binding;
  const live = await d1QueryAll(
    binding,
    tables.map((t) => `SELECT * FROM "${t}"`),
    target,
  ).catch(() => []);
  const rows = Object.fromEntries(tables.map((t, i) => [t, live[i] ?? []]));
  console.log(`  ${plan.database} would become: ${rowsText(plan.facts.tables)}`);
  for (const d of diffState(plan.state, rows)) {
    const parts = [
      d.added.length ? `+${d.added.length} (${list(d.added)})` : "",
      d.removed.length ? `-${d.removed.length} (${list(d.removed)})` : "",
      d.changed.length ? `~${d.changed.length} (${list(d.changed)})` : "",
    ].filter(Boolean);
    console.log(`    ${d.table}: ${parts.length ? parts.join("; ") : "unchanged"}`);
  }
}

/**
 * Exports the live databases a restore is about to replace and keeps them under `backups/undo/`
 * (signed as backups are). A database that is gone (the loss being recovered from) has nothing to
 * keep: said, not an error. Returns what to say (the caller prints it once the step is over).
 */
async function keepReplaced(access: BackupAccess, target: Target, databases: DatabaseName[]): Promise<string[]> {
  const said: string[] = [];
  for (const database of databases) {
    const exportedAt = Date.now();
    const file = join(localBackupsDir(), `replaced-${database}-${process.pid}-${exportedAt}.sql`);
    try {
      await d1Export(DATABASES[database].binding, file, target);
    } catch {
      said.push(`  ${database}: nothing to keep (no live database to export)`);
      continue;
    }
    const text = readFileSync(file);
    rmSync(file, { force: true });
    if (databaseOfDump(readDump(text.toString("utf8"))) !== database) {
      said.push(`  ${database}: nothing to keep (the live database holds none of its tables)`);
      continue;
    }
    async function* chunks() {
      for (let i = 0; i < text.length; i += 1 << 20) yield new Uint8Array(text.subarray(i, i + (1 << 20)));
    }
    const manifest = await backupOne(
      access.spaces,
      access.auth,
      database,
      chunks(),
      "replaced by a restore",
      exportedAt,
      "undo",
    );
    said.push(`  ${database}: kept ${manifest.dump_key} (${human(manifest.bytes)})`);
  }
  return said;
}

export async function restore(
  target: Target,
  opts: { from?: string; at?: number; databases?: DatabaseName[]; dryRun?: boolean; undo?: boolean } = {},
): Promise<RestoreReport[]> {
  const access = await backupAccess(target);
  const { spaces, close, auth, migrations } = access;
  try {
    const what = opts.undo
      ? "the state the last restore replaced"
      : opts.at !== undefined
        ? `the state at ${new Date(opts.at).toISOString()}`
        : opts.from
          ? `backup ${opts.from}`
          : "the latest state";
    const plans = await step(`plan ${what}: backup, signatures, dump shapes, journal`, () =>
      planRestore(spaces, auth, migrations, {
        at: opts.at,
        from: opts.from,
        databases: opts.databases,
        ...(opts.undo ? { shelf: "undo" as const } : {}),
      }).catch((err) => {
        throw err instanceof BackupRefused ? new RestoreRefused(err.message) : err;
      }),
    );
    for (const p of plans) for (const s of p.skipped) console.log(`  passed over ${s.key}: ${s.reason}`);
    for (const p of plans) {
      const journal = p.database === "tokens" ? ` + ${p.journalEntries} journal entries` : "";
      console.log(`  ${p.database}: ${p.manifest.dump_key}${journal} → ${rowsText(p.facts.tables)}`);
    }
    if (opts.dryRun) {
      console.log("Dry run: nothing written. What would change:");
      for (const p of plans) await showDryRun(p, target);
      return plans.map((p) => report(p));
    }
    // The copy of what the restore replaces is made beside the rehearsal: both only read the live
    // databases. A rehearsal that fails leaves that copy unused (it holds the state as it still is).
    const [rehearsal, kept] = await step(
      "rehearse in scratch local databases (rows, hashes and token keys as planned), and meanwhile keep what the restore replaces (backups/undo/, for npm run restore -- --undo)",
      () =>
        Promise.all([
          Promise.all(plans.map((p) => rehearse(p.database, p.state, p.facts))),
          keepReplaced(
            access,
            target,
            plans.map((p) => p.database),
          ),
        ]),
    );
    for (const line of kept) console.log(line);
    const failed = rehearsal.flatMap((problems, i) => problems.map((x) => `${plans[i]!.database} ${x}`));
    if (failed.length) throw new RestoreRefused(`the rehearsal did not give the planned state: ${failed.join("; ")}`);
    const dir = localBackupsDir();
    // Every table of our schema is dropped first (no listing needed); other tables are not ours.
    const schemaTables = (p: RestorePlan) => [
      ...new Set([...schemaFromMigrations(migrations[p.database]).tables.keys(), ...p.state.tables.keys()]),
    ];
    // Local databases share one state folder, which one process at a time may open.
    const each = <T>(run: (p: RestorePlan, i: number) => Promise<T>) =>
      target.remote ? Promise.all(plans.map(run)) : sequentially(plans, run);
    await step(
      `write ${plans.map((p) => p.database).join(" and ")} (one batch each: wrangler d1 execute --file remotely, Miniflare locally)`,
      () =>
        each((p) =>
          writeState(
            p.database,
            p.state,
            target,
            schemaTables(p),
            join(dir, `restore-${p.database}-${process.pid}.sql`),
          ),
        ),
    );
    const after = await step("read back the live databases: rows, hashes and token keys", () =>
      each((p) => readBack(p.database, p.state, target)),
    );
    const wrong = after.flatMap((facts, i) =>
      compareFacts(plans[i]!.facts, facts).map((x) => `${plans[i]!.database} ${x}`),
    );
    if (wrong.length) throw new Error(`the restored databases differ from the plan: ${wrong.join("; ")}`);
    for (const p of plans) console.log(`  ${p.database} restored: ${rowsText(p.facts.tables)}`);
    return plans.map((p) => report(p));
  } finally {
    await close();
  }
}

const report = (p: RestorePlan): RestoreReport => ({
  database: p.database,
  manifest: p.manifest,
  journalEntries: p.journalEntries,
  rows: p.facts.tables,
  tokenKeys: p.facts.tokenKeys,
});

const USAGE =
  "usage: npm run restore [-- --local | --remote [<url>]] [--at <ISO time>] [--from <key|stamp>]" +
  " [--database tokens|sessions] [--dry-run] [--undo] [--persist-to <dir>]";

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, where } = scriptArgs(USAGE, {
    at: { type: "string" },
    from: { type: "string" },
    database: { type: "string" },
    "dry-run": { type: "boolean" },
    undo: { type: "boolean" },
    "persist-to": { type: "string" },
  });
  const target: Target = { remote: where.remote, persistTo: values["persist-to"] };
  const database = values.database;
  if (database && !isDatabaseName(database)) {
    console.error("--database must be tokens or sessions");
    process.exit(2);
  }
  const atText = values.at;
  const at = atText === undefined ? undefined : Date.parse(atText);
  if (at !== undefined && (!Number.isFinite(at) || !/^\d{4}-\d{2}-\d{2}T/.test(atText!))) {
    console.error(`--at must be an ISO time such as 2026-12-02T10:04:00Z, not ${JSON.stringify(atText)}`);
    process.exit(2);
  }
  const started = Date.now();
  restore(target, {
    from: values.from,
    at,
    databases: database ? [database as DatabaseName] : undefined,
    dryRun: values["dry-run"] === true,
    undo: values.undo === true,
  })
    .then((reports) => {
      const verb = values["dry-run"] ? "Dry run complete" : "Restore complete";
      console.log(
        `${verb} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${reports.map((r) => r.database).join(", ")}`,
      );
    })
    .catch((err) => {
      console.error(
        `Restore ${err instanceof RestoreRefused ? "refused" : "failed"}: ${err instanceof Error ? err.message : String(err)}`,
      );
      console.error(
        "Nothing live was changed." + (err instanceof RestoreRefused ? "" : " (unless a write step above says ok)"),
      );
      process.exit(1);
    });
}
