import { canonicalJson } from "../backup/auth";
import { sha256Hex } from "../lib/signatures";

/**
 * Dead jobs: work that failed every retry of the queue, kept in D1 (`dead_jobs`) instead of being
 * dropped. The daily cron retries each with backoff; compliance, deletion and journal work is
 * retried until it is done, other work (polls, syncs: the next day's poll does them again) is given
 * up after a few days but stays listed.
 */

export interface DeadJob {
  id: string;
  type: string;
  subject: string;
  error: string;
  attempts: number;
  firstFailedAt: number;
  lastFailedAt: number;
  retries: number;
  nextRetryAt: number;
  givenUp: boolean;
  /** Compliance, deletion or journal work: never given up. */
  critical: boolean;
  /** Older than a day and not done: the operator should look. */
  alert: boolean;
}

interface Row {
  id: string;
  type: string;
  subject: string;
  body: string;
  error: string;
  attempts: number;
  first_failed_at: number;
  last_failed_at: number;
  retries: number;
  next_retry_at: number;
  given_up: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Cron retries of work that is not critical before it is given up. */
const NON_CRITICAL_RETRIES = 4;

/**
 * Work that must never be dropped: compliance (redact), deletion requests, journal writes, and
 * attachment copies (each retry ends once the URL has expired, recorded as such).
 */
export const isCriticalJob = (type: string) =>
  type === "journal.write" || type === "facebook.attachment_copy" || /redact|delet/.test(type);

/**
 * When the next cron retry is due after `retries` failed ones: 1 h, 2 h, 4 h, ... at most 20 h,
 * so critical work is tried at every daily cron; null when non-critical work is given up.
 */
export function nextRetryDelayMs(type: string, retries: number): number | null {
  if (!isCriticalJob(type) && retries >= NON_CRITICAL_RETRIES) return null;
  return Math.min(2 ** retries * HOUR, 20 * HOUR);
}

const toDeadJob = (r: Row, now: number): DeadJob => ({
  id: r.id,
  type: r.type,
  subject: r.subject,
  error: r.error,
  attempts: r.attempts,
  firstFailedAt: r.first_failed_at,
  lastFailedAt: r.last_failed_at,
  retries: r.retries,
  nextRetryAt: r.next_retry_at,
  givenUp: r.given_up === 1,
  critical: isCriticalJob(r.type),
  alert: now - r.first_failed_at > DAY,
});

export const deadJobId = (body: unknown) => sha256Hex(canonicalJson(body));

/** Records a job that gave up (or gave up again): due for a cron retry at once. */
export async function recordDeadJob(
  db: D1Database,
  job: { type: string; subject: string; body: unknown; error: string; attempts: number },
  now = Date.now(),
): Promise<string> {
  const id = await deadJobId(job.body);
  await db
    .prepare(
      `INSERT INTO dead_jobs (id, type, subject, body, error, attempts, first_failed_at, last_failed_at, next_retry_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7)
       ON CONFLICT (id) DO UPDATE SET error = excluded.error, attempts = attempts + excluded.attempts,
         last_failed_at = excluded.last_failed_at, given_up = 0,
         next_retry_at = MIN(next_retry_at, excluded.next_retry_at)`,
    )
    .bind(id, job.type, job.subject, JSON.stringify(job.body), job.error.slice(0, 500), job.attempts, now)
    .run();
  return id;
}

/** Every dead job, oldest failure first (bodies stay in D1: they may hold encrypted rows). */
export async function listDeadJobs(db: D1Database, now = Date.now()): Promise<DeadJob[]> {
  const { results } = await db.prepare("SELECT * FROM dead_jobs ORDER BY first_failed_at, id").all<Row>();
  return results.map((r) => toDeadJob(r, now));
}

/** The dead jobs due for a retry now, with their bodies, at most `limit`. */
export async function dueDeadJobs(db: D1Database, now = Date.now(), limit = 50) {
  const { results } = await db
    .prepare("SELECT * FROM dead_jobs WHERE given_up = 0 AND next_retry_at <= ?1 ORDER BY next_retry_at LIMIT ?2")
    .bind(now, limit)
    .all<Row>();
  return results.map((r) => ({ job: toDeadJob(r, now), body: JSON.parse(r.body) as unknown }));
}

export async function deadJobBody(db: D1Database, id: string) {
  const row = await db.prepare("SELECT * FROM dead_jobs WHERE id = ?1").bind(id).first<Row>();
  return row ? { job: toDeadJob(row, Date.now()), body: JSON.parse(row.body) as unknown } : null;
}

/** The retry worked: the job is done and leaves the list. */
export async function deadJobDone(db: D1Database, id: string): Promise<void> {
  await db.prepare("DELETE FROM dead_jobs WHERE id = ?1").bind(id).run();
}

/** The retry failed too: the next one backs off (or non-critical work is given up). */
export async function deadJobFailedAgain(db: D1Database, id: string, type: string, error: string, now = Date.now()) {
  const row = await db.prepare("SELECT retries FROM dead_jobs WHERE id = ?1").bind(id).first<{ retries: number }>();
  const retries = (row?.retries ?? 0) + 1;
  const delay = nextRetryDelayMs(type, retries);
  await db
    .prepare(
      `UPDATE dead_jobs SET error = ?2, attempts = attempts + 1, last_failed_at = ?3, retries = ?4,
         next_retry_at = ?5, given_up = ?6 WHERE id = ?1`,
    )
    .bind(id, error.slice(0, 500), now, retries, now + (delay ?? 0), delay === null ? 1 : 0)
    .run();
  return { retries, givenUp: delay === null };
}
