import { replaySql, type JournalEntry } from "./journal";

/**
 * The SQL that replaces a live database with a dump, then replays the journal: every table now in
 * the database is dropped first, so restoring into a database that still exists replaces it
 * cleanly, and restoring the same backup twice gives the same database.
 */
export function restoreSql(dumpText: string, liveTables: string[], journal: JournalEntry[] = []): string {
  const drops = liveTables
    .filter((t) => /^[A-Za-z0-9_]+$/.test(t) && !t.startsWith("sqlite_") && !t.startsWith("_cf_"))
    .map((t) => `DROP TABLE IF EXISTS "${t}";`);
  const body = dumpText.replace(/^PRAGMA defer_foreign_keys=TRUE;\n/, "");
  return (
    ["PRAGMA defer_foreign_keys=TRUE;", ...drops, body.trimEnd(), replaySql(journal).trimEnd()]
      .filter(Boolean)
      .join("\n") + "\n"
  );
}
