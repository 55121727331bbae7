/**
 * What a D1 dump holds, read from its SQL text: the format of `wrangler d1 export` (one
 * `INSERT INTO "table" VALUES(...)` per row), which `wrangler d1 execute --file` restores.
 */

import { z } from "zod";
import { allRows } from "../db/rows";
import { quoteIdent, sqlLiteral } from "./sql-text";

export { sqlLiteral };

export const DATABASES = {
  tokens: { binding: "TOKENS_DB", tables: ["tokens", "shops", "pages"] },
  sessions: { binding: "SESSIONS_DB", tables: ["sessions", "oauth_states"] },
} as const;

export type DatabaseName = keyof typeof DATABASES;

export const isDatabaseName = (name: string): name is DatabaseName => name in DATABASES;

export interface DumpFacts {
  /** Rows per table (d1_migrations and sqlite_sequence included). */
  tables: Record<string, number>;
  /** Tables created by the dump. */
  created: string[];
  /** The last migration applied, from d1_migrations. */
  migration: string | null;
}

/** Reads a dump's text in chunks (lines may span chunks), counting rows and tables. */
export class DumpReader {
  private rest = "";
  private readonly facts: DumpFacts = { tables: {}, created: [], migration: null };

  push(text: string): void {
    const lines = (this.rest + text).split("\n");
    this.rest = lines.pop() ?? "";
    for (const line of lines) this.line(line);
  }

  finish(): DumpFacts {
    if (this.rest) this.line(this.rest);
    this.rest = "";
    return this.facts;
  }

  private line(line: string) {
    const insert = /^INSERT INTO "?([A-Za-z0-9_]+)"? VALUES\(/.exec(line);
    if (insert) {
      const table = insert[1]!;
      this.facts.tables[table] = (this.facts.tables[table] ?? 0) + 1;
      if (table === "d1_migrations") {
        const name = /^INSERT INTO "?d1_migrations"? VALUES\(\d+,'([^']+)'/.exec(line)?.[1];
        if (name) this.facts.migration = name;
      }
      return;
    }
    const create = /^CREATE TABLE (?:IF NOT EXISTS )?"?([A-Za-z0-9_]+)"?/.exec(line);
    if (create) {
      this.facts.created.push(create[1]!);
      this.facts.tables[create[1]!] ??= 0;
    }
  }
}

export function readDump(text: string): DumpFacts {
  const reader = new DumpReader();
  reader.push(text);
  return reader.finish();
}

/** The database a dump belongs to, by the tables it creates; null for anything else. */
export function databaseOfDump(facts: DumpFacts): DatabaseName | null {
  for (const [name, spec] of Object.entries(DATABASES) as [DatabaseName, (typeof DATABASES)[DatabaseName]][]) {
    if (spec.tables.every((t) => facts.created.includes(t))) return name;
  }
  return null;
}

/**
 * A dump of a D1 database made from inside the worker, in the layout of `wrangler d1 export`:
 * for local development, where the D1 export REST API is not there. Yields SQL text in pieces.
 */
export async function* dumpD1(db: D1Database, pageSize = 500): AsyncGenerator<string> {
  yield "PRAGMA defer_foreign_keys=TRUE;\n";
  const objects = await allRows(
    db.prepare(
      `SELECT type, name, sql FROM sqlite_master
       WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'
       ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, CASE name WHEN 'd1_migrations' THEN 0 ELSE 1 END, rowid`,
    ),
    z.object({ type: z.string(), name: z.string(), sql: z.string() }),
  );
  for (const table of objects.filter((o) => o.type === "table")) {
    yield `${table.sql};\n`;
    for (let offset = 0; ; offset += pageSize) {
      const { results } = await db
        .prepare(`SELECT * FROM ${quoteIdent(table.name)} ORDER BY rowid LIMIT ?1 OFFSET ?2`)
        .bind(pageSize, offset)
        .raw()
        .then((rows) => ({ results: rows }));
      let text = "";
      for (const row of results)
        text += `INSERT INTO ${quoteIdent(table.name)} VALUES(${row.map(sqlLiteral).join(",")});\n`;
      if (text) yield text;
      if (results.length < pageSize) break;
    }
  }
  const sequences = await db
    .prepare("SELECT name, seq FROM sqlite_sequence")
    .raw()
    .catch(() => [] as unknown[][]);
  if (sequences.length) {
    yield "DELETE FROM sqlite_sequence;\n";
    for (const row of sequences) yield `INSERT INTO "sqlite_sequence" VALUES(${row.map(sqlLiteral).join(",")});\n`;
  }
  for (const other of objects.filter((o) => o.type !== "table")) yield `${other.sql};\n`;
}
