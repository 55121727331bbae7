import type { TokenCipher } from "../lib/token-cipher";
import { redact } from "../lib/log";

/** Row keys of the `tokens` table. */
export const shopTokenKey = (shop: string) => `shopify:${shop}`;
export const pageTokenKey = (pageId: string) => `facebook:page:${pageId}`;
export const facebookUserTokenKey = (userUuid: string) => `facebook:user:${userUuid}`;

export type TokenStatus = "active" | "needs_reauth";

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

interface Row {
  key: string;
  value: string;
  refresh_token: string | null;
  expires_at: number | null;
  refresh_expires_at: number | null;
  scope: string | null;
  status: TokenStatus;
}

/** Called with the keys of rows that changed (the backup journal listens here). */
export type TokenChangeListener = (keys: string[]) => Promise<void>;

/** Tokens in D1, encrypted with AES-GCM; plaintext exists only in memory. */
export class TokenStore {
  constructor(
    private readonly db: D1Database,
    private readonly cipher: TokenCipher,
    private readonly onChange: TokenChangeListener = async () => undefined,
  ) {}

  /** Stores (or replaces) a token; the new value is active. */
  async put(token: TokenInput): Promise<void> {
    await this.putStatement(token).then((s) => s.run());
    await this.onChange([token.key]);
  }

  /** The statement of `put`, for batching with other writes in one transaction. */
  async putStatement(token: TokenInput): Promise<D1PreparedStatement> {
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
    const row = await this.db.prepare("SELECT * FROM tokens WHERE key = ?1").bind(key).first<Row>();
    return row ? this.decode(row) : null;
  }

  /**
   * Replaces a token pair only if the stored refresh token is still `previousRefreshToken`, so two
   * concurrent refreshes cannot both win. Returns false when another writer got there first.
   */
  async replaceAfterRefresh(previous: Token, next: TokenInput): Promise<boolean> {
    const current = await this.db
      .prepare("SELECT refresh_token FROM tokens WHERE key = ?1")
      .bind(previous.key)
      .first<{ refresh_token: string | null }>();
    if (!current?.refresh_token) return false;
    const stillSame =
      (await this.cipher.decrypt(current.refresh_token, `${previous.key}#refresh`)) === previous.refreshToken;
    if (!stillSame) return false;
    const value = await this.cipher.encrypt(next.accessToken, next.key);
    const refresh = next.refreshToken ? await this.cipher.encrypt(next.refreshToken, `${next.key}#refresh`) : null;
    const result = await this.db
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
      )
      .run();
    if (result.meta.changes !== 1) return false;
    await this.onChange([next.key]);
    return true;
  }

  async markNeedsReauth(key: string): Promise<void> {
    await this.db
      .prepare("UPDATE tokens SET status = 'needs_reauth', updated_at = ?2 WHERE key = ?1")
      .bind(key, Date.now())
      .run();
    await this.onChange([key]);
  }

  async delete(key: string): Promise<boolean> {
    const result = await this.db.prepare("DELETE FROM tokens WHERE key = ?1").bind(key).run();
    await this.onChange([key]);
    return result.meta.changes > 0;
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
