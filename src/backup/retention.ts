import type { DatabaseName } from "./dump";
import { parseBackupKey, stampTime } from "./manifest";

/**
 * Retention by age and count, per database: the newest backup of each of the last `daily` days
 * that have one, then the newest of each of the `weekly` weeks before those, and always the newest
 * restore-tested backup (so a run of bad copies can never push out the last good one). Many backups in
 * one day (repeated drills, `POST /admin/backup`) keep one copy of that day, not seven.
 */

export interface RetentionPolicy {
  daily: number;
  weekly: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { daily: 7, weekly: 4 };

export interface StoredBackup {
  database: DatabaseName;
  stamp: string;
  at: number;
  verified: boolean;
}

const DAY_MS = 86_400_000;
const dayOf = (at: number) => Math.floor(at / DAY_MS);
/** Weeks start on Monday (1970-01-01 was a Thursday). */
const weekOf = (at: number) => Math.floor((dayOf(at) + 3) / 7);

/** The backups of one database to keep: newest first. */
export function keptBackups(backups: StoredBackup[], policy: RetentionPolicy = DEFAULT_RETENTION): StoredBackup[] {
  const sorted = [...backups].sort((a, b) => b.at - a.at);
  const kept = new Set<StoredBackup>();
  const days = new Set<number>();
  for (const b of sorted) {
    if (days.size >= policy.daily) break;
    if (!days.has(dayOf(b.at))) {
      days.add(dayOf(b.at));
      kept.add(b);
    }
  }
  const oldestDaily = Math.min(...[...kept].map((b) => b.at));
  const weeks = new Set<number>();
  for (const b of sorted) {
    if (weeks.size >= policy.weekly) break;
    if (b.at >= oldestDaily || weeks.has(weekOf(b.at))) continue;
    weeks.add(weekOf(b.at));
    kept.add(b);
  }
  const verified = sorted.find((b) => b.verified);
  if (verified) kept.add(verified);
  return sorted.filter((b) => kept.has(b));
}

/**
 * Backups as listed in Spaces: one per manifest. `tested` names (`<database>/<stamp>`) those whose
 * restore-test record passed and verifies by its signature: a file's name proves nothing.
 */
export function storedBackups(keys: string[], tested: Set<string> = new Set()): StoredBackup[] {
  const out: StoredBackup[] = [];
  for (const key of keys) {
    const parsed = parseBackupKey(key);
    if (parsed?.kind !== "manifest.json" || parsed.shelf !== "d1") continue;
    out.push({
      database: parsed.database,
      stamp: parsed.stamp,
      at: stampTime(parsed.stamp),
      verified: tested.has(`${parsed.database}/${parsed.stamp}`),
    });
  }
  return out;
}

/** Which backups (dump, manifest, record) to delete from these keys; the rest are kept. */
export function planRetention(keys: string[], tested: Set<string>, policy: RetentionPolicy = DEFAULT_RETENTION) {
  const all = storedBackups(keys, tested);
  const kept: StoredBackup[] = [];
  for (const database of new Set(all.map((b) => b.database)))
    kept.push(
      ...keptBackups(
        all.filter((b) => b.database === database),
        policy,
      ),
    );
  const keep = new Set(kept.map((b) => `${b.database}/${b.stamp}`));
  const doomed = keys.filter((key) => {
    const parsed = parseBackupKey(key);
    return parsed !== null && parsed.shelf === "d1" && !keep.has(`${parsed.database}/${parsed.stamp}`);
  });
  return { kept, doomed };
}
