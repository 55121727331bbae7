import { databaseOfDump, isDatabaseName, readDump, type DatabaseName, type DumpFacts } from "./dump";

/**
 * Backups in Spaces: `backups/d1/<database>/<UTC timestamp>.sql` (the dump) and
 * `backups/d1/<database>/<UTC timestamp>.manifest.json` beside it.
 */

export interface Manifest {
  format: 1;
  database: DatabaseName;
  dump_key: string;
  /** When the export began (ms): journal entries from then on are replayed on restore. */
  exported_at: number;
  created_at: string;
  source: string;
  sha256: string;
  bytes: number;
  tables: Record<string, number>;
  migration: string | null;
}

/** `2026-11-28T04:00:00.123Z` → `20261128T040000123Z`: sorts as time, safe in a key. */
export const stampOf = (at: number) => new Date(at).toISOString().replace(/[-:.]/g, "");

const backupPrefix = (database: DatabaseName) => `backups/d1/${database}/`;
export const dumpKey = (database: DatabaseName, stamp: string) => `${backupPrefix(database)}${stamp}.sql`;
export const manifestKey = (database: DatabaseName, stamp: string) => `${backupPrefix(database)}${stamp}.manifest.json`;

const MANIFEST_KEY = /^backups\/d1\/(tokens|sessions)\/(\d{8}T\d{9}Z)\.manifest\.json$/;

/** The database and stamp of a manifest key; null for any other key. */
export function parseManifestKey(key: string): { database: DatabaseName; stamp: string } | null {
  const m = MANIFEST_KEY.exec(key);
  return m ? { database: m[1] as DatabaseName, stamp: m[2]! } : null;
}

export function buildManifest(
  database: DatabaseName,
  stamp: string,
  exportedAt: number,
  source: string,
  sha256: string,
  bytes: number,
  facts: DumpFacts,
): Manifest {
  return {
    format: 1,
    database,
    dump_key: dumpKey(database, stamp),
    exported_at: exportedAt,
    created_at: new Date().toISOString(),
    source,
    sha256,
    bytes,
    tables: facts.tables,
    migration: facts.migration,
  };
}

/** Reads a manifest's JSON; throws a clear error for anything that is not one. */
export function parseManifest(text: string): Manifest {
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(text) as Partial<Manifest>;
  } catch {
    throw new Error("manifest is not valid JSON");
  }
  if (
    m.format !== 1 ||
    !isDatabaseName(String(m.database)) ||
    typeof m.dump_key !== "string" ||
    typeof m.sha256 !== "string" ||
    typeof m.bytes !== "number" ||
    typeof m.exported_at !== "number" ||
    typeof m.tables !== "object"
  ) {
    throw new Error("manifest is missing fields or is not a backup manifest of this worker");
  }
  return m as Manifest;
}

/**
 * Checks a downloaded dump against its manifest before anything is restored: size, SHA-256,
 * the database it belongs to, its row counts and its migration level. Returns the problems found.
 */
export function checkDump(manifest: Manifest, bytes: Uint8Array, sha256: string, expected: DatabaseName): string[] {
  const problems: string[] = [];
  if (manifest.database !== expected) problems.push(`manifest is for database ${manifest.database}, not ${expected}`);
  if (bytes.byteLength !== manifest.bytes)
    problems.push(`dump is ${bytes.byteLength} bytes, manifest says ${manifest.bytes} (truncated?)`);
  if (sha256 !== manifest.sha256) problems.push("dump SHA-256 does not match the manifest (corrupt or altered)");
  const text = new TextDecoder().decode(bytes);
  const facts = readDump(text);
  const owner = databaseOfDump(facts);
  if (owner !== expected)
    problems.push(`dump holds ${owner ? `the ${owner} database` : "no known database"}, not ${expected}`);
  for (const [table, rows] of Object.entries(manifest.tables)) {
    if ((facts.tables[table] ?? -1) !== rows)
      problems.push(`table ${table}: dump has ${facts.tables[table] ?? "no"} rows, manifest says ${rows}`);
  }
  if (facts.migration !== manifest.migration)
    problems.push(`migration level ${facts.migration} differs from the manifest's ${manifest.migration}`);
  if (!/;\s*$/.test(text)) problems.push("dump does not end with a complete statement (truncated?)");
  return problems;
}

/** Which manifests to delete: all but the newest `keep` (at least 1) of each database. */
export function planRetention(manifestKeys: string[], keep: number): string[] {
  const byDb = new Map<DatabaseName, string[]>();
  for (const key of manifestKeys) {
    const parsed = parseManifestKey(key);
    if (!parsed) continue;
    byDb.set(parsed.database, [...(byDb.get(parsed.database) ?? []), key]);
  }
  const doomed: string[] = [];
  for (const keys of byDb.values()) doomed.push(...keys.sort().reverse().slice(Math.max(1, keep)));
  return doomed;
}
