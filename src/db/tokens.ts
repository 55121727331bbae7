import { z } from "zod";
import type { RowJournal } from "../backup/journal";
import type { TokenCipher } from "../lib/token-cipher";
import { redact } from "../lib/log";
import { commitJournaled, type JournaledWrite } from "./journaled";
import { firstRow, firstValue } from "./rows";

/** Row keys of the `tokens` table. */
export const shopTokenKey = (shop: string) => `shopify:${shop}`;
export const pageTokenKey = (pageId: string) => `facebook:page:${pageId}`;
/** A Facebook user's token, one per app-scoped user id (one person's login never replaces another's). */
export const facebookUserTokenKey = (facebookUserId: string) => `facebook:user:${facebookUserId}`;

const tokenStatus = z.enum(["active", "needs_reauth"]);
export type TokenStatus = z.infer<typeof tokenStatus>;

export interface Token {
  key: string;
  accessToken: string;
  refreshToken?: string;
  /** Epoch ms; undefined when the token does not expire. */
  expiresAt?: number;
  refreshExpiresAt?: number;
  scope?: string;
  status: TokenStatus;
}

export type TokenInput = Omit<Token, "status">;

const rowSchema = z.object({
  key: z.string(),
  value: z.string(),
  refresh_token: z.string().nullable(),
  expires_at: z.number().nullable(),
  refresh_expires_at: z.number().nullable(),
  scope: z.string().nullable(),
  status: tokenStatus,
});
type Row = z.infer<typeof rowSchema>;

/** One transaction of token and link writes: see `TokenStore.commit`. */
export interface TokenCommit {
  put?: TokenInput[];
  delete?: string[];
  /** Writes of other journaled tables, in the same transaction. */
  rows?: JournaledWrite[];
  /** How long the caller may wait for the journal to reach Spaces before it is queued. */
  deadlineMs?: number;
}

const tokenRef = (key: string) => ({ table: "tokens" as const, key });

/** Tokens in D1, encrypted with AES-GCM; plaintext exists only in memory. */
export class TokenStore {
  constructor(
    private readonly db: D1Database,
    private readonly cipher: TokenCipher,
    /** Journals every row a write changed, after it committed (src/backup/journal.ts). */
    private readonly journal: RowJournal = async () => undefined,
  ) {}

  /**
   * The one way tokens and links are written: every token put or deleted and every linked row
   * in one D1 transaction, then every row it touched journaled. Returns the results of `rows`,
   * in order (their `RETURNING` rows included).
   */
  async commit(writes: TokenCommit): Promise<D1Result[]> {
    const puts = await Promise.all(
      (writes.put ?? []).map(async (t) => ({ statement: await this.putStatement(t), ref: tokenRef(t.key) })),
    );
    const deletes = (writes.delete ?? []).map((key) => ({
      statement: this.db.prepare("DELETE FROM tokens WHERE key = ?1").bind(key),
      ref: tokenRef(key),
    }));
    const results = await commitJournaled(
      this.db,
      this.journal,
      [...puts, ...deletes, ...(writes.rows ?? [])],
      writes.deadlineMs,
    );
    return results.slice(puts.length + deletes.length);
  }

  /** Stores (or replaces) a token; the new value is active. */
  async put(token: TokenInput): Promise<void> {
    await this.commit({ put: [token] });
  }

  /** The statement of a put; private so that every write is journaled (src/db/journaled.ts). */
  private async putStatement(token: TokenInput): Promise<D1PreparedStatement> {
    const value = await this.cipher.encrypt(token.accessToken, token.key);
    const refresh = token.refreshToken ? await this.cipher.encrypt(token.refreshToken, `${token.key}#refresh`) : null;
    return this.db
      .prepare(
        `INSERT INTO tokens (key, value, refresh_token, expires_at, refresh_expires_at, scope, status, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, refresh_token = excluded.refresh_token,
           expires_at = excluded.expires_at, refresh_expires_at = excluded.refresh_expires_at,
           scope = excluded.scope, status = 'active', updated_at = excluded.updated_at`,
      )
      .bind(
        token.key,
        value,
        refresh,
        token.expiresAt ?? null,
        token.refreshExpiresAt ?? null,
        token.scope ?? null,
        Date.now(),
      );
  }

  async get(key: string): Promise<Token | null> {
    const row = await firstRow(this.db.prepare("SELECT * FROM tokens WHERE key = ?1").bind(key), rowSchema);
    return row ? this.decode(row) : null;
  }

