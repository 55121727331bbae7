import { config } from "../config";
import { describeError, log } from "../lib/log";
import { spaces } from "../services";
import { ObjectWriter } from "../storage/object-writer";
import { JSON_TYPE, type Spaces } from "../storage/spaces";
import { exportViaApi } from "./d1-export-api";
import { DATABASES, DumpReader, databaseOfDump, dumpD1, type DatabaseName } from "./dump";
import { JOURNAL_PREFIX, journalKeyTime } from "./journal";
import { buildManifest, dumpKey, manifestKey, parseManifest, planRetention, stampOf, type Manifest } from "./manifest";

/** Journal entries are kept this far back before the oldest kept backup. */
const JOURNAL_OVERLAP_MS = 10 * 60 * 1000;

/**
 * The scheduled backup: each database exported (D1 export REST API on Cloudflare when configured,
 * else a dump read through the binding), streamed into Spaces with its manifest, then retention.
 */
export async function runBackup(env: Env): Promise<Manifest[]> {
  const cfg = config(env, "backup");
  const store = spaces(env);
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
    const manifest = await backupOne(store, database, source, viaApi ? "d1 export api" : "worker dump");
    log.info(`Backup of ${database} written to ${manifest.dump_key}`, {
      database,
      bytes: manifest.bytes,
      rows: Object.values(manifest.tables).reduce((a, b) => a + b, 0),
      source: manifest.source,
    });
    manifests.push(manifest);
  }
  await applyRetention(store, cfg.BACKUP_RETENTION);
  return manifests;
}

/** Streams one dump into Spaces (in parts), then writes its manifest beside it. */
export async function backupOne(
  store: Spaces,
  database: DatabaseName,
  source: AsyncIterable<string | Uint8Array>,
  sourceName: string,
  /** When the export began, if before this call (a dump made by wrangler, say). */
  exportedAt = Date.now(),
): Promise<Manifest> {
  const stamp = stampOf(exportedAt);
  // The contract gives every object in the bucket Content-Type application/json, backups included.
  const writer = new ObjectWriter(store, dumpKey(database, stamp), 8 * 1024 * 1024, JSON_TYPE);
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
  const manifest = buildManifest(database, stamp, exportedAt, sourceName, written.sha256, written.bytes, facts);
  await store.put(manifestKey(database, stamp), JSON.stringify(manifest, null, 2));
  return manifest;
}

/** Keeps the newest `keep` backups of each database (never fewer than one) and the journal they need. */
export async function applyRetention(store: Spaces, keep: number): Promise<{ deleted: string[] }> {
  const keys = await store.listKeys("backups/");
  const doomed = planRetention(keys, keep);
  const deleted: string[] = [];
  for (const manifest of doomed) {
    for (const key of [manifest.replace(/\.manifest\.json$/, ".sql"), manifest]) {
      await store.delete(key);
      deleted.push(key);
    }
  }
  // Journal entries older than the oldest tokens backup still kept are in every kept dump.
  const kept = keys
    .filter((k) => k.startsWith("backups/d1/tokens/") && k.endsWith(".manifest.json") && !doomed.includes(k))
    .sort();
  if (kept[0]) {
    try {
      const oldest = parseManifest((await store.getText(kept[0])) ?? "");
      for (const key of keys.filter((k) => k.startsWith(JOURNAL_PREFIX))) {
        const at = journalKeyTime(key);
        if (at !== null && at < oldest.exported_at - JOURNAL_OVERLAP_MS) {
          await store.delete(key);
          deleted.push(key);
        }
      }
    } catch (err) {
      log.warn(`Journal pruning skipped: ${describeError(err)}`);
    }
  }
  if (deleted.length) log.info(`Backup retention deleted ${deleted.length} objects`, { kept_per_database: keep });
  return { deleted };
}
