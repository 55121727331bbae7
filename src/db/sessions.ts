import { z } from "zod";
import { randomHex } from "../lib/encoding";
import { sha256Hex } from "../lib/signatures";
import { log, redact } from "../lib/log";
import { firstRow, firstRowOf } from "./rows";

/** Browser sessions and OAuth states in the `sessions` database. */

/**
 * `__Host-`: the browser takes it only from this exact host, over HTTPS, with `Path=/` and no
 * `Domain`, so a sibling subdomain or a plain-HTTP hop cannot plant a session.
 */
export const SESSION_COOKIE = "__Host-sid";
/** A session bound to a user lives this long after its last bind. */
export const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;
/** A session no callback has bound (a login started, never finished) lives a day. */
export const ANONYMOUS_SESSION_TTL_MS = 24 * 3600 * 1000;
export const STATE_TTL_MS = 10 * 60 * 1000;
/** Rows deleted per statement by `purgeExpired`, so one purge is never a long query. */
const PURGE_CHUNK = 5000;

const providers = z.enum(["shopify", "facebook"]);
export type Provider = z.infer<typeof providers>;

export interface Session {
  /** SHA-256 of the cookie value; the cookie value itself is never stored. */
  id: string;
  userUuid: string | null;
  /**
   * The session's own login proved it is `userUuid`'s merchant (see src/identity/login-identity.ts):
   * only then do its logins link new shops and pages to that UUID.
   */
  proven: boolean;
}

export type StateCheck =
  | { ok: true; shop: string | null }
  | { ok: false; reason: "unknown" | "expired" | "other_session" | "wrong_provider" | "other_shop" };

export class SessionStore {
  constructor(private readonly db: D1Database) {}

  /** The session of a cookie value, or null when it is unknown or expired. */
  async find(cookie: string | undefined): Promise<Session | null> {
    if (!cookie || !/^[0-9a-f]{64}$/.test(cookie)) return null;
    const id = await sha256Hex(cookie);
    const row = await firstRow(
      this.db
        .prepare("SELECT id, user_uuid, proven FROM sessions WHERE id = ?1 AND expires_at > ?2")
        .bind(id, Date.now()),
      z.object({ id: z.string(), user_uuid: z.string().nullable(), proven: z.number() }),
    );
    // Only a real session is a secret to keep out of logs: what anyone sends is not registered (a
    // flood of made-up cookies would otherwise push real secrets out of the bounded list).
    if (row) redact(cookie);
    return row ? { id: row.id, userUuid: row.user_uuid, proven: row.user_uuid !== null && row.proven === 1 } : null;
  }

  /** A new session; returns it with the cookie value to send. */
  async create(): Promise<{ session: Session; cookie: string }> {
    const cookie = randomHex(32);
    redact(cookie);
    const id = await sha256Hex(cookie);
    const now = Date.now();
    await this.db
      .prepare("INSERT INTO sessions (id, user_uuid, created_at, expires_at) VALUES (?1, NULL, ?2, ?3)")
      .bind(id, now, now + ANONYMOUS_SESSION_TTL_MS)
      .run();
    return { session: { id, userUuid: null, proven: false }, cookie };
  }

  /**
   * Binds a user to a browser under a NEW session id: the old session and its pending states are
   * deleted, so an id someone else knew (or planted) is worth nothing once a callback ran.
   * Returns the new session with the cookie value to send.
   */
  async rotate(oldSessionId: string, userUuid: string, proven: boolean): Promise<{ session: Session; cookie: string }> {
    const cookie = randomHex(32);
    redact(cookie);
    const id = await sha256Hex(cookie);
    const now = Date.now();
    await this.db.batch([
      this.db.prepare("DELETE FROM sessions WHERE id = ?1").bind(oldSessionId),
      this.db.prepare("DELETE FROM oauth_states WHERE session_id = ?1").bind(oldSessionId),
      this.db
        .prepare("INSERT INTO sessions (id, user_uuid, proven, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(id, userUuid, proven ? 1 : 0, now, now + SESSION_TTL_MS),
    ]);
    return { session: { id, userUuid, proven }, cookie };
  }

  /** Deletes expired sessions and states (the daily cron); returns how many of each went. */
  async purgeExpired(now = Date.now()): Promise<{ sessions: number; states: number }> {
    const purge = async (table: "sessions" | "oauth_states") => {
      let deleted = 0;
      // At most 20 chunks a day: a few short queries, never a long one.
      for (let chunk = 0; chunk < 20; chunk++) {
        const { meta } = await this.db
          .prepare(`DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE expires_at <= ?1 LIMIT ?2)`)
          .bind(now, PURGE_CHUNK)
          .run();
        deleted += meta.changes;
        if (meta.changes < PURGE_CHUNK) break;
      }
      return deleted;
    };
    const purged = { sessions: await purge("sessions"), states: await purge("oauth_states") };
    log.info(`Purged ${purged.sessions} expired sessions and ${purged.states} expired states`, purged);
    return purged;
  }

  /** Row counts, for the operator's status. */
  async counts(): Promise<{ sessions: number; states: number }> {
    const [sessions, states] = await this.db.batch([
      this.db.prepare("SELECT COUNT(*) AS n FROM sessions"),
      this.db.prepare("SELECT COUNT(*) AS n FROM oauth_states"),
    ]);
    const count = z.object({ n: z.number() });
    return { sessions: firstRowOf(sessions, count)?.n ?? 0, states: firstRowOf(states, count)?.n ?? 0 };
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
    const used = await firstRow(
      this.db
        .prepare(
          `DELETE FROM oauth_states
         WHERE state = ?1 AND session_id = ?2 AND provider = ?3 AND shop IS ?4 AND expires_at > ?5
         RETURNING shop`,
        )
        .bind(state, sessionId ?? "", provider, shop, Date.now()),
      z.object({ shop: z.string().nullable() }),
    );
    if (used) return { ok: true, shop: used.shop };
    const row = await firstRow(
      this.db.prepare("SELECT session_id, provider, shop, expires_at FROM oauth_states WHERE state = ?1").bind(state),
      z.object({ session_id: z.string(), provider: providers, shop: z.string().nullable(), expires_at: z.number() }),
    );
    if (!row) return { ok: false, reason: "unknown" };
    if (row.session_id !== sessionId) return { ok: false, reason: "other_session" };
    if (row.provider !== provider) return { ok: false, reason: "wrong_provider" };
    if (row.shop !== shop) return { ok: false, reason: "other_shop" };
    return { ok: false, reason: "expired" };
  }
}
