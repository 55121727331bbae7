import { DATABASES, type DatabaseName } from "./dump";
import {
  readCreateTable,
  rowKeyText,
  sameTokens,
  schemaFromMigrations,
  type Migration,
  type Schema,
  type TableSchema,
} from "./schema";
import { isWord, nameOf, readLiteral, splitStatements, tokenize, type SqlValue, type Token } from "./sql-text";

/**
 * A dump read as data, never executed as it is: every statement must have a shape a dump of our
 * schema has (`PRAGMA defer_foreign_keys=TRUE`, the CREATE TABLE and CREATE INDEX statements of our
 * migrations, INSERTs of literal rows into our tables, the sqlite_sequence reset). A trigger, a view,
 * an UPDATE or any other statement is refused with the statement's number and the reason. The
 * restore then writes its own SQL from the rows read here.
 *
 * Why a parser of our own (with ./sql-text.ts): a signature proves who wrote a dump, not what it
 * does, and `wrangler d1 execute --file` would run anything in it. The backup tests feed it eleven
 * hostile dumps (a trigger, a view, an UPDATE, INSERT ... SELECT, a function call among the values,
 * a foreign table, a column or index not as our migrations define it, a foreign migration, another
 * PRAGMA, a row of the wrong width): each is refused before anything live is touched. A general
 * SQL parser from npm would still leave the check of each shape to us, at several times the size.
 */

/** A backup object refused by a restore: the message names the object and the reason. */
export class BackupRefused extends Error {
  constructor(
    readonly objectKey: string,
    readonly reason: string,
  ) {
    super(`refusing ${objectKey}: ${reason}`);
  }
}

export interface TableState {
  schema: TableSchema;
  /** The dump's CREATE TABLE text (checked to be our schema's). */
  create: string;
  /** Rows by primary key (or by position when the table has none). */
  rows: Map<string, SqlValue[]>;
}

export interface DumpState {
  database: DatabaseName;
  /** The last migration the dump's database had. */
  migration: string | null;
  tables: Map<string, TableState>;
  indexes: string[];
  sequences: [string, number][];
}

const keyOf = (table: TableSchema, row: SqlValue[], position: number) => rowKeyText(table, row) ?? `#${position}`;

/** Reads `VALUES (...), (...)` starting at tokens[i]: literal tuples only. */
function readTuples(tokens: Token[], i: number): SqlValue[][] | null {
  if (!isWord(tokens[i], "VALUES")) return null;
  const rows: SqlValue[][] = [];
  let j = i + 1;
  for (;;) {
    if (tokens[j]?.text !== "(") return null;
    j++;
    const row: SqlValue[] = [];
    for (;;) {
      const literal = readLiteral(tokens, j);
      if (!literal) return null;
      row.push(literal.value);
      j = literal.next;
      if (tokens[j]?.text === ",") {
        j++;
        continue;
      }
      if (tokens[j]?.text === ")") {
        j++;
        break;
      }
      return null;
    }
    rows.push(row);
    if (j === tokens.length) return rows;
    if (tokens[j]?.text !== ",") return null;
    j++;
  }
}

const describe = (sql: string) => JSON.stringify(sql.replace(/\s+/g, " ").slice(0, 60));

/**
 * Parses a dump of `database` against the schema its own migration level gives (`migrations` are
 * all of this database's migrations, in order). Throws BackupRefused naming `objectKey`.
 */
