import { z } from "zod";
import { badRequest } from "../lib/errors";
import { isolateCache } from "../lib/isolate-cache";
import { log, scrub } from "../lib/log";
import { isNumericId } from "../spaces/keys";
import { writablePageOwner } from "../db/facebook-pages";
import { webhookReceived } from "../db/page-status";
import { enqueueAll, type Job } from "../jobs/queue-jobs";
import { conversationStub, type MergeInput } from "../conversations/durable-object";
import { messagingUpdate } from "../conversations/messages";

/**
 * Pages known to be written, so a busy page costs no D1 query per delivery. Only positive answers
 * are kept, and only briefly: a deauthorize or a data deletion stops a page, and this isolate
 * forgets it at once (`forgetWritablePage`), other isolates within WRITABLE_TTL_MS. A message
 * merged meanwhile is never uploaded (the upload checks again); after a data deletion its Durable
 * Object drops it (the deletion stops the page's index first).
 */
const WRITABLE_TTL_MS = 60 * 1000;
const writablePages = isolateCache<string, true>("facebook.writable-pages", {
  why: "pages known to be written, so a busy page costs no D1 query per delivery",
  maxEntries: 10_000,
  ttlMs: WRITABLE_TTL_MS,
});

async function isWritablePage(db: D1Database, pageId: string): Promise<boolean> {
  if (writablePages.get(pageId)) return true;
  if (!(await writablePageOwner(db, pageId))) return false;
  writablePages.set(pageId, true);
  return true;
}

export const forgetWritablePage = (pageId: string) => writablePages.delete(pageId);

/** When this isolate last recorded a page's webhook time: once a minute per page is enough. */
const WEBHOOK_RECORD_MS = 60 * 1000;
const webhookRecorded = isolateCache<string, true>("facebook.webhook-recorded", {
  why: "pages whose webhook time this isolate recorded within the minute (one D1 write a minute a page)",
  maxEntries: 10_000,
  ttlMs: WEBHOOK_RECORD_MS,
});

const METADATA_FIELDS = new Set(["name", "category"]);

const entrySchema = z.object({
  id: z.union([z.string(), z.number()]).transform(String).refine(isNumericId, "Every entry needs a numeric page id"),
  time: z.number().optional(),
  messaging: z.array(z.unknown()).optional(),
  // Events of threads another app controls (handover protocol): stored like `messaging`.
  standby: z.array(z.unknown()).optional(),
  changes: z.array(z.object({ field: z.string().optional(), value: z.unknown().optional() }).loose()).optional(),
});
const deliverySchema = z.object({ object: z.literal("page"), entry: z.array(z.unknown()) });

type Entry = z.output<typeof entrySchema> & { raw: unknown };

/** Checks the delivery's shape before anything is acted on, so a bad delivery changes nothing. */
function entriesOf(body: unknown): Entry[] {
  const delivery = deliverySchema.safeParse(body);
  if (!delivery.success) throw badRequest('Expected {"object":"page","entry":[...]}');
  return delivery.data.entry.map((raw) => {
    const entry = entrySchema.safeParse(raw);
    if (!entry.success) {
      throw badRequest(
        `Invalid entry: ${entry.error.issues[0]?.path.join(".") || "entry"} ${entry.error.issues[0]?.message ?? ""}`.trim(),
      );
    }
    return { ...entry.data, raw };
  });
}

/** Keys whose string values are customers' words or links to their files: logged as their length. */
const HIDDEN_KEYS = new Set(["text", "url", "title", "payload", "photo_url", "video_url", "referer_uri"]);

/**
 * An entry as it may be logged: every message text, attachment URL, postback title and payload
 * replaced by its length (`"text":"[42 chars]"`), so customers' words stay out of logs.
 */
export function loggableEntry(value: unknown, key = ""): unknown {
  if (typeof value === "string") return HIDDEN_KEYS.has(key) ? `[${value.length} chars]` : value;
  if (Array.isArray(value)) return value.map((v) => loggableEntry(v, key));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, loggableEntry(v, k)]));
  }
  return value;
}

