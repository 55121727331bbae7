import { config } from "../config";
import { describeError, log } from "../lib/log";
import type { Job } from "../jobs/messages";
import { pageOwner } from "../storage/links";
import { conversationStub } from "./conversation";
import { graph } from "./graph";
import { polledMessage, type ConversationMessage } from "./messages";
import { pageToken, refreshPageMetadata } from "./pages";

/* eslint-disable @typescript-eslint/no-explicit-any */
const MESSAGE_FIELDS = "id,message,from,created_time";

/** The Facebook jobs of the queue: a page's metadata refresh, and its daily poll. */
export async function facebookJob(env: Env, job: Extract<Job, { type: "facebook.page_metadata" | "facebook.poll" }>) {
  if (job.type === "facebook.page_metadata") {
    await refreshPageMetadata(env, job.pageId);
    return;
  }
  await pollPage(env, job.pageId);
}

async function pollPage(env: Env, pageId: string) {
  const owner = await pageOwner(env.TOKENS_DB, pageId);
  if (!owner) return;
  try {
    await refreshPageMetadata(env, pageId);
  } catch (err) {
    log.warn(`Polled metadata for page ${pageId}: Failed (${describeError(err)})`, { page_id: pageId });
    throw err;
  }
  log.info(`Polled metadata for page ${pageId}: Success`, { page_id: pageId });
  try {
    const merged = await pollConversations(env, pageId);
    log.info(`Polled conversations for page ${pageId}: Success`, { page_id: pageId, ...merged });
  } catch (err) {
    log.warn(`Polled conversations for page ${pageId}: Failed (${describeError(err)})`, { page_id: pageId });
    throw err;
  }
}

/** Every conversation of the page (cursor paging), merged by `mid` into its Durable Object. */
async function pollConversations(env: Env, pageId: string) {
  const cfg = config(env, "facebook");
  const token = await pageToken(env, pageId);
  let conversations = 0;
  let added = 0;
  let after: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const params: Record<string, string> = {
      platform: "messenger",
      fields: `participants,messages.limit(100){${MESSAGE_FIELDS}}`,
      limit: "50",
    };
    if (after) params.after = after;
    const page = await graph<any>(cfg, "GET", `${pageId}/conversations`, params, token);
    for (const conv of page.data ?? []) {
      const customer = (conv.participants?.data ?? [])
        .map((p: any) => String(p.id))
        .find((id: string) => id !== pageId);
      if (!customer || !/^\d{1,32}$/.test(customer)) continue;
      const raw: any[] = [...(conv.messages?.data ?? [])];
      let msgAfter = conv.messages?.paging?.next ? conv.messages?.paging?.cursors?.after : undefined;
      while (msgAfter) {
        const more = await graph<any>(
          cfg,
          "GET",
          `${conv.id}/messages`,
          { fields: MESSAGE_FIELDS, limit: "100", after: msgAfter },
          token,
        );
        raw.push(...(more.data ?? []));
        msgAfter = more.paging?.next ? more.paging?.cursors?.after : undefined;
      }
      const messages = raw.map((m) => polledMessage(pageId, m)).filter((m): m is ConversationMessage => m !== null);
      if (!messages.length) continue;
      const result = await conversationStub(env, pageId, customer).merge({
        pageId,
        customerId: customer,
        messages,
      });
      conversations++;
      added += result.added;
    }
    after = page.paging?.next ? page.paging?.cursors?.after : undefined;
    if (!after) break;
  }
  return { conversations, messages_added: added };
}
