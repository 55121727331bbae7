import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DATABASES, type DatabaseName } from "../../src/backup/dump.ts";
import type { DumpState } from "../../src/backup/dump-parse.ts";
import {
  compareFacts,
  readBackFacts,
  stateSql,
  stateStatements,
  type StateFacts,
} from "../../src/backup/restore-plan.ts";
import { quoteIdent } from "../../src/backup/sql-text.ts";
import { LOCAL_DIR } from "../../dev/local-stack.ts";
import { executeLocal, readLocal, sqlValueOf } from "./local-d1.ts";
import { d1ExecuteFileAsync, d1QueryAll, ensureDir, type Target } from "./ops.ts";

/**
 * Restoring a planned state into a D1 database (live or a scratch one) and reading back what it
 * holds. Remote: one `wrangler d1 execute --file`, and one query process. Local: the same batch of
 * statements through Miniflare, as wrangler runs it locally, from this process (scripts/lib/local-d1.ts).
 */

/** Replaces the database of `database` at `target` with `state`; `live` are the tables it has now. */
export async function writeState(
  database: DatabaseName,
  state: DumpState,
  target: Target,
  live: string[],
  file: string,
) {
  if (!target.remote) return executeLocal(database, stateStatements(state, live), target.persistTo);
  writeFileSync(file, stateSql(state, live));
  await d1ExecuteFileAsync(DATABASES[database].binding, file, target);
  rmSync(file, { force: true });
}

/** Row counts, per-table hashes and token keys read back from a database (one process). */
export async function readBack(database: DatabaseName, state: DumpState, target: Target): Promise<StateFacts> {
  const tables = [...state.tables.values()];
  if (!target.remote) {
    const columns = (t: (typeof tables)[number]) => t.schema.columns.map(quoteIdent).join(", ");
    const local = await readLocal(
      database,
      tables.map((t) => `SELECT ${columns(t)} FROM ${quoteIdent(t.schema.name)}`),
      target.persistTo,
    );
    return readBackFacts(tables.map((table, i) => ({ name: table.schema.name, rows: local[i] ?? [] })));
  }
  const results = await d1QueryAll(
    DATABASES[database].binding,
    tables.map((t) => `SELECT * FROM "${t.schema.name}"`),
    target,
  );
  return readBackFacts(
    tables.map((table, i) => ({
      name: table.schema.name,
      rows: (results[i] ?? []).map((r) => table.schema.columns.map((c) => sqlValueOf(r[c]))),
    })),
  );
}

export { compareFacts };

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
