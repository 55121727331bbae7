import { CALLBACK_JOURNAL_DEADLINE_MS } from "../backup/journal";
import { log } from "../lib/log";
import { conversationFolder, conversationKey, pageMetadataKey } from "../spaces/keys";
import { deletionByCode, type Deletion } from "../db/facebook-deletions";
import { writablePageOwner } from "../db/facebook-pages";
import { accountsOf, facebookUser, pagesGrantedBy, type FacebookUser } from "../db/facebook-users";
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
 * A request issued at `issuedAt` (whole seconds) covers the logins made before the end of that
 * second: a login in the same second counts as before it, so the person's request wins. A login
 * from then on is a new grant the request does not undo.
 */
const loginsBefore = (issuedAt: number) => (issuedAt + 1) * 1000;

interface CoveredPage {
  pageId: string;
  ownerUuid: string;
}

/**
 * The pages a Facebook user's request is about: those they linked, under any UUID they logged in
 * under, last granted by a login the request covers. A page another Facebook user linked (the
 * merchant's page an agency also manages) keeps its token and files: they are that merchant's, not
 * this user's. A page granted again by a later login is that login's.
 */
async function coveredPages(db: D1Database, facebookUserId: string, before: number): Promise<CoveredPage[]> {
  const accounts = new Set(await accountsOf(db, facebookUserId));
  return (await pagesGrantedBy(db, facebookUserId))
    .filter((p) => p.linked && p.grantedAt < before && p.ownerUuid !== null && accounts.has(p.ownerUuid))
    .map((p) => ({ pageId: p.pageId, ownerUuid: p.ownerUuid! }));
}

/**
 * The tokens a request may remove, as stored before its pages are chosen: the user's and those of
 * every page they granted. A login from then on stores new values, which `removeTokens` leaves.
 */
async function tokensBeforeChoice(env: Env, user: FacebookUser): Promise<Map<string, string>> {
  const pages = await pagesGrantedBy(env.TOKENS_DB, user.facebookUserId);
  const keys = [facebookUserTokenKey(user.facebookUserId), ...pages.map((p) => pageTokenKey(p.pageId))];
  return (await tokenStore(env)).sealedValues(keys);
}

/**
 * Removes the tokens of a user (unless a later login stored theirs) and of their pages, in one
 * transaction and one journal entry: from now on those pages are not written. Only a token still
 * holding the value read before the pages were chosen (`tokensBeforeChoice`) goes: one a login
 * stored meanwhile is a new grant and stays. Returns how many went.
 */
async function removeTokens(
  env: Env,
  user: FacebookUser,
  before: number,
  pageIds: string[],
  held: Map<string, string>,
  deadlineMs?: number,
): Promise<number> {
  const keys = [
    ...(user.lastLoginAt < before ? [facebookUserTokenKey(user.facebookUserId)] : []),
    ...pageIds.map(pageTokenKey),
  ];
  const chosen = new Map(keys.flatMap((key) => (held.has(key) ? [[key, held.get(key)!] as const] : [])));
  const removed = await (await tokenStore(env)).deleteUnchanged(chosen, deadlineMs);
  for (const pageId of pageIds) forgetWritablePage(pageId);
  return removed;
}

/**
 * Meta's deauthorize callback: the user removed the app. Tokens go, files stay. What a login after
 * the request's `issued_at` granted stays too (Meta's callback can arrive late).
 */
export async function deauthorize(env: Env, request: SignedRequest) {
  const user = await facebookUser(env.TOKENS_DB, request.userId);
  if (!user) {
    log.info(`Deauthorize callback for an unknown Facebook user: nothing to do`, {});
    return { pages: 0, tokens_removed: 0 };
  }
  const before = loginsBefore(request.issuedAt);
  const held = await tokensBeforeChoice(env, user);
  const pages = (await coveredPages(env.TOKENS_DB, user.facebookUserId, before)).map((p) => p.pageId);
  // Both journal writes wait on Spaces at the same time: Meta's answer waits at most one deadline.
  const [removed] = await Promise.all([
    removeTokens(env, user, before, pages, held, CALLBACK_JOURNAL_DEADLINE_MS),
    facebookUserStore(env).markDeauthorized(user.facebookUserId, before, CALLBACK_JOURNAL_DEADLINE_MS),
  ]);
  log.info(`Facebook user deauthorized the app: ${removed} tokens removed, ${pages.length} pages stopped`, {
    pages: pages.length,
    later_login: user.lastLoginAt >= before,
  });
  return { pages: pages.length, tokens_removed: removed };
}