export function parseDump(text: string, database: DatabaseName, migrations: Migration[], objectKey: string): DumpState {
  const refuse = (reason: string): never => {
    throw new BackupRefused(objectKey, reason);
  };
  let statements: string[];
  try {
    statements = splitStatements(text);
  } catch (err) {
    return refuse(err instanceof Error ? err.message : String(err));
  }
  const tokenized: Token[][] = statements.map((sql, n) => {
    try {
      return tokenize(sql);
    } catch (err) {
      return refuse(`statement ${n + 1} ${describe(sql)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  });

  // The migration level first: the schema to check against is the one the dump's database had.
  const applied: string[] = [];
  tokenized.forEach((tokens, n) => {
    if (isWord(tokens[0], "INSERT") && nameOf(tokens[2]) === "d1_migrations") {
      const rows = readTuples(
        tokens,
        tokens.findIndex((t) => isWord(t, "VALUES")),
      );
      if (!rows) refuse(`statement ${n + 1}: a d1_migrations row that is not literal values`);
      for (const row of rows!) applied.push(String(row[1]));
    }
  });
  const known = new Map(migrations.map((m) => [m.name, m]));
  for (const name of applied) if (!known.has(name)) refuse(`it records migration ${name}, which is not one of ours`);
  const schema: Schema = schemaFromMigrations(migrations.filter((m) => applied.includes(m.name)));

  const state: DumpState = {
    database,
    migration: applied.at(-1) ?? null,
    tables: new Map(),
    indexes: [],
    sequences: [],
  };
  tokenized.forEach((tokens, n) => {
    const sql = statements[n]!;
    const where = `statement ${n + 1} ${describe(sql)}`;
    const w = (i: number) => (tokens[i]?.kind === "word" ? tokens[i]!.text.toUpperCase() : "");
    if (w(0) === "PRAGMA") {
      if (tokens.length === 4 && w(1) === "DEFER_FOREIGN_KEYS" && tokens[2]?.text === "=" && w(3) === "TRUE") return;
      return refuse(`${where}: only PRAGMA defer_foreign_keys=TRUE belongs in a dump`);
    }
    if (w(0) === "CREATE" && w(1) === "TABLE") {
      const read = readCreateTable(tokens);
      const table = read && schema.tables.get(read.name);
      if (!read || !table) return refuse(`${where}: a table that is not in our schema`);
      if (state.tables.has(table.name)) return refuse(`${where}: table ${table.name} created twice`);
      const mine = isWord(tokens[2], "IF") ? [...tokens.slice(0, 2), ...tokens.slice(5)] : tokens;
      if (!sameTokens(mine, table.tokens))
        return refuse(`${where}: table ${table.name} is not defined as our migrations define it`);
      state.tables.set(table.name, { schema: table, create: sql, rows: new Map() });
      return;
    }
    if (w(0) === "CREATE" && (w(1) === "INDEX" || w(1) === "UNIQUE")) {
      const nameAt = w(1) === "UNIQUE" ? 3 : 2;
      const name = nameOf(isWord(tokens[nameAt], "IF") ? tokens[nameAt + 3] : tokens[nameAt]) ?? "";
      const index = schema.indexes.get(name);
      const mine = isWord(tokens[nameAt], "IF") ? [...tokens.slice(0, nameAt), ...tokens.slice(nameAt + 3)] : tokens;
      if (!index || !sameTokens(mine, index.tokens)) return refuse(`${where}: an index that is not in our schema`);
      state.indexes.push(sql);
      return;
    }
    if (w(0) === "DELETE" && w(1) === "FROM" && nameOf(tokens[2]) === "sqlite_sequence" && tokens.length === 3) return;
    if (w(0) === "INSERT" && w(1) === "INTO") {
      const name = nameOf(tokens[2]) ?? "";
      let valuesAt = 3;
      if (tokens[3]?.text === "(") valuesAt = tokens.findIndex((t, i) => i > 3 && t.text === ")") + 1;
      const rows = readTuples(tokens, valuesAt);
      if (!rows) return refuse(`${where}: an INSERT that is not rows of literal values`);
      if (name === "sqlite_sequence") {
        for (const row of rows) {
          if (
            row.length !== 2 ||
            typeof row[0] !== "string" ||
            typeof row[1] !== "number" ||
            !schema.tables.has(row[0])
          )
            return refuse(`${where}: a sqlite_sequence row for no table of ours`);
          state.sequences.push([row[0], row[1]]);
        }
        return;
      }
      const table = state.tables.get(name);
      if (!table) return refuse(`${where}: rows for table ${name}, which the dump did not create as ours`);
      if (valuesAt !== 3) {
        const listed = tokens
          .slice(4, valuesAt - 1)
          .filter((t) => t.text !== ",")
          .map(nameOf);
        if (listed.join() !== table.schema.columns.join())
          return refuse(`${where}: a column list that is not the table's`);
      }
      for (const row of rows) {
        if (row.length !== table.schema.columns.length)
          return refuse(`${where}: ${row.length} values for the ${table.schema.columns.length} columns of ${name}`);
        table.rows.set(keyOf(table.schema, row, table.rows.size), row);
      }
      return;
    }
    return refuse(`${where}: not a statement a dump of our schema has`);
  });
  for (const table of DATABASES[database].tables)
    if (!state.tables.has(table)) refuse(`it does not hold the ${database} database (no ${table} table)`);
  return state;
}
