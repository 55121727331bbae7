import { z } from "zod";
import { allRows, firstRow, firstRowOf } from "./rows";

/**
 * The monitoring's D1 side (tables of migration 0011): the last state of each subject an alert is
 * about, the alerts sent (the newest ALERT_LOG_KEPT), and the last backup heartbeat.
 */

/** Alerts kept for the console: older ones are deleted as new ones come. */
export const ALERT_LOG_KEPT = 200;

const subjectRow = z.object({ subject: z.string() });

/**
 * A subject went to a failing state: true when that is a change (new, or it was in another state),
 * so the alert goes out once however many calls fail.
 */
export async function enterFailingState(db: D1Database, subject: string, state: string, at = Date.now()) {
  const statement = db
    .prepare(
      `INSERT INTO alert_states (subject, state, changed_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (subject) DO UPDATE SET state = excluded.state, changed_at = excluded.changed_at
         WHERE alert_states.state <> excluded.state
       RETURNING subject`,
    )
    .bind(subject, state, at);
  return (await firstRow(statement, subjectRow)) !== null;
}

/**
 * A subject works: true only when it was recorded in another state (a recovery). A subject never
 * seen failing costs one statement and writes nothing.
 */
export async function enterWorkingState(db: D1Database, subject: string, state: string, at = Date.now()) {
  const statement = db
    .prepare("UPDATE alert_states SET state = ?2, changed_at = ?3 WHERE subject = ?1 AND state <> ?2 RETURNING subject")
    .bind(subject, state, at);
  return (await firstRow(statement, subjectRow)) !== null;
}

/** Forgets a subject (a dead job done): its next failure alerts again. */
export async function forgetState(db: D1Database, subject: string) {
  await db.prepare("DELETE FROM alert_states WHERE subject = ?1").bind(subject).run();
}

export interface AlertRecord {
  id: number;
  at: number;
  event: string;
  shop: string | null;
  pageId: string | null;
  state: string;
  detail: string;
  delivery: string;
}

const alertRow = z.object({
  id: z.number(),
  at: z.number(),
  event: z.string(),
  shop: z.string().nullable(),
  page_id: z.string().nullable(),
  state: z.string(),
  detail: z.string(),
  delivery: z.string(),
});

/** Records an alert and how its delivery went; keeps the newest ALERT_LOG_KEPT. */
export async function recordAlert(db: D1Database, alert: Omit<AlertRecord, "id">): Promise<number> {
  const [inserted] = await db.batch([
    db
      .prepare(
        `INSERT INTO alert_log (at, event, shop, page_id, state, detail, delivery) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         RETURNING id`,
      )
      .bind(alert.at, alert.event, alert.shop, alert.pageId, alert.state, alert.detail, alert.delivery),
    db.prepare("DELETE FROM alert_log WHERE id <= (SELECT MAX(id) FROM alert_log) - ?1").bind(ALERT_LOG_KEPT),
  ]);
  return firstRowOf(inserted, z.object({ id: z.number() }))!.id;
}

/** A queued delivery of an alert ended (delivered, or failed for good). */
export async function recordAlertDelivery(db: D1Database, id: number, delivery: string) {
  await db.prepare("UPDATE alert_log SET delivery = ?2 WHERE id = ?1").bind(id, delivery.slice(0, 200)).run();
}

/** The newest alerts first. */
export async function latestAlerts(db: D1Database, limit = 20): Promise<AlertRecord[]> {
  const rows = await allRows(db.prepare("SELECT * FROM alert_log ORDER BY id DESC LIMIT ?1").bind(limit), alertRow);
  return rows.map((r) => ({
    id: r.id,
    at: r.at,
    event: r.event,
    shop: r.shop,
    pageId: r.page_id,
    state: r.state,
    detail: r.detail,
    delivery: r.delivery,
  }));
}

const heartbeatRow = z.object({ at: z.number(), backup: z.string(), delivery: z.string() });
export type HeartbeatRecord = z.infer<typeof heartbeatRow>;

export async function recordHeartbeat(db: D1Database, beat: HeartbeatRecord) {
  await db
    .prepare(
      `INSERT INTO backup_heartbeats (id, at, backup, delivery) VALUES (1, ?1, ?2, ?3)
       ON CONFLICT (id) DO UPDATE SET at = excluded.at, backup = excluded.backup, delivery = excluded.delivery`,
    )
    .bind(beat.at, beat.backup, beat.delivery.slice(0, 200))
    .run();
}

export async function lastHeartbeat(db: D1Database): Promise<HeartbeatRecord | null> {
  return firstRow(db.prepare("SELECT at, backup, delivery FROM backup_heartbeats WHERE id = 1"), heartbeatRow);
}
