import { z } from "zod";
import { randomHex } from "../lib/encoding";
import { redact } from "../lib/log";
import { sha256Hex } from "../lib/signatures";
import { firstRow, firstRowOf } from "./rows";

/** The operator console's sign-ins and the count of wrong tokens per client (the `sessions` database). */

/** A console sign-in lasts this long, from sign-in (not extended by use). */
export const ADMIN_SESSION_TTL_MS = 60 * 60 * 1000;
/** Admin-token attempts (sign-in or Bearer) a client may make within the window that are not right. */
export const SIGN_IN_FAILURE_LIMIT = 5;
export const SIGN_IN_WINDOW_MS = 15 * 60 * 1000;

const COOKIE_SHAPE = /^[0-9a-f]{64}$/;

export class AdminSessionStore {
  constructor(private readonly db: D1Database) {}

  /** A new sign-in; returns the cookie value to send (only its hash is stored). */
  async create(): Promise<{ cookie: string; expiresAt: number }> {
    const cookie = randomHex(32);
    redact(cookie);
    const now = Date.now();
    const expiresAt = now + ADMIN_SESSION_TTL_MS;
    await this.db.batch([
      this.db.prepare("DELETE FROM admin_sessions WHERE expires_at < ?1").bind(now),
      this.db
        .prepare("INSERT INTO admin_sessions (id, created_at, expires_at) VALUES (?1, ?2, ?3)")
        .bind(await sha256Hex(cookie), now, expiresAt),
    ]);
    return { cookie, expiresAt };
  }

  /** True when this cookie value is a sign-in that has not expired or been signed out. */
  async isValid(cookie: string | undefined): Promise<boolean> {
    if (!cookie || !COOKIE_SHAPE.test(cookie)) return false;
    const row = await firstRow(
      this.db
        .prepare("SELECT 1 AS ok FROM admin_sessions WHERE id = ?1 AND expires_at > ?2")
        .bind(await sha256Hex(cookie), Date.now()),
      z.object({ ok: z.number() }),
    );
    // Only a real sign-in is a secret to keep out of logs: what anyone sends is not registered.
    if (row !== null) redact(cookie);
    return row !== null;
  }

  /** Signs out: the cookie value stops working at once. */
  async delete(cookie: string | undefined): Promise<void> {
    if (!cookie || !COOKIE_SHAPE.test(cookie)) return;
    await this.db
      .prepare("DELETE FROM admin_sessions WHERE id = ?1")
      .bind(await sha256Hex(cookie))
      .run();
  }

  /**
   * Takes one admin-token attempt for this client, counted before the token is checked, in one
   * statement: concurrent attempts each get their own count, so no more than
   * SIGN_IN_FAILURE_LIMIT tokens a window are ever checked. A window that has passed starts again
   * at one. A right token gives its attempt back (`giveBack`) or clears the count.
   */
  async takeAttempt(client: string): Promise<{ allowed: boolean; attempts: number }> {
    const now = Date.now();
    const id = await sha256Hex(client);
    const [, counted] = await this.db.batch([
      // Other clients' windows that have passed are forgotten.
      this.db
        .prepare("DELETE FROM admin_sign_in_failures WHERE window_start <= ?1 AND client != ?2")
        .bind(now - SIGN_IN_WINDOW_MS, id),
      this.db
        .prepare(
          `INSERT INTO admin_sign_in_failures (client, failures, window_start) VALUES (?1, 1, ?2)
           ON CONFLICT (client) DO UPDATE SET
             failures = CASE WHEN window_start > ?3 THEN failures + 1 ELSE 1 END,
             window_start = CASE WHEN window_start > ?3 THEN window_start ELSE ?2 END
           RETURNING failures`,
        )
        .bind(id, now, now - SIGN_IN_WINDOW_MS),
    ]);
    const attempts = firstRowOf(counted, z.object({ failures: z.number() }))?.failures ?? 1;
    return { allowed: attempts <= SIGN_IN_FAILURE_LIMIT, attempts };
  }

  /** A right token's attempt no longer counts against its client. */
  async giveBack(client: string): Promise<void> {
    await this.db
      .prepare("UPDATE admin_sign_in_failures SET failures = failures - 1 WHERE client = ?1 AND failures > 0")
      .bind(await sha256Hex(client))
      .run();
  }

  /** A right token clears the client's count. */
  async clearFailures(client: string): Promise<void> {
    await this.db
      .prepare("DELETE FROM admin_sign_in_failures WHERE client = ?1")
      .bind(await sha256Hex(client))
      .run();
  }
}
