import type { JournalEntry } from "../backup/journal";

/** Messages on the `jobs` queue: work that must not hold up a webhook's answer or a cron. */
export type Job =
  | { type: "journal.write"; entry: JournalEntry }
  | { type: "shopify.sync"; shop: string; reason: "webhook" | "install" | "poll" }
  | { type: "shopify.redact"; shop: string; userUuid: string }
  /** `shop/update`: the shop's metadata read again. */
  | { type: "shopify.metadata"; shop: string }
  | { type: "facebook.page_metadata"; pageId: string; reason: "webhook" | "poll" }
  /** `continuation`: a follow-up job of a long poll, resuming from the saved cursor; `maxCalls`: its Graph call budget. */
  | { type: "facebook.poll"; pageId: string; continuation?: boolean; maxCalls?: number }
  /** One attachment of a message copied into Spaces (its URL is asked from the conversation). */
  | { type: "facebook.attachment_copy"; pageId: string; customerId: string; mid: string; index: number }
  /** A customer's name and picture from the User Profile API. */
  | { type: "facebook.customer_profile"; pageId: string; customerId: string }
  /** Carries the request itself, so the work survives a restore of D1 to before it was recorded. */
  | { type: "facebook.data_deletion"; code: string; facebookUserId: string; issuedAt: number; userUuid: string };

/** Where a job's log lines and errors point. */
export function jobSubject(job: Job): string {
  if (job.type === "journal.write") return "the token journal";
  if (job.type === "facebook.data_deletion") return `data deletion request ${job.code}`;
  return "shop" in job ? job.shop : `page ${job.pageId}`;
}

/** Sends jobs in batches of at most 100 (the Queues limit per sendBatch). */
export async function enqueueAll(queue: Queue, jobs: Job[]): Promise<number> {
  for (let i = 0; i < jobs.length; i += 100) {
    await queue.sendBatch(jobs.slice(i, i + 100).map((body) => ({ body, contentType: "json" as const })));
  }
  return jobs.length;
}
