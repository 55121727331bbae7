import { config } from "../config";
import { describeError, log } from "../lib/log";
import { spaces } from "../services";
import { ObjectWriter } from "../spaces/object-writer";
import { JSON_TYPE, type Spaces } from "../spaces/client";
import { backupAuth, type BackupAuth } from "./auth";
import { exportViaApi } from "./d1-export-api";
import { DATABASES, DumpReader, databaseOfDump, dumpD1, type DatabaseName } from "./dump";
import { JOURNAL_PREFIX, journalKeyTime } from "./journal";
import {
  buildManifest,
  dumpKey,
  manifestKey,
  parseBackupKey,
  passedVerification,
  signedJson,
  stampOf,
  type Manifest,
  type Shelf,
} from "./manifest";
import { queueRestoreTest } from "./restore-test";
import { backupFailed, backupWorked } from "../alerts/alerts";
import { JOURNAL_OVERLAP_MS } from "./pitr";
import { DEFAULT_RETENTION, planRetention, type RetentionPolicy } from "./retention";

/**
 * The worker's backup (the cron, `POST /admin/backup`): each database exported (D1 export REST API
 * on Cloudflare when configured, else a dump read through the binding), streamed into Spaces with
 * its signed manifest, its restore test queued (./restore-test.ts), then retention. A failure is
 * an alert (once, until a backup works again) and is thrown.
 */
export async function runBackup(env: Env): Promise<Manifest[]> {
  try {
    const manifests = await backupBoth(env);
    await backupWorked(env);
    return manifests;
  } catch (err) {
    await backupFailed(env, err);
    throw err;
  }
}

async function backupBoth(env: Env): Promise<Manifest[]> {
  const cfg = config(env, "backup");
  const store = spaces(env);
  const auth = await backupAuth(env);
  const manifests: Manifest[] = [];
  for (const database of Object.keys(DATABASES) as DatabaseName[]) {
    const databaseId = database === "tokens" ? cfg.TOKENS_DATABASE_ID : cfg.SESSIONS_DATABASE_ID;
    const viaApi = Boolean(cfg.CLOUDFLARE_ACCOUNT_ID && cfg.CLOUDFLARE_API_TOKEN && databaseId);
    const source = viaApi
      ? exportViaApi({
          origin: cfg.CLOUDFLARE_API_ORIGIN,
          accountId: cfg.CLOUDFLARE_ACCOUNT_ID!,
          apiToken: cfg.CLOUDFLARE_API_TOKEN!,
          databaseId: databaseId!,
        })
      : dumpD1(env[DATABASES[database].binding]);
    const manifest = await backupOne(store, auth, database, source, viaApi ? "d1 export api" : "worker dump");
    log.info(`Backup of ${database} written to ${manifest.dump_key}`, {
      database,
      bytes: manifest.bytes,
      rows: Object.values(manifest.tables).reduce((a, b) => a + b, 0),
      source: manifest.source,
    });
    manifests.push(manifest);
  }
  await queueRestoreTest(
    env,
    manifests.map((m) => ({ database: m.database, stamp: stampOf(m.exported_at) })),
  );
  await applyRetention(store, auth, retentionPolicy(cfg.BACKUP_RETENTION));
  return manifests;
}

/** BACKUP_RETENTION is the number of daily backups kept (never fewer than 7), plus 4 weekly. */
export const retentionPolicy = (daily: number): RetentionPolicy => ({
  daily: Math.max(DEFAULT_RETENTION.daily, daily),
  weekly: DEFAULT_RETENTION.weekly,
});

/** Streams one dump into Spaces (in parts), then writes its signed manifest beside it. */
export async function backupOne(
  store: Spaces,
  auth: BackupAuth,
  database: DatabaseName,
  source: AsyncIterable<string | Uint8Array>,
  sourceName: string,
  /** When the export began, if before this call (a dump made by wrangler, say). */
  exportedAt = Date.now(),
  /** "undo": what a restore is about to replace, kept apart from the backups. */
  shelf: Shelf = "d1",
): Promise<Manifest> {
  const stamp = stampOf(exportedAt);
  // Every object in the bucket is stored as application/json, backups included (docs/storage-schema.md).
  const writer = new ObjectWriter(store, dumpKey(database, stamp, shelf), 8 * 1024 * 1024, JSON_TYPE);
  const reader = new DumpReader();
  const decoder = new TextDecoder();
  try {
    for await (const chunk of source) {
      await writer.write(chunk);
      reader.push(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const facts = reader.finish();
  if (databaseOfDump(facts) !== database) {
    await writer.abort();
    throw new Error(`the export of ${database} does not hold the ${database} tables`);
  }
  const written = await writer.finish();
  const manifest = buildManifest(database, stamp, shelf, exportedAt, sourceName, written.sha256, written.bytes, facts);
  const key = manifestKey(database, stamp, shelf);
  await store.put(key, await signedJson(auth, key, manifest));
  return manifest;
}

/** How many states replaced by restores are kept per database for `restore --undo`. */
export const UNDO_KEPT = 3;

/**
 * Keeps the backups retention asks for (./retention.ts), judging "restore-tested" by each record's
 * signature, and the journal they need: entries older than the oldest kept tokens backup are in
 * every kept dump, so they go. Of the states replaced by restores, the newest UNDO_KEPT stay.
 */
export async function applyRetention(
  store: Spaces,
  auth: BackupAuth,
  policy: RetentionPolicy = DEFAULT_RETENTION,
): Promise<{ deleted: string[] }> {
  const keys = await store.listKeys("backups/");
  const tested = new Set<string>();
  for (const key of keys) {
    const parsed = parseBackupKey(key);
    if (
      parsed?.shelf === "d1" &&
      parsed.kind === "verified.json" &&
      (await passedVerification(store, auth, parsed.database, parsed.stamp))
    )
      tested.add(`${parsed.database}/${parsed.stamp}`);
  }
  const { kept, doomed } = planRetention(keys, tested, policy);
  const undo = keys.filter((k) => parseBackupKey(k)?.shelf === "undo");
  for (const database of Object.keys(DATABASES) as DatabaseName[]) {
    const stamps = [
      ...new Set(undo.map(parseBackupKey).flatMap((p) => (p?.database === database ? [p.stamp] : []))),
    ].sort();
    const old = new Set(stamps.slice(0, -UNDO_KEPT));
    doomed.push(...undo.filter((k) => parseBackupKey(k)?.database === database && old.has(parseBackupKey(k)!.stamp)));
  }
  const deleted: string[] = [];
  for (const key of doomed) {
    await store.delete(key);
    deleted.push(key);
  }
  const oldestTokens = kept
    .filter((b) => b.database === "tokens")
    .reduce<number | null>((n, b) => (n === null || b.at < n ? b.at : n), null);
  if (oldestTokens !== null) {
    try {
      for (const key of keys.filter((k) => k.startsWith(JOURNAL_PREFIX))) {
        const at = journalKeyTime(key);
        if (at !== null && at < oldestTokens - JOURNAL_OVERLAP_MS) {
          await store.delete(key);
          deleted.push(key);
        }
      }
    } catch (err) {
      log.warn(`Journal pruning stopped: ${describeError(err)}`);
    }
  }
  if (deleted.length) log.info(`Backup retention deleted ${deleted.length} objects`, { ...policy });
  return { deleted };
}
