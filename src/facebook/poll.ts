import { z } from "zod";
import { config } from "../config";
import { describeError, log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import type { Job } from "../jobs/queue-jobs";
import { writablePageOwner } from "../db/facebook-pages";
import { pollFinished, pollJobStarting, savePollCursor } from "../db/page-status";
import { recordPageToken } from "../alerts/alerts";
import { conversationStub } from "../conversations/durable-object";
import { copyAttachment } from "./attachments";
import { conversationFilesJob } from "./objects";
import { runDataDeletion } from "./deletion";
import { connection, graphPage, nextCursor, pageToken } from "./graph";
import { GRAPH_MESSAGE_FIELDS, polledMessage, type ConversationMessage } from "../conversations/messages";
import { healPageSubscription, refreshPageMetadata } from "./pages";
import { POLL_CALLS_PER_JOB } from "./poll-budget";

/** A saved cursor older than this belongs to an abandoned poll: the next daily poll starts over. */
const CURSOR_MAX_AGE_MS = 20 * 60 * 60 * 1000;
const CONVERSATIONS_PER_PAGE = 50;
const MESSAGES_PER_PAGE = 100;

type FacebookJob = Extract<Job, { type: `facebook.${string}` }>;

/**
 * The Facebook jobs of the queue: a page's metadata refresh, its daily poll, a data deletion, an
 * attachment's copy, the check of its files in Spaces.
 */
export async function facebookJob(env: Env, job: FacebookJob) {
  if (job.type === "facebook.attachment_copy") {
    await copyAttachment(env, job);
    return;
  }
  if (job.type === "facebook.conversation_files") {
    await conversationFilesJob(env, job);
    return;
  }
  if (job.type === "facebook.page_metadata") {
    await refreshPageMetadata(env, job.pageId).catch(async (err) => {
      if (err instanceof PlatformError && err.kind === "auth") {
        await recordPageToken(env, job.pageId, "dead", describeError(err));
      }
      throw err;
    });
    return;
  }
  if (job.type === "facebook.data_deletion") {
    await runDataDeletion(env, job);
    return;
  }
  await pollPage(env, job);
}

/** Where a poll stands between jobs: the conversation list's cursor and conversations still paging. */
const cursorSchema = z.object({
  listAfter: z.string().nullable(),
  listDone: z.boolean(),
  pending: z.array(z.object({ id: z.string(), customer: z.string(), after: z.string() })),
  conversations: z.number(),
  added: z.number(),
});
type PollCursor = z.output<typeof cursorSchema>;

function parseCursor(text: string | null): PollCursor | null {
  if (!text) return null;
  try {
    const parsed = cursorSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

const conversation = z.object({
  id: z.string(),
  participants: z.object({ data: z.array(z.object({ id: z.union([z.string(), z.number()]).transform(String) })) }),
  messages: connection(z.unknown()).optional(),
});

async function pollPage(env: Env, job: Extract<Job, { type: "facebook.poll" }>) {
  const pageId = job.pageId;
  const owner = await writablePageOwner(env.TOKENS_DB, pageId);
  if (!owner) return;
  const db = env.TOKENS_DB;
  const status = await pollJobStarting(db, pageId, !job.continuation, CURSOR_MAX_AGE_MS);
  let cursor = parseCursor(status.pollCursor);
  // A poll also puts back the conversation files Spaces lost, from their objects: its own job, which
  // needs no page token and spends none of this job's calls.
  if (!job.continuation) {
    await env.JOBS.send({ type: "facebook.conversation_files", pageId } satisfies Job, { contentType: "json" });
  }
  const budget = Math.max(3, job.maxCalls ?? POLL_CALLS_PER_JOB);
  let calls = 0;
  const cfg = config(env, "facebook");
  /** One page of a connection, counted against the job's budget. */
  const page = <T extends z.ZodType>(
    path: string,
    params: Record<string, string>,
    token: string,
    item: T,
    after?: string,
  ) => {
    calls++;
    return graphPage(cfg, path, params, token, item, after);
  };

  try {
    const token = await pageToken(env, pageId);
    if (!cursor) {
      // The first job of a poll: metadata and the subscription, then the conversations.
      calls++;
      try {
        await refreshPageMetadata(env, pageId);
      } catch (err) {
        log.warn(`Polled metadata for page ${pageId}: Failed (${describeError(err)})`, { page_id: pageId });
        throw err;
      }
      log.info(`Polled metadata for page ${pageId}: Success`, { page_id: pageId });
      const subscription = await healPageSubscription(env, pageId, token);
      calls += subscription.state === "exists" ? 1 : 2; // the GET, and the POST of a repair
      cursor = { listAfter: null, listDone: false, pending: [], conversations: 0, added: 0 };
    }
    const merge = async (customer: string, raw: unknown[]) => {
      const messages = raw.map((m) => polledMessage(pageId, m)).filter((m): m is ConversationMessage => m !== null);
      if (!messages.length) return;
      const result = await conversationStub(env, pageId, customer).merge({ pageId, customerId: customer, messages });
      cursor!.added += result.added;
    };

    while (calls < budget) {
      const pending = cursor.pending[0];
      if (pending) {
        const more = await page(
          `${pending.id}/messages`,
          { fields: GRAPH_MESSAGE_FIELDS, limit: String(MESSAGES_PER_PAGE) },
          token,
          z.unknown(),
          pending.after,
        );
        await merge(pending.customer, more.data);
        if (more.after) pending.after = more.after;
        else cursor.pending.shift();
        continue;
      }
      if (cursor.listDone) break;
      const params = {
        platform: "messenger",
        fields: `participants,messages.limit(${MESSAGES_PER_PAGE}){${GRAPH_MESSAGE_FIELDS}}`,
        limit: String(CONVERSATIONS_PER_PAGE),
      };
      const list = await page(`${pageId}/conversations`, params, token, conversation, cursor.listAfter ?? undefined);
      for (const conv of list.data) {
        const customer = conv.participants.data.map((p) => p.id).find((id) => id !== pageId);
        if (!customer || !/^\d{1,32}$/.test(customer)) continue;
        cursor.conversations++;
        await merge(customer, conv.messages?.data ?? []);
        const after = nextCursor(conv.messages?.paging);
        if (after) cursor.pending.push({ id: conv.id, customer, after });
      }
      if (list.after) cursor.listAfter = list.after;
      else cursor.listDone = true;
    }
  } catch (err) {
    if (err instanceof PlatformError && err.kind === "auth") {
      // A dead page token: marked for the operator and not retried (the consumer acks it).
      await recordPageToken(env, pageId, "dead", describeError(err));
      await pollFinished(db, pageId, `Failed (page token refused: needs a new login)`, calls);
    } else if (cursor) {
      // Throttled or failing: the queue retries this job, which resumes from here.
      await savePollCursor(db, pageId, JSON.stringify(cursor), calls);
    }
    if (cursor)
      log.warn(`Polled conversations for page ${pageId}: Failed (${describeError(err)})`, { page_id: pageId });
    throw err;
  }

  if (cursor.pending.length || !cursor.listDone) {
    await savePollCursor(db, pageId, JSON.stringify(cursor), calls);
    await env.JOBS.send({ type: "facebook.poll", pageId, continuation: true, maxCalls: job.maxCalls } satisfies Job, {
      contentType: "json",
    });
    log.info(`Poll of page ${pageId} continues in a follow-up job after ${calls} Graph calls`, {
      page_id: pageId,
      calls,
      conversations: cursor.conversations,
    });
    return;
  }
  await pollFinished(db, pageId, "Success", calls);
  await recordPageToken(env, pageId, "active");
  log.info(`Polled conversations for page ${pageId}: Success`, {
    page_id: pageId,
    conversations: cursor.conversations,
    messages_added: cursor.added,
    jobs: status.pollJobs,
    calls: status.pollCalls + calls,
  });
}