  /**
   * Replaces a token pair only if the stored refresh token is still `previousRefreshToken`, so two
   * concurrent refreshes cannot both win. Returns false when another writer got there first.
   */
  async replaceAfterRefresh(previous: Token, next: TokenInput): Promise<boolean> {
    const current = await firstRow(
      this.db.prepare("SELECT refresh_token FROM tokens WHERE key = ?1").bind(previous.key),
      z.object({ refresh_token: z.string().nullable() }),
    );
    if (!current?.refresh_token) return false;
    const stillSame =
      (await this.cipher.decrypt(current.refresh_token, `${previous.key}#refresh`)) === previous.refreshToken;
    if (!stillSame) return false;
    const value = await this.cipher.encrypt(next.accessToken, next.key);
    const refresh = next.refreshToken ? await this.cipher.encrypt(next.refreshToken, `${next.key}#refresh`) : null;
    const statement = this.db
      .prepare(
        `UPDATE tokens SET value = ?2, refresh_token = ?3, expires_at = ?4, refresh_expires_at = ?5,
           scope = COALESCE(?6, scope), status = 'active', updated_at = ?7
         WHERE key = ?1 AND refresh_token = ?8`,
      )
      .bind(
        next.key,
        value,
        refresh,
        next.expiresAt ?? null,
        next.refreshExpiresAt ?? null,
        next.scope ?? null,
        Date.now(),
        current.refresh_token,
      );
    const replaced = (result: D1Result) => result.meta.changes === 1;
    const [result] = await commitJournaled(this.db, this.journal, [
      { statement, ref: (r) => (replaced(r) ? [tokenRef(next.key)] : []) },
    ]);
    return replaced(result!);
  }

  /**
   * The scopes Shopify says are granted now (`app/scopes_update`), unless the token was written
   * after `at` (a refresh or install then stored the scopes of its own answer). True when written.
   */
  async updateScope(key: string, scope: string, at: number): Promise<boolean> {
    const statement = this.db
      .prepare("UPDATE tokens SET scope = ?2, updated_at = ?3 WHERE key = ?1 AND updated_at <= ?3")
      .bind(key, scope, at);
    const [result] = await commitJournaled(this.db, this.journal, [
      { statement, ref: (r) => (r.meta.changes === 1 ? [tokenRef(key)] : []) },
    ]);
    return result!.meta.changes === 1;
  }

  async markNeedsReauth(key: string): Promise<void> {
    await this.commit({
      rows: [
        {
          statement: this.db
            .prepare("UPDATE tokens SET status = 'needs_reauth', updated_at = ?2 WHERE key = ?1")
            .bind(key, Date.now()),
          ref: tokenRef(key),
        },
      ],
    });
  }

  async delete(key: string, deadlineMs?: number): Promise<void> {
    await this.commit({ delete: [key], deadlineMs });
  }

  /**
   * The sealed (encrypted) values of those of `keys` that are stored now. A put seals with a fresh
   * IV, so a value read here identifies this very token: see `deleteUnchanged`.
   */
  async sealedValues(keys: string[]): Promise<Map<string, string>> {
    const rows = await Promise.all(
      keys.map((key) =>
        firstValue(this.db.prepare("SELECT value FROM tokens WHERE key = ?1").bind(key), "value", z.string()),
      ),
    );
    return new Map(keys.flatMap((key, i) => (rows[i] ? [[key, rows[i]] as const] : [])));
  }

  /**
   * Deletes each token only if it still holds the sealed value read before (`sealedValues`), in one
   * transaction: a login that stored a new token in between keeps it. Returns how many went.
   */
  async deleteUnchanged(sealed: Map<string, string>, deadlineMs?: number): Promise<number> {
    const deleted = (result: D1Result) => result.meta.changes === 1;
    const results = await commitJournaled(
      this.db,
      this.journal,
      [...sealed].map(([key, value]) => ({
        statement: this.db.prepare("DELETE FROM tokens WHERE key = ?1 AND value = ?2").bind(key, value),
        ref: (r: D1Result) => (deleted(r) ? [tokenRef(key)] : []),
      })),
      deadlineMs,
    );
    return results.filter(deleted).length;
  }

  private async decode(row: Row): Promise<Token> {
    const accessToken = await this.cipher.decrypt(row.value, row.key);
    const refreshToken = row.refresh_token
      ? await this.cipher.decrypt(row.refresh_token, `${row.key}#refresh`)
      : undefined;
    redact(accessToken);
    redact(refreshToken);
    return {
      key: row.key,
      accessToken,
      refreshToken,
      expiresAt: row.expires_at ?? undefined,
      refreshExpiresAt: row.refresh_expires_at ?? undefined,
      scope: row.scope ?? undefined,
      status: row.status,
    };
  }
}

/** A token's bookkeeping columns: enough to tell its state, nothing that decrypts. */
export const tokenStateRow = z.object({
  key: z.string(),
  status: tokenStatus,
  expires_at: z.number().nullable(),
  refresh_expires_at: z.number().nullable(),
  /** `refresh_token IS NOT NULL`: 1 or 0. */
  has_refresh: z.number(),
  updated_at: z.number(),
});
export type TokenStateRow = z.infer<typeof tokenStateRow>;
