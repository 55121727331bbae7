import { Hono } from "hono";
import { badRequest } from "../lib/errors";
import { log } from "../lib/log";
import { isNumericId } from "../spaces/keys";
import { pageOwners } from "../db/facebook-pages";
import { pageStatuses } from "../db/page-status";
import type { Job } from "../jobs/queue-jobs";
import { forgetConversation } from "../facebook/deletion";

/** The operator's Facebook routes, mounted under `/admin/facebook` behind the admin Bearer token. */
export const facebookAdminRoutes = new Hono<{ Bindings: Env }>();

/**
 * Forgets one customer's conversation with one page, on the merchant's word (a customer asked):
 * the messages in its Durable Object, its file in Spaces and the customer's attachments and picture.
 * Doing it twice is harmless.
 */
facebookAdminRoutes.delete("/pages/:pageId/conversations/:senderId", async (c) => {
  const pageId = c.req.param("pageId");
  const senderId = c.req.param("senderId");
  if (!isNumericId(pageId) || !isNumericId(senderId)) throw badRequest("page and sender ids must be numeric");
  const owner = (await pageOwners(c.env.TOKENS_DB, [pageId])).get(pageId) ?? null;
  const { messages, file, attachments } = await forgetConversation(c.env, owner, pageId, senderId);
  log.info(`Conversation of sender ${senderId} on page ${pageId} forgotten: ${messages} messages`, {
    page_id: pageId,
    sender_id: senderId,
    file_deleted: file,
    attachments_deleted: attachments,
  });
  return c.json({
    page_id: pageId,
    sender_id: senderId,
    messages_deleted: messages,
    file_deleted: file,
    attachments_deleted: attachments,
  });
});

/** Every page's poll, webhook, subscription and token state (for the console and `npm run status`). */
facebookAdminRoutes.get("/pages", async (c) => {
  const after = c.req.query("after") ?? "";
  return c.json({ pages: await pageStatuses(c.env.TOKENS_DB, isNumericId(after) ? after : "", 1000) });
});

/** Polls one page now (the daily poll does every page): 202, the poll runs in the queue. */
facebookAdminRoutes.post("/pages/:pageId/poll", async (c) => {
  const pageId = c.req.param("pageId");
  if (!isNumericId(pageId)) throw badRequest("page id must be numeric");
  await c.env.JOBS.send({ type: "facebook.poll", pageId } satisfies Job, { contentType: "json" });
  return c.json({ enqueued: 1, page_id: pageId }, 202);
});
