import { z } from "zod";
import { firstRowOf } from "../db/rows";
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
  /**
   * The entry's number in the journal (from D1's `journal_sequence`): a restore refuses a journal
   * with a number missing. Entries written before the sequence existed have none.
   */
  seq?: number;
  changes: RowChange[];
}

const journalKey = (at: number) => `${JOURNAL_PREFIX}${stampOf(at)}-${randomHex(4)}.json`;

/** The time of a journal key (from its name), or null for any other key. */
export function journalKeyTime(key: string): number | null {
  const m = /^backups\/journal\/tokens\/(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-[0-9a-f]+\.json$/.exec(key);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!) : null;
}

/**
 * Reads the current rows of these keys, as journal changes, and takes the entry's number from the
 * sequence in the same batch (one round trip).
 */
async function snapshotRows(db: D1Database, refs: RowRef[]): Promise<{ seq: number; changes: RowChange[] }> {
  const results = await db.batch([
    db.prepare("UPDATE journal_sequence SET next = next + 1 WHERE id = 1 RETURNING next - 1 AS seq"),
    ...refs.map(({ table, key }) => {
      const where = JOURNALED_TABLES[table].map((column, i) => `${column} = ?${i + 1}`).join(" AND ");
      return db.prepare(`SELECT * FROM ${table} WHERE ${where}`).bind(...keyValues(key));
    }),
  ]);
  const seq = firstRowOf(results[0], z.object({ seq: z.number() }))?.seq;
  if (seq === undefined) throw new Error("the journal sequence is missing (migration 0011 not applied?)");
  return {
    seq,
    changes: refs.map((ref, i) => ({
      ...ref,
      row: firstRowOf(results[i + 1], z.record(z.string(), journalValue)) ?? null,
    })),
  };
}

/** Writes one signed journal entry; the caller decides what to do if Spaces fails. */
export async function writeJournal(spaces: Spaces, auth: BackupAuth, entry: JournalEntry): Promise<string> {
  const key = journalKey(entry.at);
  const payload: JournalEntry = { format: 2, at: entry.at, seq: entry.seq, changes: entry.changes };
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
  const entry: JournalEntry = { format: 2, at: Date.now(), ...(await snapshotRows(env.TOKENS_DB, refs)) };
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

const COLUMN_NAME = /^[a-z_][a-z0-9_]*$/;

const journalValue = z.union([z.string(), z.number().finite(), z.null()], {
  error: (issue) => `holds a ${typeof issue.input}, not a value D1 stores`,
});

const journalTable = z
  .string({ error: (issue) => `table ${JSON.stringify(issue.input)} is not a journaled table` })
  .refine(isJournalTable, {
    error: (issue) => `table ${JSON.stringify(issue.input)} is not a journaled table`,
  });

/** The journaled tables whose key is one column (a change names its row by one string). */
type OneColumnTable = { [T in JournalTable]: JournalKey<T> extends string ? T : never }[JournalTable];

const hasOneColumnKey = (table: JournalTable): table is OneColumnTable => JOURNALED_TABLES[table].length === 1;

/** One change as stored: its table, its key (one string, or one per key column) and the row or null. */
const changeSchema = z
  .strictObject({
    table: journalTable,
    key: z.union([z.string(), z.array(z.string())], { error: "a change without a string key" }),
    row: z
      .record(
        z
          .string()
          .regex(COLUMN_NAME, { error: (issue) => `column ${JSON.stringify(issue.input)} is not a column name` }),
        journalValue,
        { error: (issue) => (issue.input === undefined ? "a change without a row" : "its row is not an object") },
      )
      .nullable(),
  })
  .superRefine((change, ctx) => {
    // Runs even when a field failed: only a known table has key columns to check.
    if (!isJournalTable(change.table)) return;
    const table = change.table;
    const columns = JOURNALED_TABLES[table];
    const key = change.key;
    const fits = columns.length === 1 ? typeof key === "string" : Array.isArray(key) && key.length === columns.length;
    if (!fits) {
      ctx.addIssue({
        code: "custom",
        message:
          columns.length === 1
            ? "a change without a string key"
            : `a change of ${table} without its key as ${columns.length} strings (${columns.join(", ")})`,
      });
      return;
    }
    const row = change.row;
    if (row === null) return;
    const values = keyValues(key);
    if (columns.some((column, i) => !Object.hasOwn(row, column) || row[column] !== values[i]))
      ctx.addIssue({
        code: "custom",
        message: `the row's ${columns.join(", ")} is not the change's key ${keyText(key)}`,
      });
  })
  .transform((change, ctx): RowChange => {
    // The key typed as its table's, which the check above made sure it is.
    const { table, key, row } = change;
    if (isJournalTable(table)) {
      if (hasOneColumnKey(table)) {
        if (typeof key === "string") return { table, key, row };
      } else if (Array.isArray(key)) {
        const [first, second, ...rest] = key;
        if (first !== undefined && second !== undefined && !rest.length) return { table, key: [first, second], row };
      }
    }
    ctx.addIssue({ code: "custom", message: `a change of ${table} without its key` });
    return z.NEVER;
  });

/** A journal object as stored: the signed entry and its `auth`. */
const storedEntrySchema = z.strictObject({
  format: z.literal(2, {
    error: (issue) => `format ${JSON.stringify(issue.input)} is not a signed journal entry (format 2)`,
  }),
  at: z.number({ error: "it has no time" }).finite({ error: "it has no time" }),
  seq: z.number().int().positive().optional(),
  changes: z.array(changeSchema, { error: "it has no list of changes" }),
  auth: z.unknown().optional(),
});

/** The reason of the first problem zod found, worded for the operator (`change N: ...`). */
function firstProblem(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const where = issue.path[0] === "changes" && typeof issue.path[1] === "number" ? `change ${issue.path[1] + 1}: ` : "";
  if (issue.code === "invalid_key") return `${where}${issue.issues[0]?.message ?? issue.message}`;
  if (issue.code === "unrecognized_keys")
    return `${where}${where ? "a change with an " : ""}unexpected field ${JSON.stringify(issue.keys[0])}`;
  return `${where}${issue.message}`;
}

/** A row change of a journaled table, as a journal entry (or a `journal.write` job) holds it. */
export const isRowChange = (change: unknown): change is RowChange => changeSchema.safeParse(change).success;

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
  if (typeof value !== "object" || value === null || Array.isArray(value)) return refuse("it is not a journal entry");
  const parsed = storedEntrySchema.safeParse(value);
  if (!parsed.success) return refuse(firstProblem(parsed.error));
  const { auth: given, ...stored } = parsed.data;
  if (journalKeyTime(objectKey) !== stored.at) return refuse("its time is not the time in its name");
  const entry: JournalEntry = {
    format: 2,
    at: stored.at,
    ...(stored.seq === undefined ? {} : { seq: stored.seq }),
    changes: stored.changes,
  };
  const problem = await auth.problem(objectKey, entry, Object.hasOwn(value, "auth") ? given : undefined);
  if (problem) refuse(problem);
  return entry;
}
