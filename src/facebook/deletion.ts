import { CALLBACK_JOURNAL_DEADLINE_MS } from "../backup/journal";
import { log } from "../lib/log";
import { conversationFolder, conversationKey, pageMetadataKey } from "../spaces/keys";
import { deletionByCode, type Deletion } from "../db/facebook-deletions";
import { writablePageOwner } from "../db/facebook-pages";
import { facebookUser, pagesGrantedBy, type GrantedPage } from "../db/facebook-users";
import { facebookUserTokenKey, pageTokenKey } from "../db/tokens";
import { deletionStore, facebookUserStore, spaces, tokenStore } from "../services";
import type { Job } from "../jobs/queue-jobs";
import { conversationStub, pageIndexStub } from "../conversations/durable-object";
import type { SignedRequest } from "./signed-request";
import { forgetWritablePage } from "./webhooks";

/** The folder of one page's files: `users/<uuid>/facebook/<page_id>/`. */
export const pageFolder = (userUuid: string, pageId: string) =>
  pageMetadataKey(userUuid, pageId).slice(0, -"page_metadata.json".length);

/**
 * The pages a Facebook user's request is about: those they linked, still owned by their account.
 * A page another Facebook user linked (the merchant's page an agency also manages) keeps its
 * token and files: they are that merchant's, not this user's.
 */
function ownPages(pages: GrantedPage[], userUuid: string) {
  return pages.filter((p) => p.linked && p.ownerUuid === userUuid).map((p) => p.pageId);
}

/**
 * Removes the tokens of a user and their pages, in one transaction and one journal entry: from now
 * on those pages are not written. Returns how many there were.
 */
async function removeTokens(env: Env, userUuid: string, pageIds: string[], deadlineMs?: number): Promise<number> {
  const tokens = await tokenStore(env);
  const keys = [facebookUserTokenKey(userUuid), ...pageIds.map(pageTokenKey)];
  const held = (await Promise.all(keys.map(async (key) => ((await tokens.get(key)) ? key : null)))).filter(
    (key) => key !== null,
  );
  if (held.length) await tokens.commit({ delete: held, deadlineMs });
  for (const pageId of pageIds) forgetWritablePage(pageId);
  return held.length;
}

/** Meta's deauthorize callback: the user removed the app. Tokens go, files stay. */
export async function deauthorize(env: Env, request: SignedRequest) {
  const user = await facebookUser(env.TOKENS_DB, request.userId);
  if (!user) {
    log.info(`Deauthorize callback for an unknown Facebook user: nothing to do`, {});
    return { pages: 0, tokens_removed: 0 };
  }
  const pages = ownPages(await pagesGrantedBy(env.TOKENS_DB, user.facebookUserId), user.userUuid);
  // Both journal writes wait on Spaces at the same time: Meta's answer waits at most one deadline.
  const [removed] = await Promise.all([
    removeTokens(env, user.userUuid, pages, CALLBACK_JOURNAL_DEADLINE_MS),
    facebookUserStore(env).markDeauthorized(user.facebookUserId, CALLBACK_JOURNAL_DEADLINE_MS),
  ]);
  log.info(`Facebook user deauthorized the app: ${removed} tokens removed, ${pages.length} pages stopped`, {
    user_uuid: user.userUuid,
    pages: pages.length,
  });
  return { pages: pages.length, tokens_removed: removed };
}

/**
 * Meta's Data Deletion Request: recorded once per request (a repeat gets the same code) and done
 * through the queue. A request for a user this app never saw is answered too, with nothing to do.
 */
export async function requestDataDeletion(env: Env, request: SignedRequest): Promise<Deletion> {
  const user = await facebookUser(env.TOKENS_DB, request.userId);
  const deletions = deletionStore(env);
  const { deletion, created } = await deletions.record(request.userId, request.issuedAt, user?.userUuid ?? null, {
    deadlineMs: CALLBACK_JOURNAL_DEADLINE_MS,
  });
  if (!created) return deletion;
  if (!user) {
    await deletions.update(deletion.code, "done", {}, CALLBACK_JOURNAL_DEADLINE_MS);
    log.info(`Data deletion request ${deletion.code} for an unknown Facebook user: nothing held`, {});
  } else {
    const job: Job = {
      type: "facebook.data_deletion",
      code: deletion.code,
      facebookUserId: request.userId,
      issuedAt: request.issuedAt,
      userUuid: user.userUuid,
    };
    await env.JOBS.send(job, { contentType: "json" });
    log.info(`Data deletion request ${deletion.code} received`, { user_uuid: user.userUuid });
  }
  return (await deletionByCode(env.TOKENS_DB, deletion.code))!;
}

