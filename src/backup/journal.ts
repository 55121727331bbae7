import { describeError, log } from "../lib/log";
import { randomHex } from "../lib/encoding";
import type { Spaces } from "../storage/spaces";
import { sqlLiteral } from "./dump";

/**
 * The token journal: every change to a token or to a shop or page link is written at once to
 * `backups/journal/tokens/<time>-<random>.json` as the changed rows (token values stay encrypted).
 * A restore replays it after the dump, so a token written a second before the databases are lost
 * survives.
 */

export const JOURNAL_PREFIX = "backups/journal/tokens/";

const COLUMNS = {
  tokens: ["key", "value", "refresh_token", "expires_at", "refresh_expires_at", "scope", "status", "updated_at"],
  shops: ["shop", "user_uuid", "installed_at", "uninstalled_at"],
  pages: ["page_id", "user_uuid", "name", "linked_at"],
} as const;

export type JournalTable = keyof typeof COLUMNS;
const PRIMARY: Record<JournalTable, string> = { tokens: "key", shops: "shop", pages: "page_id" };

/** One row after a change; `row: null` means it was deleted. */
export interface RowChange {
  table: JournalTable;
  key: string;
  row: Record<string, string | number | null> | null;
}

export interface JournalEntry {
  format: 1;
  at: number;
  changes: RowChange[];
}

const journalKey = (at: number) =>
  `${JOURNAL_PREFIX}${new Date(at).toISOString().replace(/[-:.]/g, "")}-${randomHex(4)}.json`;

/** The time of a journal key (from its name), or null for any other key. */
export function journalKeyTime(key: string): number | null {
  const m = /^backups\/journal\/tokens\/(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-[0-9a-f]+\.json$/.exec(key);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!) : null;
}

/** Reads the current rows of these keys, as journal changes. */
async function snapshotRows(db: D1Database, refs: { table: JournalTable; key: string }[]): Promise<RowChange[]> {
  const rows = await db.batch(
    refs.map(({ table, key }) =>
      db.prepare(`SELECT ${COLUMNS[table].join(", ")} FROM ${table} WHERE ${PRIMARY[table]} = ?1`).bind(key),
    ),
  );
  return refs.map((ref, i) => ({ ...ref, row: (rows[i]!.results[0] as RowChange["row"]) ?? null }));
}

/** Writes one journal entry; the caller decides what to do if Spaces fails. */
export async function writeJournal(spaces: Spaces, entry: JournalEntry): Promise<string> {
  const key = journalKey(entry.at);
  await spaces.put(key, JSON.stringify(entry));
  return key;
}

/**
 * Journals the current state of these rows. If Spaces fails, or has not answered within
 * `deadlineMs` (a webhook's answer must not wait on Spaces), the entry goes to the queue and is
 * written from there, so it is not lost. Writing an entry twice is harmless: replay is idempotent.
 */
export async function journalRows(
  env: { TOKENS_DB: D1Database; JOBS: Queue },
  spaces: () => Spaces,
  refs: { table: JournalTable; key: string }[],
  deadlineMs?: number,
): Promise<void> {
  const entry: JournalEntry = { format: 1, at: Date.now(), changes: await snapshotRows(env.TOKENS_DB, refs) };
  try {
    const write = writeJournal(spaces(), entry);
    if (deadlineMs === undefined) await write;
    else {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Spaces did not answer within ${deadlineMs} ms`)), deadlineMs);
      });
      await Promise.race([write, late]).finally(() => clearTimeout(timer));
    }
  } catch (err) {
    log.warn(`Journal write failed, queued: ${describeError(err)}`, { rows: refs.length });
    await env.JOBS.send({ type: "journal.write", entry }, { contentType: "json" });
  }
}

function validChange(change: RowChange): boolean {
  const columns = COLUMNS[change.table] as readonly string[] | undefined;
  if (!columns || typeof change.key !== "string") return false;
  if (change.row === null) return true;
  return Object.keys(change.row).every((c) => columns.includes(c)) && change.row[PRIMARY[change.table]] === change.key;
}

/** Parses a journal object; throws for anything that is not a journal entry of this worker. */
export function parseJournal(text: string): JournalEntry {
  const entry = JSON.parse(text) as JournalEntry;
  if (
    entry?.format !== 1 ||
    typeof entry.at !== "number" ||
    !Array.isArray(entry.changes) ||
    !entry.changes.every(validChange)
  ) {
    throw new Error("not a journal entry");
  }
  return entry;
}

/** SQL that replays journal entries in time order: each row ends as its last entry left it. */
export function replaySql(entries: JournalEntry[]): string {
  const lines: string[] = [];
  for (const entry of [...entries].sort((a, b) => a.at - b.at)) {
    for (const change of entry.changes) {
      if (!validChange(change)) continue;
      if (change.row === null) {
        lines.push(`DELETE FROM ${change.table} WHERE ${PRIMARY[change.table]} = ${sqlLiteral(change.key)};`);
      } else {
        const columns = Object.keys(change.row);
        lines.push(
          `INSERT OR REPLACE INTO ${change.table} (${columns.join(", ")}) VALUES (${columns.map((c) => sqlLiteral(change.row![c])).join(", ")});`,
        );
      }
    }
  }
  return lines.join("\n") + (lines.length ? "\n" : "");
}
