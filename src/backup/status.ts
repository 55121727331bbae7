import type { Spaces } from "../spaces/client";
import type { BackupAuth } from "./auth";
import { DATABASES, type DatabaseName } from "./dump";
import { JOURNAL_PREFIX, journalKeyTime } from "./journal";
import { passedVerification, verificationKey } from "./manifest";
import { storedBackups } from "./retention";

/** For the console and `npm run status`: how recoverable the databases are now. */
export interface RecoveryStatus {
  databases: Record<
    DatabaseName,
    {
      /** The newest backup whose signed sidecar says a scratch restore matched it. */
      newestVerified: { stamp: string; at: string; ageMs: number } | null;
      newest: { stamp: string; at: string; ageMs: number } | null;
      backups: number;
    }
  >;
  journal: { newestKey: string | null; newestAt: string | null; ageMs: number | null; entries: number };
}

export async function recoveryStatus(store: Spaces, auth: BackupAuth, now = Date.now()): Promise<RecoveryStatus> {
  const keys = await store.listKeys("backups/");
  const all = storedBackups(keys);
  const when = (at: number, stamp: string) => ({ stamp, at: new Date(at).toISOString(), ageMs: now - at });
  const databases = {} as RecoveryStatus["databases"];
  for (const database of Object.keys(DATABASES) as DatabaseName[]) {
    const mine = all.filter((b) => b.database === database).sort((a, b) => b.at - a.at);
    let newestVerified: RecoveryStatus["databases"][DatabaseName]["newestVerified"] = null;
    const recorded = new Set(keys.filter((k) => k.endsWith(".verified.json")));
    for (const b of mine.filter((x) => recorded.has(verificationKey(database, x.stamp)))) {
      // A record counts only when it passed and is signed with our key (anyone with the Spaces key can write one).
      if (await passedVerification(store, auth, database, b.stamp)) {
        newestVerified = when(b.at, b.stamp);
        break;
      }
    }
    databases[database] = {
      newestVerified,
      newest: mine[0] ? when(mine[0].at, mine[0].stamp) : null,
      backups: mine.length,
    };
  }
  const journal = keys.filter((k) => k.startsWith(JOURNAL_PREFIX) && journalKeyTime(k) !== null).sort();
  const newestKey = journal.at(-1) ?? null;
  const newestAt = newestKey ? journalKeyTime(newestKey)! : null;
  return {
    databases,
    journal: {
      newestKey,
      newestAt: newestAt === null ? null : new Date(newestAt).toISOString(),
      ageMs: newestAt === null ? null : now - newestAt,
      entries: journal.length,
    },
  };
}
