import type { BackupAuth } from "./auth";
import { databaseOfDump, isDatabaseName, readDump, type DatabaseName, type DumpFacts } from "./dump";
import { BackupRefused } from "./dump-parse";

/**
 * Backups in Spaces: `backups/d1/<database>/<UTC timestamp>.sql` (the dump),
 * `<UTC timestamp>.manifest.json` beside it (signed, ./auth.ts) and, once a script has restored it
 * into a scratch database and compared it, `<UTC timestamp>.verified.json` (signed too).
 */

export interface Manifest {
  format: 2;
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

/** What a script found when it restored a backup into a scratch database. */
export interface Verification {
  format: 2;
  database: DatabaseName;
  dump_key: string;
  verified_at: string;
  method: string;
  tables: Record<string, number>;
  /** SHA-256 per table of its rows as read back from the scratch database. */
  hashes: Record<string, string>;
}

/** `2026-11-28T04:00:00.123Z` → `20261128T040000123Z`: sorts as time, safe in a key. */
export const stampOf = (at: number) => new Date(at).toISOString().replace(/[-:.]/g, "");

/** The time of a stamp made by stampOf. */
export function stampTime(stamp: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(stamp)!;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!);
}

const backupPrefix = (database: DatabaseName) => `backups/d1/${database}/`;
export const dumpKey = (database: DatabaseName, stamp: string) => `${backupPrefix(database)}${stamp}.sql`;
export const manifestKey = (database: DatabaseName, stamp: string) => `${backupPrefix(database)}${stamp}.manifest.json`;
export const verificationKey = (database: DatabaseName, stamp: string) =>
  `${backupPrefix(database)}${stamp}.verified.json`;

const BACKUP_KEY = /^backups\/d1\/(tokens|sessions)\/(\d{8}T\d{9}Z)\.(manifest\.json|verified\.json|sql)$/;

/** The database and stamp of a manifest key; null for any other key. */
export function parseManifestKey(key: string): { database: DatabaseName; stamp: string } | null {
  const m = BACKUP_KEY.exec(key);
  return m && m[3] === "manifest.json" ? { database: m[1] as DatabaseName, stamp: m[2]! } : null;
}

/** The database, stamp and kind of any backup object's key; null for any other key. */
export function parseBackupKey(key: string) {
  const m = BACKUP_KEY.exec(key);
  return m
    ? { database: m[1] as DatabaseName, stamp: m[2]!, kind: m[3] as "manifest.json" | "verified.json" | "sql" }
    : null;
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
    format: 2,
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

/** The JSON text of a signed backup object stored at `key`. */
export async function signedJson(auth: BackupAuth, key: string, payload: object): Promise<string> {
  return JSON.stringify({ ...payload, auth: await auth.sign(key, payload) }, null, 2);
}

/** Parses a signed object and checks its HMAC; returns the payload without `auth`. */
async function readSigned(key: string, text: string | null, auth: BackupAuth): Promise<Record<string, unknown>> {
  if (text === null) throw new BackupRefused(key, "it is missing");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BackupRefused(key, "it is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new BackupRefused(key, "it is not a JSON object");
  const { auth: given, ...payload } = value as Record<string, unknown>;
  const problem = await auth.problem(key, payload, Object.hasOwn(value, "auth") ? given : undefined);
  if (problem) throw new BackupRefused(key, problem);
  return payload;
}

/** Reads and authenticates the manifest stored at `key`; throws BackupRefused naming it. */
export async function readManifest(key: string, text: string | null, auth: BackupAuth): Promise<Manifest> {
  const m = await readSigned(key, text, auth);
  const parsed = parseManifestKey(key);
  if (
    m.format !== 2 ||
    !isDatabaseName(String(m.database)) ||
    typeof m.dump_key !== "string" ||
    typeof m.sha256 !== "string" ||
    typeof m.bytes !== "number" ||
    typeof m.exported_at !== "number" ||
    typeof m.tables !== "object"
  ) {
    throw new BackupRefused(key, "it is missing fields or is not a backup manifest of this worker");
  }
  if (!parsed || m.database !== parsed.database || m.dump_key !== dumpKey(parsed.database, parsed.stamp))
    throw new BackupRefused(key, "it names another backup than the one beside it");
  return m as unknown as Manifest;
}

/** Reads and authenticates a verification sidecar; null when there is none or it does not verify. */
export async function readVerification(
  key: string,
  text: string | null,
  auth: BackupAuth,
): Promise<Verification | null> {
  if (text === null) return null;
  try {
    const v = await readSigned(key, text, auth);
    return v.format === 2 && typeof v.verified_at === "string" ? (v as unknown as Verification) : null;
  } catch {
    return null;
  }
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
