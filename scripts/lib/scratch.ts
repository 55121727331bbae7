import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DATABASES, type DatabaseName } from "../../src/backup/dump.ts";
import type { DumpState } from "../../src/backup/dump-parse.ts";
import { rowsHash, stateSql, type StateFacts } from "../../src/backup/restore-plan.ts";
import type { SqlValue } from "../../src/backup/sql-text.ts";
import { LOCAL_DIR } from "../../dev/local-stack.ts";
import { d1ExecuteFileAsync, d1QueryAll, ensureDir, type Target } from "./ops.ts";

/**
 * Restoring a planned state into a D1 database (live or a scratch one) with one `wrangler d1
 * execute --file`, and reading back what it holds with one query process: a restore's cost is then
 * a fixed handful of process starts plus time that grows with the rows.
 */

/** Replaces the database of `database` at `target` with `state`; `live` are the tables it has now. */
export async function writeState(
  database: DatabaseName,
  state: DumpState,
  target: Target,
  live: string[],
  file: string,
) {
  writeFileSync(file, stateSql(state, live));
  await d1ExecuteFileAsync(DATABASES[database].binding, file, target);
  rmSync(file, { force: true });
}

/** Row counts, per-table hashes and token keys read back from a database (one process). */
export async function readBack(database: DatabaseName, state: DumpState, target: Target): Promise<StateFacts> {
  const tables = [...state.tables.values()];
  const results = await d1QueryAll(
    DATABASES[database].binding,
    tables.map((t) => `SELECT * FROM "${t.schema.name}"`),
    target,
  );
  const facts: StateFacts = { tables: {}, hashes: {}, tokenKeys: [] };
  for (const [i, table] of tables.entries()) {
    const rows = (results[i] ?? []).map((r) => table.schema.columns.map((c) => (r[c] ?? null) as SqlValue));
    facts.tables[table.schema.name] = rows.length;
    facts.hashes[table.schema.name] = await rowsHash(rows);
    if (table.schema.name === "tokens") facts.tokenKeys = rows.map((r) => String(r[0])).sort();
  }
  return facts;
}

/** What differs between the facts expected and the facts read back. */
export function compareFacts(expected: StateFacts, actual: StateFacts): string[] {
  const problems: string[] = [];
  for (const [table, n] of Object.entries(expected.tables)) {
    if (actual.tables[table] !== n) problems.push(`${table}: ${actual.tables[table] ?? "no"} rows, expected ${n}`);
    else if (actual.hashes[table] !== expected.hashes[table]) problems.push(`${table}: rows differ (hash)`);
  }
  if (expected.tokenKeys.join("\n") !== actual.tokenKeys.join("\n")) problems.push("the token keys differ");
  return problems;
}

/**
 * Restores a state into a fresh scratch local database and compares it with what was expected:
 * the check made before anything live is touched, and the verification of a new backup.
 */
export async function rehearse(database: DatabaseName, state: DumpState, expected: StateFacts): Promise<string[]> {
  const dir = join(LOCAL_DIR, "scratch", `${process.pid}-${database}`);
  rmSync(dir, { recursive: true, force: true });
  const persistTo = ensureDir(join(dir, ".wrangler", "state"));
  const scratch: Target = { remote: false, persistTo };
  await writeState(database, state, scratch, [], join(dir, "restore.sql"));
  const problems = compareFacts(expected, await readBack(database, state, scratch));
  rmSync(dir, { recursive: true, force: true });
  return problems;
}