type PendingConversation = MergeInput & Required<Pick<MergeInput, "edits" | "referrals" | "handovers" | "reactions">>;

/**
 * Handles every entry and event of a Messenger delivery: messages (the customer's, the page's
 * echoes, postbacks), edits, referrals, handovers, reads and reactions are merged into their
 * conversation's Durable Object (which uploads, and queues attachment copies, after the answer);
 * page changes are queued. Nothing here waits on Spaces or the Graph API.
 */
export async function handleMessengerDelivery(env: Env, body: unknown) {
  const entries = entriesOf(body);
  const conversations = new Map<string, PendingConversation>();
  const refresh = new Set<string>();
  const seen = new Set<string>();
  let unlinked = 0;

  for (const entry of entries) {
    const pageId = entry.id;
    log.info(
      `Received webhook event for page ${pageId}: ${scrub(JSON.stringify(loggableEntry(entry.raw))).slice(0, 1000)}`,
      { page_id: pageId },
    );
    if (!(await isWritablePage(env.TOKENS_DB, pageId))) {
      unlinked++;
      log.info(`Ignored webhook event for page ${pageId}: page is not linked to a user`, { page_id: pageId });
      continue;
    }
    for (const change of entry.changes ?? []) {
      if (change.field && METADATA_FIELDS.has(change.field)) refresh.add(pageId);
    }
    if (refresh.has(pageId)) seen.add(pageId);
    const events = [
      ...(entry.messaging ?? []).map((event) => ({ event, standby: false })),
      ...(entry.standby ?? []).map((event) => ({ event, standby: true })),
    ];
    for (const { event, standby } of events) {
      const update = messagingUpdate(pageId, event, standby);
      if (!update) continue;
      seen.add(pageId);
      const id = `${pageId}:${update.customerId}`;
      let conv = conversations.get(id);
      if (!conv) {
        conv = {
          pageId,
          customerId: update.customerId,
          messages: [],
          edits: [],
          referrals: [],
          handovers: [],
          reactions: [],
        };
        conversations.set(id, conv);
      }
      if (update.message) conv.messages.push(update.message);
      if (update.edit) conv.edits.push(update.edit);
      if (update.referral) conv.referrals.push(update.referral);
      if (update.handover) conv.handovers.push(update.handover);
      if (update.reaction) conv.reactions.push(update.reaction);
      if (update.readWatermark !== undefined) {
        conv.readWatermark = Math.max(conv.readWatermark ?? 0, update.readWatermark);
      }
    }
  }

  let added = 0;
  let edited = 0;
  let recorded = 0;
  await Promise.all(
    [...conversations.values()].map(async (conv) => {
      const result = await conversationStub(env, conv.pageId, conv.customerId).merge(conv);
      added += result.added;
      edited += result.edited;
      recorded += result.events;
      if (result.started) {
        log.info(`New conversation started for sender ${conv.customerId} on page ${conv.pageId}`, {
          page_id: conv.pageId,
          sender_id: conv.customerId,
        });
      }
    }),
  );
  await enqueueAll(
    env.JOBS,
    [...refresh].map((pageId): Job => ({ type: "facebook.page_metadata", pageId, reason: "webhook" })),
  );
  // Pages with an event acted on: an ignored event leaves no trace.
  await recordWebhookTimes(env.TOKENS_DB, [...seen]);
  return {
    ok: true,
    entries: entries.length,
    messages_added: added,
    messages_edited: edited,
    events_recorded: recorded,
    metadata_refresh: refresh.size,
    unlinked,
  };
}

/** The operator sees each page's last webhook; recorded at most once a minute per page per isolate. */
async function recordWebhookTimes(db: D1Database, pageIds: string[]) {
  const now = Date.now();
  const due = pageIds.filter((p) => !webhookRecorded.get(p, now));
  if (!due.length) return;
  for (const p of due) webhookRecorded.set(p, true, now);
  await webhookReceived(db, due);
}
