import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Miniflare } from "miniflare";
import { parse } from "smol-toml";
import { z } from "zod";
import { DATABASES, type DatabaseName } from "../../src/backup/dump.ts";
import type { SqlValue } from "../../src/backup/sql-text.ts";
import { ROOT } from "../../dev/local-stack.ts";

/**
 * Local D1 databases opened the way `wrangler d1 execute --local` opens them (Miniflare on
 * `<state>/v3/d1`, each database under its id in wrangler.toml), but from this process: a restore
 * runs its statements as it made them (wrangler would start a process and split the file back into
 * statements) and reads rows back as values (wrangler prints them as JSON, which is then parsed).
 * At 100,000 tokens that is most of a local restore's time.
 */

const wranglerD1 = z.object({
  d1_databases: z.array(
    z.object({ binding: z.string(), database_id: z.string(), preview_database_id: z.string().optional() }),
  ),
});

/** The id a local database is kept under: wrangler's choice (the preview id when there is one). */
function localDatabaseId(database: DatabaseName): string {
  const toml = wranglerD1.parse(parse(readFileSync(join(ROOT, "wrangler.toml"), "utf8")));
  const binding = DATABASES[database].binding;
  const entry = toml.d1_databases.find((d) => d.binding === binding);
  if (!entry) throw new Error(`wrangler.toml has no D1 database bound as ${binding}`);
  return entry.preview_database_id ?? entry.database_id;
}

/** Opens the local databases of a state folder (wrangler's --persist-to, default .wrangler/state). */
async function openLocal(persistTo: string, databases: DatabaseName[]) {
  const mf = new Miniflare({
    modules: true,
    script: "",
    d1Persist: join(persistTo, "v3", "d1"),
    d1Databases: Object.fromEntries(databases.map((d) => [d, localDatabaseId(d)])),
    // workerd's own warnings about its internal tables are noise in a restore's output.
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      // Not piped: a pipe per instance would leave its listeners on process.stdout.
      stdout.on("data", (chunk: Buffer) => process.stdout.write(chunk));
      stderr.on("data", (chunk: Buffer) => {
        const text = chunk
          .toString("utf8")
          .split("\n")
          .filter((line) => !line.includes("excessive collisions in hash table"))
          .join("\n");
        if (text.trim()) process.stderr.write(text);
      });
    },
  });
  return { mf, db: (database: DatabaseName) => mf.getD1Database(database) };
}

export const defaultStateDir = () => join(ROOT, ".wrangler", "state");

/** Runs `statements` on a local database as one batch (one transaction, as wrangler does with a file). */
export async function executeLocal(database: DatabaseName, statements: string[], persistTo = defaultStateDir()) {
  const { mf, db } = await openLocal(persistTo, [database]);
  try {
    const d1 = await db(database);
    await d1.batch(statements.map((s) => d1.prepare(s)));
  } finally {
    await mf.dispose();
  }
}

/** The rows of each `SELECT`, as arrays of values in the order the query names its columns. */
export async function readLocal(
  database: DatabaseName,
  queries: string[],
  persistTo = defaultStateDir(),
): Promise<SqlValue[][][]> {
  const { mf, db } = await openLocal(persistTo, [database]);
  try {
    const d1 = await db(database);
    const results: SqlValue[][][] = [];
    for (const sql of queries) {
      const rows = await d1.prepare(sql).raw();
      results.push(rows.map((row) => row.map(sqlValueOf)));
    }
    return results;
  } finally {
    await mf.dispose();
  }
}

/**
 * A value read from D1 as the dump's reader has it: blobs as bytes (an ArrayBuffer from Miniflare,
 * an array of byte numbers in wrangler's JSON).
 */
export function sqlValueOf(v: unknown): SqlValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "number" || typeof v === "string") return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return new Uint8Array(v.map(Number));
  return String(v);
}