/**
 * Forgets one page's conversation with one customer: the Durable Object's messages, the file in
 * Spaces and the customer's folder beside it (attachments, profile picture). Returns how many
 * messages the object held, whether a file was there and how many other objects were deleted.
 */
export async function forgetConversation(env: Env, userUuid: string | null, pageId: string, senderId: string) {
  // The object first: a copy finishing later finds nothing expecting it and deletes what it wrote.
  const messages = await conversationStub(env, pageId, senderId).forget();
  let file = false;
  let attachments = 0;
  if (userUuid) {
    const key = conversationKey(userUuid, pageId, senderId);
    const store = spaces(env);
    file = (await store.getText(key)) !== null;
    await store.delete(key);
    const beside = await store.listKeys(conversationFolder(userUuid, pageId, senderId));
    for (const k of beside) await store.delete(k);
    attachments = beside.length;
  }
  return { messages, file, attachments };
}

/**
 * The queued work of a deletion request: tokens first (the pages stop being written), then each
 * conversation's Durable Object (those the page's index lists and those with a file), then every
 * object under the pages' folders. A retry after a
 * failure does what is left; the counts add up what each run deleted.
 */
export async function runDataDeletion(env: Env, job: Extract<Job, { type: "facebook.data_deletion" }>): Promise<void> {
  const db = env.TOKENS_DB;
  const deletions = deletionStore(env);
  const code = job.code;
  // The request's row is gone only if D1 was restored to before it: recorded again, same code.
  const deletion =
    (await deletionByCode(db, code)) ??
    (await deletions.record(job.facebookUserId, job.issuedAt, job.userUuid, { code })).deletion;
  if (deletion.status === "done") return;
  const userUuid = deletion.userUuid;
  const pages = userUuid ? ownPages(await pagesGrantedBy(db, deletion.facebookUserId), userUuid) : [];
  await deletions.update(code, "in_progress", { pages: pages.length });
  const tokens = userUuid ? await removeTokens(env, userUuid, pages) : 0;
  await deletions.update(code, "in_progress", { tokens });

  const store = spaces(env);
  for (const pageId of pages) {
    // A page linked again meanwhile (a new login) is written again: leave what it has now.
    if (await writablePageOwner(db, pageId)) continue;
    const folder = pageFolder(userUuid!, pageId);
    // The conversations with a file or attachments, and those only in their Durable Object.
    const senders = new Set(await pageIndexStub(env, pageId).senders());
    const withFile = new Set<string>();
    for (const key of await store.listKeys(`${folder}conversations/`)) {
      const sender = /\/conversations\/(\d{1,32})(?:\.json$|\/)/.exec(key)?.[1];
      if (sender) withFile.add(sender);
    }
    let conversations = 0;
    for (const sender of new Set([...senders, ...withFile])) {
      const held = await conversationStub(env, pageId, sender).forget();
      if (held > 0 || withFile.has(sender)) conversations++;
    }
    await pageIndexStub(env, pageId).forget();
    // Listed after the objects were forgotten, so an upload that was in flight is deleted too (and
    // a copy landing later finds its conversation forgotten and deletes itself).
    const keys = await store.listKeys(folder);
    for (const key of keys) await store.delete(key);
    await deletions.update(code, "in_progress", { objects: keys.length, conversations });
  }
  await facebookUserStore(env).forget(deletion.facebookUserId);
  await deletions.update(code, "done");
  const done = (await deletionByCode(db, code))!;
  log.info(
    `Data deletion request ${code} done: ${done.tokensDeleted} tokens, ${done.objectsDeleted} objects, ${done.conversationsForgotten} conversations deleted`,
    { pages: done.pages },
  );
}
