import { describeError, log } from "../lib/log";
import { randomHex } from "../lib/encoding";
import type { Spaces } from "../spaces/client";
import { backupAuth, type BackupAuth } from "./auth";
import { BackupRefused } from "./dump-parse";
import { stampOf } from "./manifest";
import { primaryKeyText } from "./schema";

/**
 * The token journal: every change to a token, a shop or page link, or a Meta login's record (who
 * granted which page, deletion requests) is written at once to
 * `backups/journal/tokens/<time>-<random>.json` as the changed rows (token values stay encrypted),
 * signed (./auth.ts). A restore replays it after the dump, up to the moment asked for, so a token
 * written a second before the databases are lost survives and any moment can be restored.
 */

export const JOURNAL_PREFIX = "backups/journal/tokens/";

/**
 * The journaled tables and their primary key columns. Adding a journaled table is one line here;
 * its columns come from the row itself (`SELECT *`) and are checked against the migrations on
 * restore. A change names its row by the key's value (a string) when the key is one column, as
 * every entry has since format 2, and by the list of the values, in this order, when it is several.
 */
export const JOURNALED_TABLES = {
  tokens: ["key"],
  shops: ["shop"],
  pages: ["page_id"],
  facebook_users: ["facebook_user_id"],
  facebook_user_accounts: ["facebook_user_id", "user_uuid"],
  facebook_page_grants: ["page_id", "facebook_user_id"],
  facebook_deletions: ["code"],
} as const satisfies Record<string, readonly [string, ...string[]]>;

export type JournalTable = keyof typeof JOURNALED_TABLES;

export const isJournalTable = (table: unknown): table is JournalTable =>
  typeof table === "string" && Object.hasOwn(JOURNALED_TABLES, table);

type KeyOf<Columns extends readonly string[]> = Columns extends readonly [string]
  ? string
  : { -readonly [I in keyof Columns]: string };

/** How a change names its row: the key's value, or one value per column of a longer key. */
export type JournalKey<T extends JournalTable> = KeyOf<(typeof JOURNALED_TABLES)[T]>;

/** A journaled row: its table and primary key. */
export type RowRef = { [T in JournalTable]: { table: T; key: JournalKey<T> } }[JournalTable];

/**
 * Journals the current state of these rows (after a write committed), waiting at most `deadlineMs`
 * for Spaces. What the stores are given to journal their writes with.
 */
export type RowJournal = (refs: RowRef[], deadlineMs?: number) => Promise<void>;

/**
 * How long a platform's callback (a webhook, Meta's deauthorize or deletion request) waits for its
 * journal entry to reach Spaces before queueing it instead: the platform wants its answer at once.
 */
export const CALLBACK_JOURNAL_DEADLINE_MS = 1000;

/** The values of a key, in the order of the table's key columns. */
export const keyValues = (key: string | readonly string[]): string[] => (typeof key === "string" ? [key] : [...key]);

/** A key as one string, as a dump's rows are kept (see primaryKeyText). */
export const keyText = (key: string | readonly string[]): string => primaryKeyText(keyValues(key));

export type JournalValue = string | number | null;

/** One row after a change; `row: null` means it was deleted. */
export type RowChange = RowRef & { row: Record<string, JournalValue> | null };

export interface JournalEntry {
  format: 2;
  at: number;
  changes: RowChange[];
}

const journalKey = (at: number) => `${JOURNAL_PREFIX}${stampOf(at)}-${randomHex(4)}.json`;

/** The time of a journal key (from its name), or null for any other key. */
export function journalKeyTime(key: string): number | null {
  const m = /^backups\/journal\/tokens\/(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-[0-9a-f]+\.json$/.exec(key);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!) : null;
}

/** Reads the current rows of these keys, as journal changes. */
async function snapshotRows(db: D1Database, refs: RowRef[]): Promise<RowChange[]> {
  const rows = await db.batch(
    refs.map(({ table, key }) => {
      const where = JOURNALED_TABLES[table].map((column, i) => `${column} = ?${i + 1}`).join(" AND ");
      return db.prepare(`SELECT * FROM ${table} WHERE ${where}`).bind(...keyValues(key));
    }),
  );
  return refs.map((ref, i) => ({ ...ref, row: (rows[i]!.results[0] as RowChange["row"]) ?? null }));
}

/** Writes one signed journal entry; the caller decides what to do if Spaces fails. */
export async function writeJournal(spaces: Spaces, auth: BackupAuth, entry: JournalEntry): Promise<string> {
  const key = journalKey(entry.at);
  const payload: JournalEntry = { format: 2, at: entry.at, changes: entry.changes };
  await spaces.put(key, JSON.stringify({ ...payload, auth: await auth.sign(key, payload) }));
  return key;
}

