import type { RowJournal, RowRef } from "../backup/journal";
import { commitJournaled } from "./journaled";
import { z } from "zod";
import { allRows, firstRow, rowsOf } from "./rows";

/**
 * The Facebook users of logins (app-scoped ids from `GET /me`), every user UUID each one logged in
 * under, and the pages each one granted, so a Data Deletion Request or a deauthorize callback, which
 * names only the user, finds the pages under every UUID. The three tables are journaled
 * (FacebookUserStore writes them): after a restore, a deletion request still finds the pages of the
 * user it names.
 */

export interface FacebookUser {
  facebookUserId: string;
  /** The UUID of the user's first login (each login's UUID is in facebook_user_accounts). */
  userUuid: string;
  /** When the user last logged in (epoch ms). */
  lastLoginAt: number;
  deauthorizedAt: number | null;
}

export interface GrantedPage {
  pageId: string;
  /** The page's owner (the `pages` link), null when the page is not linked. */
  ownerUuid: string | null;
  /** This Facebook user linked the page (see FacebookUserStore.recordLogin). */
  linked: boolean;
  /** The latest login of this user that granted the page (epoch ms). */
  grantedAt: number;
}

export interface LoginGrant {
  pageId: string;
  /** This login links the page now. */
  linksNow: boolean;
  /** The page belongs to the account this login proved (linked now or before), not to another one. */
  own: boolean;
}

export async function facebookUser(db: D1Database, facebookUserId: string): Promise<FacebookUser | null> {
  const row = await firstRow(
    db
      .prepare(
        "SELECT facebook_user_id, user_uuid, linked_at, deauthorized_at FROM facebook_users WHERE facebook_user_id = ?1",
      )
      .bind(facebookUserId),
    z.object({
      facebook_user_id: z.string(),
      user_uuid: z.string(),
      linked_at: z.number(),
      deauthorized_at: z.number().nullable(),
    }),
  );
  return row
    ? {
        facebookUserId: row.facebook_user_id,
        userUuid: row.user_uuid,
        lastLoginAt: row.linked_at,
        deauthorizedAt: row.deauthorized_at,
      }
    : null;
}

const userUuidRow = z.object({ user_uuid: z.string() });

/** Every user UUID this Facebook user logged in under, the most recent first. */
export async function accountsOf(db: D1Database, facebookUserId: string): Promise<string[]> {
  const rows = await allRows(
    db
      .prepare(
        `SELECT user_uuid FROM facebook_user_accounts WHERE facebook_user_id = ?1
       ORDER BY last_login_at DESC, user_uuid`,
      )
      .bind(facebookUserId),
    userUuidRow,
  );
  return rows.map((r) => r.user_uuid);
}

/**
 * The UUIDs a login of this Facebook user proves itself the merchant of: the owners of the pages
 * the user linked, the one they logged in under most recently first.
 */
export async function accountsProvenBy(db: D1Database, facebookUserId: string): Promise<string[]> {
  const rows = await allRows(
    db
      .prepare(
        `SELECT p.user_uuid, MAX(COALESCE(a.last_login_at, 0)) AS at
       FROM facebook_page_grants g JOIN pages p ON p.page_id = g.page_id
       LEFT JOIN facebook_user_accounts a ON a.facebook_user_id = g.facebook_user_id AND a.user_uuid = p.user_uuid
       WHERE g.facebook_user_id = ?1 AND g.linked = 1
       GROUP BY p.user_uuid ORDER BY at DESC, p.user_uuid`,
      )
      .bind(facebookUserId),
    userUuidRow,
  );
  return rows.map((r) => r.user_uuid);
}

/** The pages this Facebook user granted at their logins, with each page's current owner. */
export async function pagesGrantedBy(db: D1Database, facebookUserId: string): Promise<GrantedPage[]> {
  const rows = await allRows(
    db
      .prepare(
        `SELECT g.page_id, g.linked, g.granted_at, p.user_uuid FROM facebook_page_grants g
       LEFT JOIN pages p ON p.page_id = g.page_id
       WHERE g.facebook_user_id = ?1 ORDER BY g.page_id`,
      )
      .bind(facebookUserId),
    z.object({ page_id: z.string(), user_uuid: z.string().nullable(), linked: z.number(), granted_at: z.number() }),
  );
  return rows.map((r) => ({
    pageId: r.page_id,
    ownerUuid: r.user_uuid,
    linked: r.linked === 1,
    grantedAt: r.granted_at,
  }));
}

