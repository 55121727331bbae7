import { sha256Hex } from "../lib/signatures";
import { BackupRefused, type DumpState } from "./dump-parse";
import { JOURNALED_TABLES, keyText, type JournalEntry } from "./journal";
import { primaryKeyText, type Schema } from "./schema";
import { quoteIdent, sqlLiteral, type SqlValue } from "./sql-text";

/** Rows per INSERT and bytes per statement (D1 allows 100 KB a statement). */
const ROWS_PER_INSERT = 100;
const BYTES_PER_INSERT = 50_000;

/**
 * Applies journal entries (already authenticated) to a parsed dump, in time order, up to and
 * including `until`: each row ends as the last entry before that moment left it. Columns are
 * checked against `latest` (the schema of all migrations); a column the dump's older table lacks
 * is left out, and one a row lacks keeps the dump's value or the column's default.
 */
export function applyJournal(
  state: DumpState,
  entries: { key: string; entry: JournalEntry }[],
  until: number,
  latest: Schema,
): number {
  let applied = 0;
  const ordered = [...entries]
    .filter((e) => e.entry.at <= until)
    .sort((a, b) => a.entry.at - b.entry.at || (a.key < b.key ? -1 : 1));
  for (const { key, entry } of ordered) {
    for (const change of entry.changes) {
      const table = state.tables.get(change.table);
      if (!table) throw new BackupRefused(key, `table ${change.table} is not in the dump it would be replayed on`);
      const rowKey = keyText(change.key);
      if (change.row === null) {
        table.rows.delete(rowKey);
        continue;
      }
      const known = latest.tables.get(change.table)?.columns ?? [];
      for (const column of Object.keys(change.row))
        if (!known.includes(column))
          throw new BackupRefused(key, `column ${column} is not a column of ${change.table}`);
      const before = table.rows.get(rowKey);
      const row = table.schema.columns.map((column, i): SqlValue => {
        if (Object.hasOwn(change.row!, column)) return change.row![column]!;
        if (before) return before[i]!;
        return Object.hasOwn(table.schema.defaults, column) ? table.schema.defaults[column]! : null;
      });
      table.rows.set(rowKey, row);
    }
    applied++;
  }
  return applied;
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A row as comparable text (blobs as hex). */
const rowText = (row: SqlValue[]) => JSON.stringify(row.map((v) => (v instanceof Uint8Array ? sqlLiteral(v) : v)));

/** SHA-256 of a table's rows in a fixed order: the same rows give the same hash wherever read. */
export async function rowsHash(rows: SqlValue[][]): Promise<string> {
  return sha256Hex(rows.map(rowText).sort(compareText).join("\n"));
}

export interface StateFacts {
  tables: Record<string, number>;
  hashes: Record<string, string>;
  /** The token keys present (`SELECT key FROM tokens`), sorted. */
  tokenKeys: string[];
}

/** Row counts, hashes and token keys of a database state. */
export async function stateFacts(state: DumpState): Promise<StateFacts> {
  const facts: StateFacts = { tables: {}, hashes: {}, tokenKeys: [] };
  for (const [name, table] of state.tables) {
    facts.tables[name] = table.rows.size;
    facts.hashes[name] = await rowsHash([...table.rows.values()]);
  }
  const tokens = state.tables.get("tokens");
  if (tokens) facts.tokenKeys = [...tokens.rows.values()].map((r) => String(r[0])).sort(compareText);
  return facts;
}

/**
 * The statements that replace a live database with this state: every table now in the database
 * dropped first (so a restore into a database that still exists replaces it, and twice gives the
 * same), our CREATE TABLEs, the rows in multi-row INSERTs (about 100 statements for 10,000 tokens),
 * the sqlite_sequence values, then the indexes.
 */
export function stateStatements(state: DumpState, liveTables: string[]): string[] {
  const out = ["PRAGMA defer_foreign_keys=TRUE"];
  for (const t of liveTables)
    if (/^[A-Za-z0-9_]+$/.test(t) && !t.startsWith("sqlite_") && !t.startsWith("_cf_"))
      out.push(`DROP TABLE IF EXISTS ${quoteIdent(t)}`);
  for (const [name, table] of state.tables) {
    out.push(table.create);
    let values: string[] = [];
    let bytes = 0;
    const flush = () => {
      if (values.length) out.push(`INSERT INTO ${quoteIdent(name)} VALUES${values.join(",")}`);
      values = [];
      bytes = 0;
    };
    for (const row of table.rows.values()) {
      const tuple = `(${row.map(sqlLiteral).join(",")})`;
      if (values.length >= ROWS_PER_INSERT || bytes + tuple.length > BYTES_PER_INSERT) flush();
      values.push(tuple);
      bytes += tuple.length;
    }
    flush();
  }
  if (state.sequences.length) {
    out.push("DELETE FROM sqlite_sequence");
    for (const [name, seq] of state.sequences)
      out.push(`INSERT INTO "sqlite_sequence" VALUES(${sqlLiteral(name)},${seq})`);
  }
  out.push(...state.indexes);
  return out;
}

/** stateStatements as one SQL script (`wrangler d1 execute --file`). */
export const stateSql = (state: DumpState, liveTables: string[]): string =>
  stateStatements(state, liveTables)
    .map((s) => `${s};`)
    .join("\n") + "\n";

/** Row counts, hashes and token keys of tables read back from a database, in their columns' order. */
export async function readBackFacts(tables: { name: string; rows: SqlValue[][] }[]): Promise<StateFacts> {
  const facts: StateFacts = { tables: {}, hashes: {}, tokenKeys: [] };
  for (const { name, rows } of tables) {
    facts.tables[name] = rows.length;
    facts.hashes[name] = await rowsHash(rows);
    if (name === "tokens") facts.tokenKeys = rows.map((r) => String(r[0])).sort(compareText);
  }
  return facts;
}

/** What differs between the facts expected and the facts read back (empty: the same). */
export function compareFacts(expected: StateFacts, actual: StateFacts): string[] {
  const problems: string[] = [];
  for (const [table, n] of Object.entries(expected.tables)) {
    if (actual.tables[table] !== n) problems.push(`${table}: ${actual.tables[table] ?? "no"} rows, expected ${n}`);
    else if (actual.hashes[table] !== expected.hashes[table]) problems.push(`${table}: rows differ (hash)`);
  }
  if (expected.tokenKeys.join("\n") !== actual.tokenKeys.join("\n")) problems.push("the token keys differ");
  return problems;
}

/** What a restore would change in the journaled tables: keys added, removed and changed. */
export interface TableDiff {
  table: string;
  added: string[];
  removed: string[];
  changed: string[];
}

/**
 * Compares a state with the live rows of the journaled tables (`live[table]` rows as objects).
 * Token values are compared as stored (encrypted), never shown.
 */
export function diffState(state: DumpState, live: Record<string, Record<string, unknown>[]>): TableDiff[] {
  const diffs: TableDiff[] = [];
  for (const [name, primary] of Object.entries(JOURNALED_TABLES)) {
    const table = state.tables.get(name);
    if (!table) continue;
    const liveRows = new Map(
      (live[name] ?? []).map((r) => [primaryKeyText(primary.map((c) => (r[c] ?? null) as SqlValue)), r]),
    );
    const diff: TableDiff = { table: name, added: [], removed: [], changed: [] };
    for (const [key, row] of table.rows) {
      const current = liveRows.get(key);
      if (!current) diff.added.push(key);
      else if (table.schema.columns.some((c, i) => (current[c] ?? null) !== row[i])) diff.changed.push(key);
    }
    for (const key of liveRows.keys()) if (!table.rows.has(key)) diff.removed.push(key);
    diffs.push(diff);
  }
  return diffs;
}
