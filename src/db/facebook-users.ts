import type { RowJournal, RowRef } from "../backup/journal";
import { commitJournaled } from "./journaled";
import { z } from "zod";
import { rowsOf } from "./rows";

/**
 * The Facebook users of logins (app-scoped ids from `GET /me`) and the pages each one granted, so a
 * Data Deletion Request or a deauthorize callback, which names only the user, finds the pages. Both
 * tables are journaled (FacebookUserStore writes them): after a restore, a deletion request still
 * finds the pages of the user it names.
 */

export interface FacebookUser {
  facebookUserId: string;
  userUuid: string;
  deauthorizedAt: number | null;
}

export interface GrantedPage {
  pageId: string;
  /** The page's owner (the `pages` link), null when the page is not linked. */
  ownerUuid: string | null;
  /** This Facebook user linked the page (see FacebookUserStore.recordLogin). */
  linked: boolean;
}

export interface LoginGrant {
  pageId: string;
  /** This login links the page now. */
  linksNow: boolean;
  /** The page belongs to the login's own account (linked now or before), not to another one. */
  own: boolean;
}

export async function facebookUser(db: D1Database, facebookUserId: string): Promise<FacebookUser | null> {
  const row = await db
    .prepare("SELECT facebook_user_id, user_uuid, deauthorized_at FROM facebook_users WHERE facebook_user_id = ?1")
    .bind(facebookUserId)
    .first<{ facebook_user_id: string; user_uuid: string; deauthorized_at: number | null }>();
  return row
    ? { facebookUserId: row.facebook_user_id, userUuid: row.user_uuid, deauthorizedAt: row.deauthorized_at }
    : null;
}

/** The pages this Facebook user granted at their logins, with each page's current owner. */
export async function pagesGrantedBy(db: D1Database, facebookUserId: string): Promise<GrantedPage[]> {
  const { results } = await db
    .prepare(
      `SELECT g.page_id, g.linked, p.user_uuid FROM facebook_page_grants g LEFT JOIN pages p ON p.page_id = g.page_id
       WHERE g.facebook_user_id = ?1 ORDER BY g.page_id`,
    )
    .bind(facebookUserId)
    .all<{ page_id: string; user_uuid: string | null; linked: number }>();
  return results.map((r) => ({ pageId: r.page_id, ownerUuid: r.user_uuid, linked: r.linked === 1 }));
}

const userRef = (facebookUserId: string): RowRef => ({ table: "facebook_users", key: facebookUserId });
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
   * A login: the user (owner refreshed, deauthorization cleared) and each page it granted. A grant
   * is the page's linking one when this login links it, or when it is the account's own page and
   * no other Facebook user linked it.
   */
  async recordLogin(facebookUserId: string, userUuid: string, grants: LoginGrant[]): Promise<void> {
    const now = Date.now();
    await commitJournaled(this.db, this.journal, [
      {
        statement: this.db
          .prepare(
            `INSERT INTO facebook_users (facebook_user_id, user_uuid, linked_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (facebook_user_id) DO UPDATE SET user_uuid = excluded.user_uuid,
               linked_at = excluded.linked_at, deauthorized_at = NULL`,
          )
          .bind(facebookUserId, userUuid, now),
        ref: userRef(facebookUserId),
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

  /** Meta's deauthorize callback: the user stays known (their grants too), marked. */
  async markDeauthorized(facebookUserId: string, deadlineMs?: number): Promise<void> {
    await commitJournaled(
      this.db,
      this.journal,
      [
        {
          statement: this.db
            .prepare("UPDATE facebook_users SET deauthorized_at = ?2 WHERE facebook_user_id = ?1")
            .bind(facebookUserId, Date.now()),
          ref: userRef(facebookUserId),
        },
      ],
      deadlineMs,
    );
  }

  /** Forgets the user and their grants (the last step of a data deletion). */
  async forget(facebookUserId: string): Promise<void> {
    await commitJournaled(this.db, this.journal, [
      {
        // Every grant deleted is journaled as deleted, even one a login added a moment ago.
        statement: this.db
          .prepare("DELETE FROM facebook_page_grants WHERE facebook_user_id = ?1 RETURNING page_id")
          .bind(facebookUserId),
        ref: (result) =>
          rowsOf(result, z.object({ page_id: z.string() })).map((g) => grantRef(g.page_id, facebookUserId)),
      },
      {
        statement: this.db.prepare("DELETE FROM facebook_users WHERE facebook_user_id = ?1").bind(facebookUserId),
        ref: userRef(facebookUserId),
      },
    ]);
  }
}
