import { z } from "zod";
import { splitAuth, type BackupAuth } from "./auth";
import { databaseOfDump, readDump, type DatabaseName, type DumpFacts } from "./dump";
import { BackupRefused } from "./dump-parse";

/**
 * Backups in Spaces: `backups/d1/<database>/<UTC timestamp>.sql` (the dump),
 * `<UTC timestamp>.manifest.json` beside it (signed, ./auth.ts) and, once the worker has restored it
 * into a scratch database and compared it (./restore-test.ts), `<UTC timestamp>.verified.json`
 * (signed too). What a restore replaced is kept the same way under `backups/undo/<database>/`, so
 * `npm run restore -- --undo` can put it back; those are not backups of the timeline and retention
 * keeps only the newest few.
 */

/** One backup of one database, as a job names it. */
export interface BackupRef {
  database: DatabaseName;
  stamp: string;
}

/** Where a dump belongs: the backups, or the state a restore replaced. */
export type Shelf = "d1" | "undo";

const manifestSchema = z.object({
  format: z.literal(2),
  database: z.enum(["tokens", "sessions"]),
  dump_key: z.string(),
  /** When the export began (ms): journal entries from then on are replayed on restore. */
  exported_at: z.number().finite(),
  created_at: z.string(),
  source: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
  tables: z.record(z.string(), z.number().int().nonnegative()),
  migration: z.string().nullable(),
});

export type Manifest = z.output<typeof manifestSchema>;

/** What the worker found when it restored a backup into a scratch database (./restore-test.ts). */
const verificationSchema = z.object({
  format: z.literal(2),
  database: z.enum(["tokens", "sessions"]),
  dump_key: z.string(),
  /** The dump's SHA-256 as its manifest records it: the record is about that dump and no other. */
  sha256: z.string().optional(),
  verified_at: z.string(),
  method: z.string(),
  /** `passed`: counts and hashes as expected; `failed`: `problems` says what differed. */
  result: z.enum(["passed", "failed"]).default("passed"),
  problems: z.array(z.string()).default([]),
  tables: z.record(z.string(), z.number()),
  /** SHA-256 per table of its rows as read back from the scratch database. */
  hashes: z.record(z.string(), z.string()),
});

export type Verification = z.output<typeof verificationSchema>;

/** `2026-11-28T04:00:00.123Z` → `20261128T040000123Z`: sorts as time, safe in a key. */
export const stampOf = (at: number) => new Date(at).toISOString().replace(/[-:.]/g, "");

/** The time of a stamp made by stampOf. */
export function stampTime(stamp: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(stamp)!;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!);
}

export const backupPrefix = (database: DatabaseName, shelf: Shelf = "d1") => `backups/${shelf}/${database}/`;
export const dumpKey = (database: DatabaseName, stamp: string, shelf: Shelf = "d1") =>
  `${backupPrefix(database, shelf)}${stamp}.sql`;
export const manifestKey = (database: DatabaseName, stamp: string, shelf: Shelf = "d1") =>
  `${backupPrefix(database, shelf)}${stamp}.manifest.json`;
export const verificationKey = (database: DatabaseName, stamp: string) =>
  `${backupPrefix(database)}${stamp}.verified.json`;

const BACKUP_KEY = /^backups\/(d1|undo)\/(tokens|sessions)\/(\d{8}T\d{9}Z)\.(manifest\.json|verified\.json|sql)$/;

const backupKeyParts = z.tuple([
  z.string(),
  z.enum(["d1", "undo"]),
  z.enum(["tokens", "sessions"]),
  z.string(),
  z.enum(["manifest.json", "verified.json", "sql"]),
]);

/** The shelf, database, stamp and kind of any backup object's key; null for any other key. */
export function parseBackupKey(key: string) {
  const m = BACKUP_KEY.exec(key);
  if (!m) return null;
  const [, shelf, database, stamp, kind] = backupKeyParts.parse([...m]);
  return { shelf, database, stamp, kind };
}

/** The database, stamp and shelf of a manifest key; null for any other key. */
export function parseManifestKey(key: string): { database: DatabaseName; stamp: string; shelf: Shelf } | null {
  const parsed = parseBackupKey(key);
  return parsed?.kind === "manifest.json" ? parsed : null;
}

export function buildManifest(
  database: DatabaseName,
  stamp: string,
  shelf: Shelf,
  exportedAt: number,
  source: string,
  sha256: string,
  bytes: number,
  facts: DumpFacts,
): Manifest {
  return {
    format: 2,
    database,
    dump_key: dumpKey(database, stamp, shelf),
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
  const object = z.record(z.string(), z.unknown()).safeParse(value);
  if (!object.success) throw new BackupRefused(key, "it is not a JSON object");
  const { payload, auth: given } = splitAuth(object.data);
  const problem = await auth.problem(key, payload, Object.hasOwn(object.data, "auth") ? given : undefined);
  if (problem) throw new BackupRefused(key, problem);
  return payload;
}

/** Reads and authenticates the manifest stored at `key`; throws BackupRefused naming it. */
export async function readManifest(key: string, text: string | null, auth: BackupAuth): Promise<Manifest> {
  const payload = await readSigned(key, text, auth);
  const manifest = manifestSchema.safeParse(payload);
  if (!manifest.success)
    throw new BackupRefused(key, "it is missing fields or is not a backup manifest of this worker");
  const parsed = parseManifestKey(key);
  const m = manifest.data;
  if (!parsed || m.database !== parsed.database || m.dump_key !== dumpKey(parsed.database, parsed.stamp, parsed.shelf))
    throw new BackupRefused(key, "it names another backup than the one beside it");
  return m;
}

/**
 * Reads and authenticates a verification record; null when there is none or it does not verify
 * (anyone with the Spaces key can write one: only our signature makes it count).
 */
export async function readVerification(
  key: string,
  text: string | null,
  auth: BackupAuth,
): Promise<Verification | null> {
  if (text === null) return null;
  try {
    const parsed = verificationSchema.safeParse(await readSigned(key, text, auth));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** A record of a restore test that passed, signed with our key; what retention and the console count. */
export async function passedVerification(
  store: { getText(key: string): Promise<string | null> },
  auth: BackupAuth,
  database: DatabaseName,
  stamp: string,
) {
  const key = verificationKey(database, stamp);
  const record = await readVerification(key, await store.getText(key), auth);
  return record?.result === "passed" ? record : null;
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
