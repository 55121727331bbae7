import { badRequest } from "../lib/errors";
import { log, scrub } from "../lib/log";
import { isNumericId } from "../storage/keys";
import { pageOwner } from "../storage/links";

/**
 * Pages known to be linked, so a busy page costs no D1 query per delivery. Only positive answers
 * are kept (a page can become linked at any moment; nothing unlinks one), and only for a while.
 */
const linkedPages = new Map<string, number>();
const LINKED_TTL_MS = 5 * 60 * 1000;

async function isLinkedPage(db: D1Database, pageId: string): Promise<boolean> {
  const seen = linkedPages.get(pageId);
  if (seen !== undefined && Date.now() - seen < LINKED_TTL_MS) return true;
  if (!(await pageOwner(db, pageId))) return false;
  if (linkedPages.size > 10_000) linkedPages.clear();
  linkedPages.set(pageId, Date.now());
  return true;
}
import { enqueueAll, type Job } from "../jobs/messages";
import { conversationStub } from "./conversation";
import { messagingUpdate, type ConversationMessage } from "./messages";

/* eslint-disable @typescript-eslint/no-explicit-any */
const METADATA_FIELDS = new Set(["name", "category"]);

/** Checks the delivery's shape before anything is acted on, so a bad delivery changes nothing. */
function entriesOf(body: any): any[] {
  if (!body || typeof body !== "object" || body.object !== "page" || !Array.isArray(body.entry)) {
    throw badRequest('Expected {"object":"page","entry":[...]}');
  }
  for (const entry of body.entry) {
    if (!entry || typeof entry !== "object" || !isNumericId(String(entry.id ?? ""))) {
      throw badRequest("Every entry needs a numeric page id");
    }
    if (entry.messaging !== undefined && !Array.isArray(entry.messaging))
      throw badRequest("entry.messaging must be an array");
    if (entry.changes !== undefined && !Array.isArray(entry.changes))
      throw badRequest("entry.changes must be an array");
  }
  return body.entry;
}

/**
 * Handles every entry and event of a Messenger delivery: messages are merged into their
 * conversation's Durable Object (which uploads after the answer), page changes are queued.
 * Nothing here waits on Spaces or the Graph API.
 */
export async function handleMessengerDelivery(env: Env, body: unknown) {
  const entries = entriesOf(body);
  const conversations = new Map<string, { pageId: string; customerId: string; messages: ConversationMessage[] }>();
  const refresh = new Set<string>();
  let unlinked = 0;

  for (const entry of entries) {
    const pageId = String(entry.id);
    log.info(`Received webhook event for page ${pageId}: ${scrub(JSON.stringify(entry)).slice(0, 1000)}`, {
      page_id: pageId,
    });
    if (!(await isLinkedPage(env.TOKENS_DB, pageId))) {
      unlinked++;
      log.info(`Ignored webhook event for page ${pageId}: page is not linked to a user`, { page_id: pageId });
      continue;
    }
    for (const change of entry.changes ?? []) {
      if (METADATA_FIELDS.has(change?.field)) refresh.add(pageId);
    }
    for (const event of entry.messaging ?? []) {
      const update = messagingUpdate(pageId, event);
      if (!update) continue;
      const id = `${pageId}:${update.customerId}`;
      const conv = conversations.get(id) ?? { pageId, customerId: update.customerId, messages: [] };
      conv.messages.push(update.message);
      conversations.set(id, conv);
    }
  }

  let added = 0;
  await Promise.all(
    [...conversations.values()].map(async (conv) => {
      const result = await conversationStub(env, conv.pageId, conv.customerId).merge(conv);
      added += result.added;
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
  return { ok: true, entries: entries.length, messages_added: added, metadata_refresh: refresh.size, unlinked };
}
