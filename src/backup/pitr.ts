import { sha256Hex } from "../lib/signatures";
import type { Spaces } from "../spaces/client";
import { isUnknownKeyReason, type BackupAuth } from "./auth";
import { DATABASES, type DatabaseName } from "./dump";
import { BackupRefused, parseDump, type DumpState } from "./dump-parse";
import { JOURNAL_PREFIX, journalKeyTime, parseJournal, type JournalEntry } from "./journal";
import { checkDump, parseManifestKey, readManifest, stampTime, type Manifest } from "./manifest";
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
}

export interface RestoreChoice {
  /** Restore the state of this moment (ms). */
  at?: number;
  /** A backup's stamp or key, instead of the newest. */
  from?: string;
  databases?: DatabaseName[];
  /** False: the dump alone, without the journal (to verify a backup). */
  journal?: boolean;
}

async function chooseManifest(store: Spaces, database: DatabaseName, choice: RestoreChoice): Promise<string> {
  const keys = (await store.listKeys(`backups/d1/${database}/`))
    .filter((k) => parseManifestKey(k)?.database === database)
    .sort();
  if (choice.from) {
    const wanted = choice.from.endsWith(".sql") ? choice.from.replace(/\.sql$/, ".manifest.json") : choice.from;
    const match = keys.find((k) => k === wanted || parseManifestKey(k)?.stamp === choice.from);
    if (!match) throw new BackupRefused(`backups/d1/${database}/`, `no ${database} backup matches ${choice.from}`);
    return match;
  }
  const eligible =
    choice.at === undefined ? keys : keys.filter((k) => stampTime(parseManifestKey(k)!.stamp) <= choice.at!);
  const chosen = eligible.at(-1);
  if (!chosen)
    throw new BackupRefused(
      `backups/d1/${database}/`,
      choice.at === undefined
        ? `there is no backup of ${database}`
        : `there is no backup of ${database} from before ${new Date(choice.at).toISOString()}`,
    );
  return chosen;
}

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

export async function planRestore(
  store: Spaces,
  auth: BackupAuth,
  migrations: Record<DatabaseName, Migration[]>,
  choice: RestoreChoice = {},
): Promise<RestorePlan[]> {
  const plans: RestorePlan[] = [];
  for (const database of choice.databases ?? (Object.keys(DATABASES) as DatabaseName[])) {
    const key = await chooseManifest(store, database, choice);
    const manifest = await readManifest(key, await store.getText(key), auth);
    const text = await store.getText(manifest.dump_key);
    if (text === null) throw new BackupRefused(manifest.dump_key, "the dump is missing");
    const bytes = new TextEncoder().encode(text);
    const problems = checkDump(manifest, bytes, await sha256Hex(bytes), database);
    if (problems.length) throw new BackupRefused(manifest.dump_key, problems.join("; "));
    const state = parseDump(text, database, migrations[database], manifest.dump_key);
    let journalEntries = 0;
    let journalNewest: number | null = null;
    if (database === "tokens" && choice.journal !== false) {
      const until = choice.at ?? Number.MAX_SAFE_INTEGER;
      const entries = await readJournalRange(
        store,
        auth,
        manifest.exported_at - JOURNAL_OVERLAP_MS,
        until,
        manifest.exported_at,
      );
      journalEntries = applyJournal(state, entries, until, schemaFromMigrations(migrations.tokens));
      journalNewest = entries.reduce<number | null>((n, e) => (n === null || e.entry.at > n ? e.entry.at : n), null);
    }
    plans.push({ database, manifest, state, journalEntries, journalNewest, facts: await stateFacts(state) });
  }
  return plans;
}
