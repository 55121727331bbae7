import { z } from "zod";
import { ALERT_EVENTS } from "../alerts/body";
import { isDatabaseName, type DatabaseName } from "../backup/dump";
import { isRowChange, type RowChange } from "../backup/journal";

/**
 * Messages on the `jobs` queue: work that must not hold up a webhook's answer or a cron. A message
 * (or a dead job re-read from D1) may have been written by another version of the worker, so it is
 * parsed with `jobSchema` before it runs; what does not parse is kept as a dead job, never run.
 */
export const jobSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("journal.write"),
    entry: z.object({
      format: z.literal(2),
      at: z.number(),
      seq: z.number().int().positive().optional(),
      changes: z.array(z.custom<RowChange>(isRowChange)),
    }),
  }),
  /** Loads these backups into scratch databases and writes their signed records (src/backup/restore-test.ts). */
  z.object({
    type: z.literal("backup.restore_test"),
    backups: z.array(
      z.object({
        database: z.custom<DatabaseName>((v) => typeof v === "string" && isDatabaseName(v)),
        stamp: z.string(),
      }),
    ),
  }),
  /** An alert whose first delivery failed: sent again until ALERTS_WEBHOOK_URL takes it. */
  z.object({
    type: z.literal("alert.deliver"),
    id: z.number().int(),
    body: z.object({
      event: z.enum(ALERT_EVENTS),
      at: z.string(),
      shop: z.string().optional(),
      page_id: z.string().optional(),
      state: z.string(),
      detail: z.string(),
    }),
  }),
  z.object({ type: z.literal("shopify.sync"), shop: z.string(), reason: z.enum(["webhook", "install", "poll"]) }),
  z.object({ type: z.literal("shopify.redact"), shop: z.string(), userUuid: z.string() }),
  /** `shop/update`: the shop's metadata read again. */
  z.object({ type: z.literal("shopify.metadata"), shop: z.string() }),
  z.object({ type: z.literal("facebook.page_metadata"), pageId: z.string(), reason: z.enum(["webhook", "poll"]) }),
  z.object({
    type: z.literal("facebook.poll"),
    pageId: z.string(),
    /** A follow-up job of a long poll, resuming from the saved cursor. */
    continuation: z.boolean().optional(),
    /** The follow-up's Graph call budget. */
    maxCalls: z.number().int().positive().optional(),
  }),
  /** One attachment of a message copied into Spaces (its URL is asked from the conversation). */
  z.object({
    type: z.literal("facebook.attachment_copy"),
    pageId: z.string(),
    customerId: z.string(),
    mid: z.string(),
    index: z.number().int().nonnegative(),
  }),
  /**
   * Puts back the page's conversation files Spaces lost. `after`: the senders up to it are checked;
   * `perJob`: senders a job checks (SENDERS_PER_JOB of src/facebook/objects.ts unless set).
   */
  z.object({
    type: z.literal("facebook.conversation_files"),
    pageId: z.string(),
    after: z.string().optional(),
    perJob: z.number().int().positive().optional(),
  }),
  /** Carries the request itself, so the work survives a restore of D1 to before it was recorded. */
  z.object({
    type: z.literal("facebook.data_deletion"),
    code: z.string(),
    facebookUserId: z.string(),
    issuedAt: z.number(),
    userUuid: z.string(),
  }),
]);

export type Job = z.infer<typeof jobSchema>;

/** A message or stored body as a job this version runs, or why it is not one. */
export function parseJob(body: unknown): { job: Job } | { problem: string } {
  const parsed = jobSchema.safeParse(body);
  if (parsed.success) return { job: parsed.data };
  const issue = parsed.error.issues[0];
  return { problem: `not a job this worker runs (${issue?.path.join(".") || "body"}: ${issue?.message})` };
}

/** Where a job's log lines and errors point. */
export function jobSubject(job: Job): string {
  if (job.type === "journal.write") return "the token journal";
  if (job.type === "backup.restore_test")
    return `the restore test of ${job.backups.map((b) => `${b.database} ${b.stamp}`).join(", ")}`;
  if (job.type === "alert.deliver") return `alert ${job.body.event} ${job.body.state}`;
  if (job.type === "facebook.data_deletion") return `data deletion request ${job.code}`;
  return "shop" in job ? job.shop : `page ${job.pageId}`;
}

/** The Queues limit of messages per `sendBatch`. */
export const SEND_BATCH_LIMIT = 100;

/** Sends jobs in batches of at most SEND_BATCH_LIMIT. */
export async function enqueueAll(queue: Queue, jobs: Job[]): Promise<number> {
  for (let i = 0; i < jobs.length; i += SEND_BATCH_LIMIT) {
    const slice = jobs.slice(i, i + SEND_BATCH_LIMIT);
    await queue.sendBatch(slice.map((body) => ({ body, contentType: "json" as const })));
  }
  return jobs.length;
}