/**
 * Journals the current state of these rows. If Spaces fails, or has not answered within
 * `deadlineMs` (a webhook's answer must not wait on Spaces), the entry goes to the queue and is
 * written from there, so it is not lost. Writing an entry twice is harmless: replay is idempotent.
 */
export async function journalRows(
  env: { TOKENS_DB: D1Database; JOBS: Queue; TOKEN_ENCRYPTION_KEY?: string },
  spaces: () => Spaces,
  refs: RowRef[],
  deadlineMs?: number,
): Promise<void> {
  const entry: JournalEntry = { format: 2, at: Date.now(), changes: await snapshotRows(env.TOKENS_DB, refs) };
  try {
    const write = backupAuth(env).then((auth) => writeJournal(spaces(), auth, entry));
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

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const COLUMN_NAME = /^[a-z_][a-z0-9_]*$/;

/** Null when `key` names a row of `table` (a string, or one string per key column); else why not. */
function keyProblem(table: JournalTable, key: unknown): string | null {
  const columns = JOURNALED_TABLES[table];
  if (columns.length === 1) return typeof key === "string" ? null : "a change without a string key";
  if (!Array.isArray(key) || key.length !== columns.length || !key.every((v) => typeof v === "string"))
    return `a change of ${table} without its key as ${columns.length} strings (${columns.join(", ")})`;
  return null;
}

/** Null when `change` is a row change of a journaled table; else why it is not. */
function changeProblem(change: unknown): string | null {
  if (!isPlainObject(change)) return "a change that is not an object";
  for (const field of Object.keys(change))
    if (!["table", "key", "row"].includes(field)) return `a change with an unexpected field ${JSON.stringify(field)}`;
  if (!Object.hasOwn(change, "table") || !isJournalTable(change.table))
    return `table ${JSON.stringify(change.table)} is not a journaled table`;
  const table = change.table;
  const badKey = keyProblem(table, Object.hasOwn(change, "key") ? change.key : undefined);
  if (badKey) return badKey;
  const key = change.key as string | string[];
  if (!Object.hasOwn(change, "row")) return "a change without a row";
  const row = change.row;
  if (row === null) return null;
  if (!isPlainObject(row)) return `the row of ${table} ${keyText(key)} is not an object`;
  for (const [column, value] of Object.entries(row)) {
    if (!COLUMN_NAME.test(column)) return `column ${JSON.stringify(column)} of ${table} is not a column name`;
    if (value !== null && typeof value !== "string" && !(typeof value === "number" && Number.isFinite(value)))
      return `column ${column} of ${table} ${keyText(key)} holds a ${typeof value}, not a value D1 stores`;
  }
  const columns = JOURNALED_TABLES[table];
  const values = keyValues(key);
  if (columns.some((column, i) => !Object.hasOwn(row, column) || row[column] !== values[i]))
    return `the row's ${columns.join(", ")} is not the change's key ${keyText(key)}`;
  return null;
}

/** A row change of a journaled table, as a journal entry (or a `journal.write` job) holds it. */
export const isRowChange = (change: unknown): change is RowChange => changeProblem(change) === null;

/**
 * Parses and authenticates a journal object read from `objectKey`. Throws BackupRefused naming the
 * object and the reason for anything that is not a signed journal entry of this worker.
 */
export async function parseJournal(objectKey: string, text: string, auth: BackupAuth): Promise<JournalEntry> {
  const refuse = (reason: string): never => {
    throw new BackupRefused(objectKey, reason);
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return refuse("it is not valid JSON");
  }
  if (!isPlainObject(value)) return refuse("it is not a journal entry");
  for (const field of Object.keys(value))
    if (!["format", "at", "changes", "auth"].includes(field)) refuse(`unexpected field ${JSON.stringify(field)}`);
  if (!Object.hasOwn(value, "format") || value.format !== 2)
    return refuse(`format ${JSON.stringify(value.format)} is not a signed journal entry (format 2)`);
  if (!Object.hasOwn(value, "at") || typeof value.at !== "number" || !Number.isFinite(value.at))
    return refuse("it has no time");
  if (journalKeyTime(objectKey) !== value.at) return refuse("its time is not the time in its name");
  if (!Object.hasOwn(value, "changes") || !Array.isArray(value.changes)) return refuse("it has no list of changes");
  value.changes.forEach((change, i) => {
    const problem = changeProblem(change);
    if (problem) refuse(`change ${i + 1}: ${problem}`);
  });
  const entry: JournalEntry = { format: 2, at: value.at, changes: value.changes as RowChange[] };
  const problem = await auth.problem(objectKey, entry, Object.hasOwn(value, "auth") ? value.auth : undefined);
  if (problem) refuse(problem);
  return entry;
}
