import { z } from "zod";
import { rowsOf } from "../db/rows";
import {
  isWord,
  nameOf,
  readLiteral,
  splitStatements,
  sqlLiteral,
  tokenize,
  type SqlValue,
  type Token,
} from "./sql-text";

/**
 * Our schema as the migrations build it: each table's columns and the exact tokens of the
 * `CREATE TABLE` SQLite keeps for it (an `ALTER TABLE ... ADD COLUMN` appends to it, as SQLite
 * does), and each index's `CREATE INDEX`. A dump is accepted only when its statements have these
 * shapes (see ./dump-parse.ts).
 */

export interface TableSchema {
  name: string;
  columns: string[];
  /** The primary key's columns, or null (rows are then kept in dump order). */
  primary: string[] | null;
  /** Literal defaults of columns (`DEFAULT 0`), used for a journal row that lacks a newer column. */
  defaults: Record<string, SqlValue>;
  /** Tokens of the CREATE TABLE, `IF NOT EXISTS` left out. */
  tokens: Token[];
}

export interface Schema {
  tables: Map<string, TableSchema>;
  /** Index name → tokens of its CREATE INDEX. */
  indexes: Map<string, { table: string; tokens: Token[] }>;
}

export interface Migration {
  name: string;
  queries: string[];
}

/** What wrangler (and the test pool) create to record applied migrations. */
const D1_MIGRATIONS = `CREATE TABLE d1_migrations(
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		name       TEXT UNIQUE,
		applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
)`;

const withoutIfNotExists = (tokens: Token[]) =>
  isWord(tokens[2], "IF") && isWord(tokens[3], "NOT") && isWord(tokens[4], "EXISTS")
    ? [...tokens.slice(0, 2), ...tokens.slice(5)]
    : tokens;

/** The parts of a parenthesised list split at top-level commas. */
function splitList(tokens: Token[]): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (t.kind === "punct" && t.text === "(") depth++;
    if (t.kind === "punct" && t.text === ")") depth--;
    if (depth === 0 && t.kind === "punct" && t.text === ",") parts.push([]);
    else parts[parts.length - 1]!.push(t);
  }
  return parts.filter((p) => p.length);
}

const TABLE_CONSTRAINT = new Set(["PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT"]);

function describeColumns(parts: Token[][]) {
  const columns: string[] = [];
  const defaults: Record<string, SqlValue> = {};
  let primary: string[] | null = null;
  for (const part of parts) {
    const first = part[0]!;
    if (first.kind === "word" && TABLE_CONSTRAINT.has(first.text.toUpperCase())) {
      if (isWord(first, "PRIMARY")) {
        const names = part.filter((t) => t.kind === "ident" || (t.kind === "word" && !/^(PRIMARY|KEY)$/i.test(t.text)));
        primary = names.length ? names.map((t) => t.text) : null;
      }
      continue;
    }
    const column = nameOf(first)!;
    columns.push(column);
    part.forEach((t, i) => {
      if (isWord(t, "PRIMARY") && isWord(part[i + 1], "KEY")) primary = [column];
      if (isWord(t, "DEFAULT")) {
        const literal = readLiteral(part, i + 1);
        if (literal) defaults[column] = literal.value;
      }
    });
  }
  return { columns, defaults, primary };
}

/**
 * A primary key as one string: the value of a one-column key, else the JSON list of the values.
 * Rows of a dump are kept by it, and the journal names its rows the same way.
 */
export const primaryKeyText = (values: readonly SqlValue[]): string =>
  values.length === 1
    ? String(values[0])
    : JSON.stringify(values.map((v) => (v instanceof Uint8Array ? sqlLiteral(v) : v)));

/** A row's primary key as one string (see primaryKeyText), or null when its table has none. */
export const rowKeyText = (table: TableSchema, row: readonly SqlValue[]): string | null =>
  table.primary && primaryKeyText(table.primary.map((column) => row[table.columns.indexOf(column)] ?? null));

/** Reads a CREATE TABLE's name and columns; null when the tokens are not one. */
export function readCreateTable(tokens: Token[]): Omit<TableSchema, "tokens"> | null {
  const t = withoutIfNotExists(tokens);
  if (!isWord(t[0], "CREATE") || !isWord(t[1], "TABLE")) return null;
  const name = nameOf(t[2]);
  if (!name || t[3]?.text !== "(" || t[t.length - 1]?.text !== ")") return null;
  return { name, ...describeColumns(splitList(t.slice(4, -1))) };
}

function tableOf(sql: string): TableSchema {
  const tokens = withoutIfNotExists(tokenize(sql));
  const read = readCreateTable(tokens);
  if (!read) throw new Error(`not a CREATE TABLE: ${sql.slice(0, 60)}`);
  return { ...read, tokens };
}

