import { z } from "zod";
import { statusRows } from "./status-rows";

/**
 * Per page, what the operator needs to see and what a bounded poll needs to carry on: the saved
 * poll cursor, the last poll (time, result, duration, Graph calls, jobs), the last webhook, the
 * webhook subscription's health, and whether the page token died.
 */

export interface PageStatus {
  pageId: string;
  pollCursor: string | null;
  pollStartedAt: number | null;
  pollJobs: number;
  pollCalls: number;
  lastPollAt: number | null;
  lastPollResult: string | null;
  lastPollDurationMs: number | null;
  lastPollCalls: number | null;
  lastPollJobs: number | null;
  lastWebhookAt: number | null;
  subscriptionHealth: string | null;
  subscriptionCheckedAt: number | null;
  tokenState: "active" | "dead";
  tokenError: string | null;
}

const rowSchema = z.object({
  page_id: z.string(),
  poll_cursor: z.string().nullable(),
  poll_started_at: z.number().nullable(),
  poll_jobs: z.number(),
  poll_calls: z.number(),
  last_poll_at: z.number().nullable(),
  last_poll_result: z.string().nullable(),
  last_poll_duration_ms: z.number().nullable(),
  last_poll_calls: z.number().nullable(),
  last_poll_jobs: z.number().nullable(),
  last_webhook_at: z.number().nullable(),
  subscription_health: z.string().nullable(),
  subscription_checked_at: z.number().nullable(),
  token_state: z.enum(["active", "dead"]),
  token_error: z.string().nullable(),
});
type Row = z.infer<typeof rowSchema>;

const fromRow = (r: Row): PageStatus => ({
  pageId: r.page_id,
  pollCursor: r.poll_cursor,
  pollStartedAt: r.poll_started_at,
  pollJobs: r.poll_jobs,
  pollCalls: r.poll_calls,
  lastPollAt: r.last_poll_at,
  lastPollResult: r.last_poll_result,
  lastPollDurationMs: r.last_poll_duration_ms,
  lastPollCalls: r.last_poll_calls,
  lastPollJobs: r.last_poll_jobs,
  lastWebhookAt: r.last_webhook_at,
  subscriptionHealth: r.subscription_health,
  subscriptionCheckedAt: r.subscription_checked_at,
  tokenState: r.token_state,
  tokenError: r.token_error,
});

const ensureRow = (db: D1Database, pageId: string) =>
  db.prepare("INSERT INTO facebook_page_status (page_id) VALUES (?1) ON CONFLICT (page_id) DO NOTHING").bind(pageId);

const rows = statusRows("facebook_page_status", "page_id", rowSchema, fromRow);

export const pageStatus = (db: D1Database, pageId: string) => rows.one(db, pageId);

/** Every page's status, ordered by page id, in pages of `limit` (for the operator's console). */
export const pageStatuses = (db: D1Database, after = "", limit = 1000) => rows.list(db, after, limit);

/**
 * A poll job begins. A daily job opens a new poll unless a recent one left a cursor (a retried job
 * resumes it); a follow-up job counts itself in.
 */
export async function pollJobStarting(
  db: D1Database,
  pageId: string,
  first: boolean,
  maxCursorAgeMs: number,
): Promise<PageStatus> {
  const now = Date.now();
  const statements = [ensureRow(db, pageId)];
  if (first) {
    statements.push(
      db
        .prepare(
          `UPDATE facebook_page_status SET poll_cursor = NULL, poll_started_at = ?2, poll_jobs = 1, poll_calls = 0
           WHERE page_id = ?1 AND (poll_cursor IS NULL OR poll_started_at IS NULL OR poll_started_at < ?3)`,
        )
        .bind(pageId, now, now - maxCursorAgeMs),
    );
  }
  // Counts this job in, unless it has just opened the poll (which counted it as the first).
  statements.push(
    db
      .prepare(
        `UPDATE facebook_page_status SET poll_jobs = poll_jobs + 1, poll_started_at = COALESCE(poll_started_at, ?2)
         WHERE page_id = ?1 AND (?3 = 0 OR poll_started_at <> ?2)`,
      )
      .bind(pageId, now, first ? 1 : 0),
  );
  await db.batch(statements);
  return (await pageStatus(db, pageId))!;
}

/** A poll job ran out of its calls: the cursor is saved for the follow-up job. */
export async function savePollCursor(db: D1Database, pageId: string, cursor: string, calls: number): Promise<void> {
  await db
    .prepare("UPDATE facebook_page_status SET poll_cursor = ?2, poll_calls = poll_calls + ?3 WHERE page_id = ?1")
    .bind(pageId, cursor, calls)
    .run();
}

/** A poll ended (`Success` or `Failed (...)`): its figures become the last poll's. */
export async function pollFinished(db: D1Database, pageId: string, result: string, calls: number): Promise<void> {
  const now = Date.now();
  await db.batch([
    ensureRow(db, pageId),
    db
      .prepare(
        `UPDATE facebook_page_status SET poll_cursor = NULL, last_poll_at = ?2, last_poll_result = ?3,
           last_poll_duration_ms = ?2 - COALESCE(poll_started_at, ?2), last_poll_calls = poll_calls + ?4,
           last_poll_jobs = poll_jobs, poll_started_at = NULL, poll_jobs = 0, poll_calls = 0
         WHERE page_id = ?1`,
      )
      .bind(pageId, now, result.slice(0, 300), calls),
  ]);
}

/** Webhook deliveries reached these pages now. */
export async function webhookReceived(db: D1Database, pageIds: string[]): Promise<void> {
  if (!pageIds.length) return;
  const now = Date.now();
  await db.batch(
    pageIds.flatMap((pageId) => [
      ensureRow(db, pageId),
      db.prepare("UPDATE facebook_page_status SET last_webhook_at = ?2 WHERE page_id = ?1").bind(pageId, now),
    ]),
  );
}

export async function recordSubscriptionHealth(db: D1Database, pageId: string, health: string): Promise<void> {
  await db.batch([
    ensureRow(db, pageId),
    db
      .prepare(
        "UPDATE facebook_page_status SET subscription_health = ?2, subscription_checked_at = ?3 WHERE page_id = ?1",
      )
      .bind(pageId, health.slice(0, 300), Date.now()),
  ]);
}

/** The page token was refused for good (Graph error 190), or is fresh again after a login. */
export async function recordTokenState(
  db: D1Database,
  pageId: string,
  state: "active" | "dead",
  error: string | null = null,
): Promise<void> {
  await db.batch([
    ensureRow(db, pageId),
    db
      .prepare("UPDATE facebook_page_status SET token_state = ?2, token_error = ?3 WHERE page_id = ?1")
      .bind(pageId, state, error ? error.slice(0, 300) : null),
  ]);
}

/** The status of these pages (one page of the console), by page id. */
export const pageStatusesOf = (db: D1Database, pageIds: string[]) => rows.of(db, pageIds);
