import { sha256Hex } from "../lib/signatures";
import type { Spaces } from "../spaces/client";
import { isUnknownKeyReason, type BackupAuth } from "./auth";
import { DATABASES, type DatabaseName } from "./dump";
import { BackupRefused, parseDump, type DumpState } from "./dump-parse";
import { JOURNAL_PREFIX, journalKeyTime, parseJournal, type JournalEntry } from "./journal";
import {
  backupPrefix,
  checkDump,
  parseManifestKey,
  readManifest,
  stampTime,
  type Manifest,
  type Shelf,
} from "./manifest";
import { applyJournal, stateFacts, type StateFacts } from "./restore-plan";
import { schemaFromMigrations, type Migration } from "./schema";

/**
 * What a restore will write, worked out from Spaces before anything live is touched: for each
 * database the newest backup before the moment asked for (or the latest, or a named one), its dump
 * parsed and checked against its signed manifest, then for tokens the signed journal replayed up
 * to that moment. Any object that is unauthenticated, altered or of a shape our schema does not
 * have stops the whole restore (BackupRefused names it).
 */

/** Journal entries this long before a dump's export are replayed too (they are idempotent). */
export const JOURNAL_OVERLAP_MS = 10 * 60 * 1000;

export interface RestorePlan {
  database: DatabaseName;
  manifest: Manifest;
  state: DumpState;
  /** Journal entries replayed, and the time of the newest. */
  journalEntries: number;
  journalNewest: number | null;
  facts: StateFacts;
  /** Newer manifests passed over because they do not verify (an unsigned or altered object). */
  skipped: { key: string; reason: string }[];
}

export interface RestoreChoice {
  /** Restore the state of this moment (ms). */
  at?: number;
  /** A backup's stamp or key, instead of the newest. */
  from?: string;
  databases?: DatabaseName[];
  /** False: the dump alone, without the journal (to verify a backup). */
  journal?: boolean;
  /** "undo": the state the last restore replaced (its dump alone), instead of a backup. */
  shelf?: Shelf;
}

/**
 * The manifest to restore from. A named one must verify, or the restore is refused. Otherwise the
 * newest that verifies: an object anyone with the Spaces key could write (unsigned, altered, with a
 * stamp from the future) is passed over and reported, never allowed to block the restore.
 */
async function chooseManifest(
  store: Spaces,
  auth: BackupAuth,
  database: DatabaseName,
  choice: RestoreChoice,
): Promise<{ key: string; manifest: Manifest; skipped: RestorePlan["skipped"] }> {
  const shelf = choice.shelf ?? "d1";
  const prefix = backupPrefix(database, shelf);
  const keys = (await store.listKeys(prefix))
    .filter((k) => {
      const parsed = parseManifestKey(k);
      return parsed?.database === database && parsed.shelf === shelf;
    })
    .sort();
  const read = async (key: string) => readManifest(key, await store.getText(key), auth);
  if (choice.from) {
    const wanted = choice.from.endsWith(".sql") ? choice.from.replace(/\.sql$/, ".manifest.json") : choice.from;
    const match = keys.find((k) => k === wanted || parseManifestKey(k)?.stamp === choice.from);
    if (!match) throw new BackupRefused(prefix, `no ${database} backup matches ${choice.from}`);
    return { key: match, manifest: await read(match), skipped: [] };
  }
  const eligible =
    choice.at === undefined ? keys : keys.filter((k) => stampTime(parseManifestKey(k)!.stamp) <= choice.at!);
  const skipped: RestorePlan["skipped"] = [];
  for (const key of eligible.reverse()) {
    try {
      return { key, manifest: await read(key), skipped };
    } catch (err) {
      if (!(err instanceof BackupRefused)) throw err;
      skipped.push({ key, reason: err.reason });
    }
  }
  const what = shelf === "undo" ? `state replaced by a restore of ${database} to put back` : `backup of ${database}`;
  const none =
    choice.at === undefined
      ? `there is no ${what}`
      : `there is no ${what} from before ${new Date(choice.at).toISOString()}`;
  throw new BackupRefused(
    prefix,
    skipped.length ? `${none} that verifies (${skipped.map((s) => `${s.key}: ${s.reason}`).join("; ")})` : none,
  );
}

/** How far past the moment asked for the journal is read to check it has no gap (clocks of isolates differ). */
const GAP_CHECK_MARGIN_MS = 60_000;

/**
 * Reads and authenticates the journal entries written from `since` to `until`, 16 at a time.
 * Entries from before `redundantBefore` (the dump's export: their rows are in it already) that
 * were signed with a key no longer configured are skipped, not refused: after `rotate-key` and
 * the backup that follows it, the old key is not needed for a restore of that backup.
 */