const userRef = (facebookUserId: string): RowRef => ({ table: "facebook_users", key: facebookUserId });
const accountRef = (facebookUserId: string, userUuid: string): RowRef => ({
  table: "facebook_user_accounts",
  key: [facebookUserId, userUuid],
});
const grantRef = (pageId: string, facebookUserId: string): RowRef => ({
  table: "facebook_page_grants",
  key: [pageId, facebookUserId],
});

/** Every write of `facebook_users` and `facebook_page_grants`, each in one transaction, journaled. */
export class FacebookUserStore {
  constructor(
    private readonly db: D1Database,
    private readonly journal: RowJournal,
  ) {}

  /**
   * A login under `userUuid`: the user (last login time, deauthorization cleared), the UUID added
   * to the ones they logged in under (none is ever replaced), and each page it granted. A grant is
   * the page's linking one when this login links it, or when it is the proven account's own page
   * and no other Facebook user linked it.
   */
  async recordLogin(facebookUserId: string, userUuid: string, grants: LoginGrant[]): Promise<void> {
    const now = Date.now();
    await commitJournaled(this.db, this.journal, [
      {
        statement: this.db
          .prepare(
            `INSERT INTO facebook_users (facebook_user_id, user_uuid, linked_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (facebook_user_id) DO UPDATE SET linked_at = excluded.linked_at, deauthorized_at = NULL`,
          )
          .bind(facebookUserId, userUuid, now),
        ref: userRef(facebookUserId),
      },
      {
        statement: this.db
          .prepare(
            `INSERT INTO facebook_user_accounts (facebook_user_id, user_uuid, first_login_at, last_login_at)
             VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (facebook_user_id, user_uuid) DO UPDATE SET last_login_at = excluded.last_login_at`,
          )
          .bind(facebookUserId, userUuid, now),
        ref: accountRef(facebookUserId, userUuid),
      },
      ...grants.map((g) => ({
        statement: this.db
          .prepare(
            `INSERT INTO facebook_page_grants (page_id, facebook_user_id, granted_at, linked) VALUES (?1, ?2, ?3,
               CASE WHEN ?5 = 0 THEN 0 WHEN ?4 = 1 THEN 1
                 WHEN EXISTS (SELECT 1 FROM facebook_page_grants WHERE page_id = ?1 AND linked = 1 AND facebook_user_id <> ?2)
                 THEN 0 ELSE 1 END)
             ON CONFLICT (page_id, facebook_user_id) DO UPDATE SET granted_at = excluded.granted_at,
               linked = MAX(linked, excluded.linked)`,
          )
          .bind(g.pageId, facebookUserId, now, g.linksNow ? 1 : 0, g.own ? 1 : 0),
        ref: grantRef(g.pageId, facebookUserId),
      })),
    ]);
  }

  /**
   * Meta's deauthorize callback: the user stays known (their grants too), marked; unless they
   * logged in at or after `loginsBefore` (epoch ms), a login the request does not undo.
   */
  async markDeauthorized(facebookUserId: string, loginsBefore: number, deadlineMs?: number): Promise<void> {
    await commitJournaled(
      this.db,
      this.journal,
      [
        {
          statement: this.db
            .prepare("UPDATE facebook_users SET deauthorized_at = ?2 WHERE facebook_user_id = ?1 AND linked_at < ?3")
            .bind(facebookUserId, Date.now(), loginsBefore),
          ref: userRef(facebookUserId),
        },
      ],
      deadlineMs,
    );
  }

  /**
   * Forgets what logins before `loginsBefore` (epoch ms) recorded of the user: their grants, the
   * UUIDs they logged in under, and the user (the last step of a data deletion). What a later login
   * recorded stays, so a later request still finds it.
   */
  async forget(facebookUserId: string, loginsBefore: number): Promise<void> {
    await commitJournaled(this.db, this.journal, [
      {
        statement: this.db
          .prepare("DELETE FROM facebook_page_grants WHERE facebook_user_id = ?1 AND granted_at < ?2 RETURNING page_id")
          .bind(facebookUserId, loginsBefore),
        ref: (result) =>
          rowsOf(result, z.object({ page_id: z.string() })).map((g) => grantRef(g.page_id, facebookUserId)),
      },
      {
        statement: this.db
          .prepare(
            "DELETE FROM facebook_user_accounts WHERE facebook_user_id = ?1 AND last_login_at < ?2 RETURNING user_uuid",
          )
          .bind(facebookUserId, loginsBefore),
        ref: (result) => rowsOf(result, userUuidRow).map((a) => accountRef(facebookUserId, a.user_uuid)),
      },
      {
        statement: this.db
          .prepare("DELETE FROM facebook_users WHERE facebook_user_id = ?1 AND linked_at < ?2")
          .bind(facebookUserId, loginsBefore),
        ref: userRef(facebookUserId),
      },
    ]);
  }
}
