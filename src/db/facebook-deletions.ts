import { z } from "zod";
import type { RowJournal, RowRef } from "../backup/journal";
import { randomHex } from "../lib/encoding";
import { commitJournaled } from "./journaled";
import { firstRow } from "./rows";

/**
 * Data Deletion Requests from Meta and what each deleted (counts only, never the data). Journaled
 * (DeletionStore writes them): a request answered, or done, stays so after a restore, and its
 * confirmation code still shows the person its status.
 */

const deletionStatus = z.enum(["received", "in_progress", "done"]);
export type DeletionStatus = z.infer<typeof deletionStatus>;

export interface Deletion {
  code: string;
  facebookUserId: string;
  /** Meta's `issued_at` of the request (epoch seconds): logins from its next second on stay. */
  issuedAt: number;
  /** The UUID the person logged in under most recently when the request came (one of several). */
  userUuid: string | null;
  status: DeletionStatus;
  pages: number;
  tokensDeleted: number;
  objectsDeleted: number;
  conversationsForgotten: number;
  requestedAt: number;
  updatedAt: number;
}

const rowSchema = z.object({
  code: z.string(),
  facebook_user_id: z.string(),
  issued_at: z.number(),
  user_uuid: z.string().nullable(),
  status: deletionStatus,
  pages: z.number(),
  tokens_deleted: z.number(),
  objects_deleted: z.number(),
  conversations_forgotten: z.number(),
  requested_at: z.number(),
  updated_at: z.number(),
});
type Row = z.infer<typeof rowSchema>;

const fromRow = (r: Row): Deletion => ({
  code: r.code,
  facebookUserId: r.facebook_user_id,
  issuedAt: r.issued_at,
  userUuid: r.user_uuid,
  status: r.status,
  pages: r.pages,
  tokensDeleted: r.tokens_deleted,
  objectsDeleted: r.objects_deleted,
  conversationsForgotten: r.conversations_forgotten,
  requestedAt: r.requested_at,
  updatedAt: r.updated_at,
});

/** A confirmation code: 32 hex characters. */
export const isDeletionCode = (code: string) => /^[0-9a-f]{32}$/.test(code);

export async function deletionByCode(db: D1Database, code: string): Promise<Deletion | null> {
  const row = await firstRow(db.prepare("SELECT * FROM facebook_deletions WHERE code = ?1").bind(code), rowSchema);
  return row ? fromRow(row) : null;
}

const deletionRef = (code: string): RowRef => ({ table: "facebook_deletions", key: code });

/** Every write of `facebook_deletions`, journaled. */
export class DeletionStore {
  constructor(
    private readonly db: D1Database,
    private readonly journal: RowJournal,
  ) {}

  /**
   * Records a request once: the same user and `issued_at` (Meta sending the same request again)
   * give back the first row and its code. `created` tells the caller whether to start the work.
   */
  async record(
    facebookUserId: string,
    issuedAt: number,
    userUuid: string | null,
    { code = randomHex(16), deadlineMs }: { code?: string; deadlineMs?: number } = {},
  ): Promise<{ deletion: Deletion; created: boolean }> {
    const now = Date.now();
    const [inserted] = await commitJournaled(
      this.db,
      this.journal,
      [
        {
          statement: this.db
            .prepare(
              `INSERT INTO facebook_deletions (code, facebook_user_id, issued_at, user_uuid, status, requested_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'received', ?5, ?5) ON CONFLICT (facebook_user_id, issued_at) DO NOTHING`,
            )
            .bind(code, facebookUserId, issuedAt, userUuid, now),
          ref: (result) => (result.meta.changes === 1 ? [deletionRef(code)] : []),
        },
      ],
      deadlineMs,
    );
    const row = await firstRow(
      this.db
        .prepare("SELECT * FROM facebook_deletions WHERE facebook_user_id = ?1 AND issued_at = ?2")
        .bind(facebookUserId, issuedAt),
      rowSchema,
    );
    return { deletion: fromRow(row!), created: inserted!.meta.changes === 1 };
  }

  /** Moves a request on and adds to its counts (a retried job adds only what it deleted itself). */
  async update(
    code: string,
    status: DeletionStatus,
    add: { pages?: number; tokens?: number; objects?: number; conversations?: number } = {},
    deadlineMs?: number,
  ): Promise<void> {
    await commitJournaled(
      this.db,
      this.journal,
      [
        {
          statement: this.db
            .prepare(
              `UPDATE facebook_deletions SET status = ?2, pages = MAX(pages, ?3), tokens_deleted = tokens_deleted + ?4,
               objects_deleted = objects_deleted + ?5, conversations_forgotten = conversations_forgotten + ?6,
               updated_at = ?7
             WHERE code = ?1`,
            )
            .bind(code, status, add.pages ?? 0, add.tokens ?? 0, add.objects ?? 0, add.conversations ?? 0, Date.now()),
          ref: deletionRef(code),
        },
      ],
      deadlineMs,
    );
  }
}