/**
 * Meta's Data Deletion Request: recorded once per request (a repeat gets the same code) and done
 * through the queue. A request for a user this app never saw is answered too, with nothing to do.
 */
export async function requestDataDeletion(env: Env, request: SignedRequest): Promise<Deletion> {
  const user = await facebookUser(env.TOKENS_DB, request.userId);
  const latestAccount = user ? ((await accountsOf(env.TOKENS_DB, user.facebookUserId))[0] ?? user.userUuid) : null;
  const deletions = deletionStore(env);
  const { deletion, created } = await deletions.record(request.userId, request.issuedAt, latestAccount, {
    deadlineMs: CALLBACK_JOURNAL_DEADLINE_MS,
  });
  if (!created) return deletion;
  if (!user || latestAccount === null) {
    await deletions.update(deletion.code, "done", {}, CALLBACK_JOURNAL_DEADLINE_MS);
    log.info(`Data deletion request ${deletion.code} for an unknown Facebook user: nothing held`, {});
  } else {
    const job: Job = {
      type: "facebook.data_deletion",
      code: deletion.code,
      facebookUserId: request.userId,
      issuedAt: request.issuedAt,
      userUuid: latestAccount,
    };
    await env.JOBS.send(job, { contentType: "json" });
    log.info(`Data deletion request ${deletion.code} received`, { user_uuid: latestAccount });
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
 * The queued work of a deletion request, over every UUID the person logged in under: the pages it
 * covers are chosen first (a page a later login granted again is left to it), then their tokens go
 * (the pages stop being written), then each page's index is stopped (a conversation merged from now
 * on is dropped unless the page is linked again), each conversation's Durable Object forgotten
 * (those the index lists and those with a file), and every object under the page's folder deleted.
 * A retry after a failure does what is left; the counts add up what each run deleted.
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
  const before = loginsBefore(deletion.issuedAt);
  const user = await facebookUser(db, deletion.facebookUserId);
  const held = user ? await tokensBeforeChoice(env, user) : new Map<string, string>();
  const pages = user ? await coveredPages(db, user.facebookUserId, before) : [];
  await deletions.update(code, "in_progress", { pages: pages.length });
  const tokens = user
    ? await removeTokens(
        env,
        user,
        before,
        pages.map((p) => p.pageId),
        held,
      )
    : 0;
  await deletions.update(code, "in_progress", { tokens });

  const store = spaces(env);
  for (const { pageId, ownerUuid } of pages) {
    // A page linked again since its token went (a new login) is written again: leave what it has now.
    if (await writablePageOwner(db, pageId)) continue;
    const folder = pageFolder(ownerUuid, pageId);
    const index = pageIndexStub(env, pageId);
    // The conversations with a file or attachments, and those only in their Durable Object.
    const senders = new Set(await index.stopPage());
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
    await index.forget();
    // Listed after the objects were forgotten, so an upload that was in flight is deleted too (and
    // a copy landing later finds its conversation forgotten and deletes itself).
    const keys = await store.listKeys(folder);
    for (const key of keys) await store.delete(key);
    await deletions.update(code, "in_progress", { objects: keys.length, conversations });
  }
  if (user) await facebookUserStore(env).forget(user.facebookUserId, before);
  await deletions.update(code, "done");
  const done = (await deletionByCode(db, code))!;
  log.info(
    `Data deletion request ${code} done: ${done.tokensDeleted} tokens, ${done.objectsDeleted} objects, ${done.conversationsForgotten} conversations deleted`,
    { pages: done.pages },
  );
}
