import { z } from "zod";
import type { TokenCipher } from "../lib/token-cipher";
import { allRows, firstRow } from "./rows";

/**
 * Key rotation of stored tokens: every value and refresh token not encrypted with the current
 * `TOKEN_ENCRYPTION_KEY` is decrypted (with a previous key) and encrypted again with it, a chunk
 * of rows at a time from a cursor, so `npm run rotate-key` can be stopped and resumed. A row
 * rewritten by someone else meanwhile (a refresh, a new install) is left as they wrote it: that
 * write already used the current key. A row no configured key decrypts is named in `unreadable`
 * and passed over, so the rotation still reaches the end of the table.
 */

export interface RotationChunk {
  scanned: number;
  rewritten: number;
  /** The last key scanned: the next chunk starts after it. */
  cursor: string;
  done: boolean;
  /** Rows (in the whole table) with a value or refresh token under another key. */
  remaining: number;
  /** Keys of rows no configured key decrypts (never their values). */
  unreadable: string[];
  keyId: string;
}

/** Called with the keys of the rows a chunk rewrote (the journal listens here). */
export type TokenChangeListener = (keys: string[]) => Promise<void>;

const rowSchema = z.object({
  key: z.string(),
  value: z.string(),
  refresh_token: z.string().nullable(),
});

const keyIdOf = (stored: string) => stored.split(".")[1] ?? "";

export class TokenRotation {
  constructor(
    private readonly db: D1Database,
    private readonly cipher: TokenCipher,
    private readonly onChange: TokenChangeListener,
  ) {}

  private async reencrypt(stored: string, rowKey: string): Promise<string> {
    return this.cipher.encrypt(await this.cipher.decrypt(stored, rowKey), rowKey);
  }

  /** Re-encrypts the rows after `cursor` (at most `limit`), journals them, and says what is left and what is unreadable. */
  async chunk(cursor: string, limit: number): Promise<RotationChunk> {
    const current = this.cipher.keyId;
    const results = await allRows(
      this.db
        .prepare("SELECT key, value, refresh_token FROM tokens WHERE key > ?1 ORDER BY key LIMIT ?2")
        .bind(cursor, limit),
      rowSchema,
    );
    const updates: D1PreparedStatement[] = [];
    const unreadable: string[] = [];
    const keys: string[] = [];
    for (const row of results) {
      const staleValue = keyIdOf(row.value) !== current;
      const staleRefresh = row.refresh_token !== null && keyIdOf(row.refresh_token) !== current;
      if (!staleValue && !staleRefresh) continue;
      let value: string;
      let refresh: string | null;
      try {
        value = staleValue ? await this.reencrypt(row.value, row.key) : row.value;
        refresh =
          staleRefresh && row.refresh_token
            ? await this.reencrypt(row.refresh_token, `${row.key}#refresh`)
            : row.refresh_token;
      } catch {
        // Reported and passed over: one row no configured key reads must not stop the rotation.
        unreadable.push(row.key);
        continue;
      }
      updates.push(
        this.db
          .prepare(
            `UPDATE tokens SET value = ?2, refresh_token = ?3
             WHERE key = ?1 AND value = ?4 AND refresh_token IS ?5`,
          )
          .bind(row.key, value, refresh, row.value, row.refresh_token),
      );
      keys.push(row.key);
    }
    let rewritten = 0;
    const changed: string[] = [];
    if (updates.length) {
      const outcome = await this.db.batch(updates);
      outcome.forEach((r, i) => {
        if (r.meta.changes === 1) {
          rewritten++;
          changed.push(keys[i]!);
        }
      });
      if (changed.length) await this.onChange(changed);
    }
    const prefix = `v1.${current}.%`;
    const left = await firstRow(
      this.db
        .prepare(
          `SELECT COUNT(*) AS n FROM tokens
         WHERE value NOT LIKE ?1 OR (refresh_token IS NOT NULL AND refresh_token NOT LIKE ?1)`,
        )
        .bind(prefix),
      z.object({ n: z.number() }),
    );
    return {
      scanned: results.length,
      rewritten,
      cursor: results.at(-1)?.key ?? cursor,
      done: results.length < limit,
      remaining: left?.n ?? 0,
      unreadable,
      keyId: current,
    };
  }
}