export async function readJournalRange(
  store: Spaces,
  auth: BackupAuth,
  since: number,
  until: number,
  redundantBefore = since,
) {
  const keys = (await store.listKeys(JOURNAL_PREFIX))
    .filter((k) => {
      const at = journalKeyTime(k);
      return at !== null && at >= since && at <= until;
    })
    .sort();
  const out: { key: string; entry: JournalEntry }[] = [];
  for (let i = 0; i < keys.length; i += 16) {
    const batch = await Promise.all(
      keys.slice(i, i + 16).map(async (key) => {
        const text = await store.getText(key);
        if (text === null) throw new BackupRefused(key, "it disappeared while being read");
        try {
          return { key, entry: await parseJournal(key, text, auth) };
        } catch (err) {
          const at = journalKeyTime(key)!;
          if (err instanceof BackupRefused && at < redundantBefore && isUnknownKeyReason(err.reason)) return null;
          throw err;
        }
      }),
    );
    for (const item of batch) if (item) out.push(item);
  }
  return out;
}

/**
 * Refuses a journal with an entry missing: every number from the dump's next one (`from`, read
 * from its journal_sequence) to the newest entry read must be there. Entries written before the
 * sequence existed carry no number and are not counted. A missing newest entry cannot be told from
 * one never written: docs/recovery.md says what that leaves.
 */
export function journalGap(entries: { entry: JournalEntry }[], from: number | null): number[] {
  const seqs = new Set(entries.flatMap((e) => (e.entry.seq === undefined ? [] : [e.entry.seq])));
  if (!seqs.size) return [];
  const newest = Math.max(...seqs);
  const first = from ?? Math.min(...seqs);
  const missing: number[] = [];
  for (let n = first; n <= newest && missing.length < 20; n++) if (!seqs.has(n)) missing.push(n);
  return missing;
}

/** The journal_sequence's next number in a parsed dump, or null when the dump has no such table. */
function dumpSequence(state: DumpState): number | null {
  const row = state.tables.get("journal_sequence")?.rows.values().next().value;
  return typeof row?.[1] === "number" ? row[1] : null;
}

/** After a replay the sequence goes on past every entry read, so new entries never reuse a number. */
function advanceSequence(state: DumpState, entries: { entry: JournalEntry }[]) {
  const table = state.tables.get("journal_sequence");
  const row = table?.rows.values().next().value;
  if (!table || !row) return;
  const newest = Math.max(0, ...entries.map((e) => e.entry.seq ?? 0));
  if (typeof row[1] === "number" && row[1] <= newest) row[1] = newest + 1;
}

export async function planRestore(
  store: Spaces,
  auth: BackupAuth,
  migrations: Partial<Record<DatabaseName, Migration[]>>,
  choice: RestoreChoice = {},
): Promise<RestorePlan[]> {
  const plans: RestorePlan[] = [];
  for (const database of choice.databases ?? (Object.keys(DATABASES) as DatabaseName[])) {
    const ours = migrations[database];
    if (!ours) throw new Error(`no migrations given for ${database}`);
    const { manifest, skipped } = await chooseManifest(store, auth, database, choice);
    const text = await store.getText(manifest.dump_key);
    if (text === null) throw new BackupRefused(manifest.dump_key, "the dump is missing");
    const bytes = new TextEncoder().encode(text);
    const problems = checkDump(manifest, bytes, await sha256Hex(bytes), database);
    if (problems.length) throw new BackupRefused(manifest.dump_key, problems.join("; "));
    const state = parseDump(text, database, ours, manifest.dump_key);
    let journalEntries = 0;
    let journalNewest: number | null = null;
    if (database === "tokens" && choice.journal !== false && (choice.shelf ?? "d1") === "d1") {
      const until = choice.at ?? Number.MAX_SAFE_INTEGER;
      const read = await readJournalRange(
        store,
        auth,
        manifest.exported_at - JOURNAL_OVERLAP_MS,
        Math.min(Number.MAX_SAFE_INTEGER, until + GAP_CHECK_MARGIN_MS),
        manifest.exported_at,
      );
      const missing = journalGap(read, dumpSequence(state));
      if (missing.length)
        throw new BackupRefused(
          JOURNAL_PREFIX,
          `the journal has a gap: entry ${missing.join(", ")} is missing (deleted, or still in the queue or the dead jobs)`,
        );
      const entries = read.filter((e) => e.entry.at <= until);
      journalEntries = applyJournal(state, entries, until, schemaFromMigrations(ours));
      journalNewest = entries.reduce<number | null>((n, e) => (n === null || e.entry.at > n ? e.entry.at : n), null);
      advanceSequence(state, read);
    }
    plans.push({ database, manifest, state, journalEntries, journalNewest, facts: await stateFacts(state), skipped });
  }
  return plans;
}
