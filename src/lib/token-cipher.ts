import { fromBase64, toBase64Url, toHex, utf8 } from "./encoding";

/**
 * The keys made from the token encryption keys (`current` first, then `previous`: base64 of 32
 * bytes each) by `derive`, by the id it gives each; throws on a key that is not 32 bytes.
 */
export async function keyRing(
  current: string,
  previous: string[],
  derive: (raw: Uint8Array) => Promise<{ id: string; key: CryptoKey }>,
): Promise<{ keys: Map<string, CryptoKey>; currentId: string }> {
  const keys = new Map<string, CryptoKey>();
  let currentId = "";
  for (const [index, encoded] of [current, ...previous].entries()) {
    const raw = fromBase64(encoded);
    if (!raw || raw.length !== 32) throw new Error("TOKEN_ENCRYPTION_KEY must be base64 of 32 bytes");
    const { id, key } = await derive(raw);
    keys.set(id, key);
    if (index === 0) currentId = id;
  }
  return { keys, currentId };
}

/**
 * AES-256-GCM for tokens at rest. A stored value is `v1.<key id>.<iv>.<ciphertext>` (base64url);
 * the key id is the first 8 bytes of SHA-256 of the key, so values written under an older key can
 * still be read while a rotation is under way. The row key is bound as additional data, so a value
 * copied to another row does not decrypt. A wrong key or a tampered value throws; it never returns
 * garbage.
 */
export class TokenCipher {
  private constructor(
    private readonly keys: Map<string, CryptoKey>,
    private readonly currentId: string,
  ) {}

  /** `current` and `previous` are base64 of 32 bytes; `previous` is read-only (for rotation). */
  static async create(current: string, previous: string[] = []): Promise<TokenCipher> {
    const { keys, currentId } = await keyRing(current, previous, async (raw) => ({
      id: toHex(await crypto.subtle.digest("SHA-256", raw)).slice(0, 16),
      key: await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]),
    }));
    return new TokenCipher(keys, currentId);
  }

  get keyId(): string {
    return this.currentId;
  }

  async encrypt(plaintext: string, rowKey: string): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const key = this.keys.get(this.currentId)!;
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: utf8(rowKey) },
      key,
      utf8(plaintext),
    );
    return `v1.${this.currentId}.${toBase64Url(iv)}.${toBase64Url(sealed)}`;
  }

  async decrypt(stored: string, rowKey: string): Promise<string> {
    const [version, keyId, ivText, sealedText] = stored.split(".");
    if (version !== "v1" || !keyId || !ivText || !sealedText) throw new Error("token value is not in the v1 format");
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`token was encrypted with key id ${keyId}, which is not configured`);
    const iv = fromBase64(ivText);
    const sealed = fromBase64(sealedText);
    if (!iv || !sealed) throw new Error("token value is not valid base64");
    try {
      const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: utf8(rowKey) }, key, sealed);
      return new TextDecoder().decode(plain);
    } catch {
      throw new Error(`token for ${rowKey} failed to decrypt: wrong key or tampered value`);
    }
  }
}