/** The schema after these migrations, in order. */
export function schemaFromMigrations(migrations: Migration[]): Schema {
  const schema: Schema = { tables: new Map(), indexes: new Map() };
  schema.tables.set("d1_migrations", tableOf(D1_MIGRATIONS));
  for (const migration of migrations) {
    for (const sql of migration.queries.flatMap(splitStatements)) {
      const tokens = tokenize(sql);
      const words = tokens.slice(0, 6).map((t) => (t.kind === "word" ? t.text.toUpperCase() : ""));
      if (words[0] === "CREATE" && words[1] === "TABLE") {
        const table = tableOf(sql);
        schema.tables.set(table.name, table);
      } else if (words[0] === "CREATE" && (words[1] === "INDEX" || (words[1] === "UNIQUE" && words[2] === "INDEX"))) {
        const t = withoutIfNotExists(words[1] === "UNIQUE" ? [tokens[0]!, ...tokens.slice(2)] : tokens);
        const name = nameOf(t[2])!;
        const onAt = t.findIndex((x) => isWord(x, "ON"));
        schema.indexes.set(name, { table: nameOf(t[onAt + 1])!, tokens: withoutIfNotExists(tokens) });
      } else if (words[0] === "ALTER" && words[1] === "TABLE") {
        const table = schema.tables.get(nameOf(tokens[2]) ?? "");
        if (!table) throw new Error(`${migration.name}: ALTER TABLE of an unknown table`);
        if (isWord(tokens[3], "RENAME")) {
          renameIn(schema, table, tokens.slice(4), migration.name);
          continue;
        }
        if (!isWord(tokens[3], "ADD"))
          throw new Error(`${migration.name}: only ALTER TABLE ... ADD COLUMN or RENAME is understood`);
        const def = tokens.slice(isWord(tokens[4], "COLUMN") ? 5 : 4);
        const added = describeColumns([def]);
        table.columns.push(...added.columns);
        Object.assign(table.defaults, added.defaults);
        // SQLite keeps the table's SQL with ", <column definition>" before the closing parenthesis.
        table.tokens = [...table.tokens.slice(0, -1), { kind: "punct", text: "," }, ...def, table.tokens.at(-1)!];
      } else if (words[0] === "DROP" && words[1] === "TABLE") {
        const t = isWord(tokens[2], "IF") ? tokens.slice(4) : tokens.slice(2);
        schema.tables.delete(nameOf(t[0]) ?? "");
      } else if (words[0] === "DROP" && words[1] === "INDEX") {
        const t = isWord(tokens[2], "IF") ? tokens.slice(4) : tokens.slice(2);
        schema.indexes.delete(nameOf(t[0]) ?? "");
      }
    }
  }
  return schema;
}

/**
 * `ALTER TABLE t RENAME TO u` and `RENAME [COLUMN] a TO b`: SQLite rewrites the names in the stored
 * CREATE statements, so the expected tokens change the same way.
 */
function renameIn(schema: Schema, table: TableSchema, rest: Token[], migration: string) {
  const swap = (tokens: Token[], from: string, to: string) =>
    tokens.map((t): Token => (nameOf(t)?.toLowerCase() === from.toLowerCase() ? { kind: "ident", text: to } : t));
  if (isWord(rest[0], "TO")) {
    const to = nameOf(rest[1]);
    if (!to) throw new Error(`${migration}: RENAME TO without a name`);
    schema.tables.delete(table.name);
    const tokens: Token[] = [...table.tokens.slice(0, 2), { kind: "ident", text: to }, ...table.tokens.slice(3)];
    schema.tables.set(to, { ...table, name: to, tokens });
    for (const index of schema.indexes.values())
      if (index.table === table.name) {
        const on = index.tokens.findIndex((t) => isWord(t, "ON"));
        index.tokens[on + 1] = { kind: "ident", text: to };
        index.table = to;
      }
    return;
  }
  const parts = isWord(rest[0], "COLUMN") ? rest.slice(1) : rest;
  const from = nameOf(parts[0]);
  const to = nameOf(parts[2]);
  if (!from || !to || !isWord(parts[1], "TO") || !table.columns.includes(from))
    throw new Error(`${migration}: a RENAME COLUMN that does not name a column of ${table.name}`);
  table.columns = table.columns.map((c) => (c === from ? to : c));
  table.primary = table.primary?.map((c) => (c === from ? to : c)) ?? null;
  if (Object.hasOwn(table.defaults, from)) {
    table.defaults[to] = table.defaults[from]!;
    delete table.defaults[from];
  }
  table.tokens = swap(table.tokens, from, to);
  for (const index of schema.indexes.values())
    if (index.table === table.name) index.tokens = swap(index.tokens, from, to);
}

/** Two token lists that say the same (words compared without case, quoted and bare names alike). */
export function sameTokens(a: Token[], b: Token[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((t, i) => {
    const u = b[i]!;
    const na = nameOf(t);
    const nb = nameOf(u);
    if (na !== null && nb !== null) return na.toLowerCase() === nb.toLowerCase();
    return t.kind === u.kind && t.text === u.text;
  });
}

/**
 * The migrations of a live database as they shaped it: the names it recorded as applied, the last
 * carrying the CREATE statements SQLite keeps for it. A dump of that database, made minutes before,
 * must have exactly those shapes: what the worker's restore test checks it against (the migration
 * files themselves are not in the worker's bundle).
 */
export async function liveMigrations(db: D1Database): Promise<Migration[]> {
  const [applied, objects] = await db.batch([
    db.prepare("SELECT name, NULL AS sql FROM d1_migrations ORDER BY id"),
    db.prepare(
      `SELECT name, sql FROM sqlite_master
       WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND type IN ('table', 'index')
       ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, rowid`,
    ),
  ]);
  const names = rowsOf(applied, z.object({ name: z.string() })).map((r) => r.name);
  const schema = rowsOf(objects, z.object({ sql: z.string() })).map((r) => `${r.sql};`);
  return names.map((name, i) => ({ name, queries: i === names.length - 1 ? schema : [] }));
}
