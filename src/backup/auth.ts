import { perEncryptionKeys } from "../config";
import { toHex, utf8 } from "../lib/encoding";
import { isolateCache } from "../lib/isolate-cache";
import { timingSafeEqual } from "../lib/signatures";
import { keyRing } from "../lib/token-cipher";

/**
 * Authentication of backup objects (manifests, verification sidecars, journal entries). The HMAC
 * key is derived with HKDF-SHA256 from `TOKEN_ENCRYPTION_KEY`, a secret the worker and the scripts
 * have and Spaces never holds: whoever can write to the bucket cannot make an object that verifies.
 * Each object names the id of the key that signed it; `TOKEN_ENCRYPTION_KEY_PREVIOUS` keys still
 * verify, so a backup made before `rotate-key` is accepted while its token values can still be read.
 */

export interface Auth {
  key_id: string;
  hmac: string;
}

const SALT = utf8("messenger-sales-data backups");
const INFO = utf8("backup-auth v1");

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(",")}}`;
}

const UNKNOWN_KEY = "which is neither TOKEN_ENCRYPTION_KEY nor a previous key";

/** A refusal only because the signing key is not configured (an object from before a rotation). */
export const isUnknownKeyReason = (reason: string) => reason.endsWith(UNKNOWN_KEY);

export class BackupAuth {
  private constructor(
    private readonly keys: Map<string, CryptoKey>,
    readonly currentId: string,
  ) {}

  /** `current` and `previous` are base64 of 32 bytes (the token encryption keys). */
  static async create(current: string, previous: string[] = []): Promise<BackupAuth> {
    const { keys, currentId } = await keyRing(current, previous, async (raw) => {
      const ikm = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveBits"]);
      const bits = new Uint8Array(
        await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: SALT, info: INFO }, ikm, 256),
      );
      const id = toHex(await crypto.subtle.digest("SHA-256", bits)).slice(0, 16);
      return {
        id,
        key: await crypto.subtle.importKey("raw", bits, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]),
      };
    });
    return new BackupAuth(keys, currentId);
  }

  private async mac(keyId: string, objectKey: string, payload: unknown): Promise<string> {
    const key = this.keys.get(keyId)!;
    const message = utf8(`${objectKey}\n${canonicalJson(payload)}`);
    return toHex(await crypto.subtle.sign("HMAC", key, message));
  }

  /** The `auth` of an object stored at `objectKey` (the key is signed too: a copy elsewhere fails). */
  async sign(objectKey: string, payload: unknown): Promise<Auth> {
    return { key_id: this.currentId, hmac: await this.mac(this.currentId, objectKey, payload) };
  }

  /** Null when `auth` is a valid signature of this payload at this key; else the reason it is not. */
  async problem(objectKey: string, payload: unknown, auth: unknown): Promise<string | null> {
    if (auth === undefined || auth === null) return "it is not authenticated (no HMAC)";
    if (typeof auth !== "object") return "its auth field is malformed";
    const a = auth as Record<string, unknown>;
    if (!Object.hasOwn(a, "key_id") || !Object.hasOwn(a, "hmac")) return "its auth field is malformed";
    if (typeof a.key_id !== "string" || typeof a.hmac !== "string") return "its auth field is malformed";
    if (!this.keys.has(a.key_id)) return `it was signed with key id ${a.key_id}, ${UNKNOWN_KEY}`;
    const expected = await this.mac(a.key_id, objectKey, payload);
    return timingSafeEqual(expected, a.hmac) ? null : "its HMAC does not match (altered, or moved from another key)";
  }
}

const authByKeys = isolateCache<string, Promise<BackupAuth>>("crypto.backup-auth", {
  why: "the derived HMAC keys per set of token encryption keys (keyed by their SHA-256)",
  maxEntries: 8,
});

/** The backup authenticator of the worker's (or a script's) environment. */
export const backupAuth = (env: object): Promise<BackupAuth> =>
  perEncryptionKeys(authByKeys, env, (current, previous) => BackupAuth.create(current, previous));

/** Splits a signed object into its payload and its auth field. */
export function splitAuth(value: Record<string, unknown>): { payload: Record<string, unknown>; auth: unknown } {
  const { auth, ...payload } = value;
  return { payload, auth };
}
