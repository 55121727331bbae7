import { replaySql, type JournalEntry } from "./journal";

/** Rows per INSERT and bytes per statement when a dump is compacted (D1 allows 100 KB a statement). */
const ROWS_PER_INSERT = 100;
const BYTES_PER_INSERT = 50_000;

const SINGLE_ROW = /^INSERT INTO ("?[A-Za-z0-9_]+"?) VALUES(\(.*\));$/;

/**
 * Joins runs of one-row INSERTs of the same table into multi-row INSERTs: a restore of 10,000
 * tokens then runs about 100 statements instead of 10,000. Lines that are not a whole one-row
 * INSERT on their own (a value with a line break in it, say) are kept as they are.
 */
export function compactInserts(dumpText: string): string {
  const out: string[] = [];
  let table: string | null = null;
  let rows: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (table && rows.length) out.push(`INSERT INTO ${table} VALUES${rows.join(",")};`);
    table = null;
    rows = [];
    bytes = 0;
  };
  for (const line of dumpText.split("\n")) {
    const m = SINGLE_ROW.exec(line);
    const whole = m !== null && (line.match(/'/g)?.length ?? 0) % 2 === 0;
    if (!whole) {
      flush();
      out.push(line);
      continue;
    }
    if (table !== m[1] || rows.length >= ROWS_PER_INSERT || bytes + line.length > BYTES_PER_INSERT) flush();
    table = m[1]!;
    rows.push(m[2]!);
    bytes += line.length;
  }
  flush();
  return out.join("\n");
}

/**
 * The SQL that replaces a live database with a dump, then replays the journal: every table now in
 * the database is dropped first, so restoring into a database that still exists replaces it
 * cleanly, and restoring the same backup twice gives the same database.
 */
export function restoreSql(dumpText: string, liveTables: string[], journal: JournalEntry[] = []): string {
  const drops = liveTables
    .filter((t) => /^[A-Za-z0-9_]+$/.test(t) && !t.startsWith("sqlite_") && !t.startsWith("_cf_"))
    .map((t) => `DROP TABLE IF EXISTS "${t}";`);
  const body = compactInserts(dumpText.replace(/^PRAGMA defer_foreign_keys=TRUE;\n/, ""));
  return (
    ["PRAGMA defer_foreign_keys=TRUE;", ...drops, body.trimEnd(), replaySql(journal).trimEnd()]
      .filter(Boolean)
      .join("\n") + "\n"
  );
}
