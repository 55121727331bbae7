import { randomHex } from "../lib/encoding";
import { sha256Hex } from "../lib/signatures";
import { redact } from "../lib/log";

/** Browser sessions and OAuth states in the `sessions` database. */

export const SESSION_COOKIE = "sid";
export const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;
const STATE_TTL_MS = 10 * 60 * 1000;

export type Provider = "shopify" | "facebook";

export interface Session {
  /** SHA-256 of the cookie value; the cookie value itself is never stored. */
  id: string;
  userUuid: string | null;
}

export type StateCheck =
  | { ok: true; shop: string | null }
  | { ok: false; reason: "unknown" | "expired" | "other_session" | "wrong_provider" | "other_shop" };

export class SessionStore {
  constructor(private readonly db: D1Database) {}

  /** The session of a cookie value, or null when it is unknown or expired. */
  async find(cookie: string | undefined): Promise<Session | null> {
    if (!cookie || !/^[0-9a-f]{64}$/.test(cookie)) return null;
    redact(cookie);
    const id = await sha256Hex(cookie);
    const row = await this.db
      .prepare("SELECT id, user_uuid FROM sessions WHERE id = ?1 AND expires_at > ?2")
      .bind(id, Date.now())
      .first<{ id: string; user_uuid: string | null }>();
    return row ? { id: row.id, userUuid: row.user_uuid } : null;
  }

  /** A new session; returns it with the cookie value to send. */
  async create(): Promise<{ session: Session; cookie: string }> {
    const cookie = randomHex(32);
    redact(cookie);
    const id = await sha256Hex(cookie);
    const now = Date.now();
    await this.db
      .prepare("INSERT INTO sessions (id, user_uuid, created_at, expires_at) VALUES (?1, NULL, ?2, ?3)")
      .bind(id, now, now + SESSION_TTL_MS)
      .run();
    return { session: { id, userUuid: null }, cookie };
  }

  async setUser(sessionId: string, userUuid: string): Promise<void> {
    await this.db
      .prepare("UPDATE sessions SET user_uuid = ?2, expires_at = ?3 WHERE id = ?1")
      .bind(sessionId, userUuid, Date.now() + SESSION_TTL_MS)
      .run();
  }

  /** A random state bound to this session and provider, valid for STATE_TTL_MS. */
  async createState(sessionId: string, provider: Provider, shop: string | null = null): Promise<string> {
    const state = randomHex(32);
    await this.db.batch([
      this.db.prepare("DELETE FROM oauth_states WHERE expires_at < ?1").bind(Date.now()),
      this.db
        .prepare("INSERT INTO oauth_states (state, session_id, provider, shop, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(state, sessionId, provider, shop, Date.now() + STATE_TTL_MS),
    ]);
    return state;
  }

  /**
   * Uses up a state: it works once, for the session and provider it was made for, before it
   * expires. A state that does not match is left as it is, so a bad callback changes nothing.
   */
  async consumeState(
    state: string,
    sessionId: string | null,
    provider: Provider,
    shop: string | null = null,
  ): Promise<StateCheck> {
    if (!/^[0-9a-f]{64}$/.test(state)) return { ok: false, reason: "unknown" };
    const used = await this.db
      .prepare(
        `DELETE FROM oauth_states
         WHERE state = ?1 AND session_id = ?2 AND provider = ?3 AND shop IS ?4 AND expires_at > ?5
         RETURNING shop`,
      )
      .bind(state, sessionId ?? "", provider, shop, Date.now())
      .first<{ shop: string | null }>();
    if (used) return { ok: true, shop: used.shop };
    const row = await this.db
      .prepare("SELECT session_id, provider, shop, expires_at FROM oauth_states WHERE state = ?1")
      .bind(state)
      .first<{ session_id: string; provider: Provider; shop: string | null; expires_at: number }>();
    if (!row) return { ok: false, reason: "unknown" };
    if (row.session_id !== sessionId) return { ok: false, reason: "other_session" };
    if (row.provider !== provider) return { ok: false, reason: "wrong_provider" };
    if (row.shop !== shop) return { ok: false, reason: "other_shop" };
    return { ok: false, reason: "expired" };
  }
}
