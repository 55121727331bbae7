import { log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { sha256Hex } from "../lib/signatures";
import { writablePageOwner } from "../db/facebook-pages";
import type { Job } from "../jobs/queue-jobs";
import { spaces } from "../services";
import { conversationKey, pageMetadataKey, pagePrefix } from "../spaces/keys";
import { conversationStub, pageIndexStub } from "../conversations/durable-object";
import { pageToken } from "./graph";

/**
 * A page's objects lost from Spaces, put back. page_metadata.json is the poll's: it reads the Page
 * and writes the file when its hash differs from the object's (one HEAD), so a missing one is
 * written; while Meta refuses the page's token, the copy the page's index object keeps is.
 *
 * Conversation files come back from their Durable Objects. The page's index object names every
 * sender; one LIST of the page's `conversations/` folder says which files are there.
 * A LIST answers up to LIST_PAGE_SIZE entries for the price of one HEAD, and with the folder
 * delimiter a sender costs at most two entries (the file, the folder of its attachments), so a page
 * is checked for 1/SENDERS_PER_JOB of a HEAD a conversation. A present file costs nothing more; a
 * missing one costs one call to its object, whose next upload writes the file again.
 */

/** The most a LIST request answers (S3's limit). */
const LIST_PAGE_SIZE = 1000;
/**
 * Senders one job checks: their entries fit one LIST page, and the calls to their objects stay far
 * inside the subrequests of an invocation. A longer index is continued by a follow-up job.
 */
export const SENDERS_PER_JOB = LIST_PAGE_SIZE / 2;

export interface FilesCheck {
  /** page_metadata.json was missing and put back from the kept copy. */
  pageMetadata: boolean;
  checked: number;
  missing: number;
  /** LIST requests made: the cost of the check. */
  lists: number;
  /** The last sender checked, when more remain for a follow-up job. */
  continueAfter: string | null;
}

/** The senders whose file is in the folder listing: `<prefix><sender_id>.json`. */
function sendersWithFile(prefix: string, keys: string[]): Set<string> {
  const found = new Set<string>();
  for (const key of keys) {
    const sender = /^(\d{1,32})\.json$/.exec(key.slice(prefix.length))?.[1];
    if (sender) found.add(sender);
  }
  return found;
}

/**
 * While Meta refuses the page's token, the poll cannot read the Page: a missing page_metadata.json
 * (one HEAD) is written from the copy the page's index object keeps. True when it was put back.
 */
async function restoreKeptPageMetadata(env: Env, userUuid: string, pageId: string): Promise<boolean> {
  const refused = await pageToken(env, pageId).then(
    () => false,
    (err: unknown) => {
      if (err instanceof PlatformError && err.kind === "auth") return true;
      throw err;
    },
  );
  if (!refused) return false;
  const key = pageMetadataKey(userUuid, pageId);
  if ((await spaces(env).storedSha256(key)) !== null) return false;
  const text = await pageIndexStub(env, pageId).pageMetadata();
  if (text === null) return false;
  const bytes = new TextEncoder().encode(text);
  await spaces(env).put(key, bytes, { sha256: await sha256Hex(bytes) });
  log.info(`Uploaded ${key} to Spaces`, { page_id: pageId, user_uuid: userUuid, key });
  return true;
}

/**
 * Checks the conversation files of a page's senders after `after` (`perJob` of them) and asks
 * the object of each missing one to write it again. Nothing happens for a page that is not written.
 */
export async function restoreMissingConversations(
  env: Env,
  pageId: string,
  after = "",
  perJob = SENDERS_PER_JOB,
): Promise<FilesCheck | null> {
  const owner = await writablePageOwner(env.TOKENS_DB, pageId);
  if (!owner) return null;
  const batch = await pageIndexStub(env, pageId).senders(after, perJob + 1);
  const senders = batch.slice(0, perJob);
  const check: FilesCheck = {
    pageMetadata: after ? false : await restoreKeptPageMetadata(env, owner.userUuid, pageId),
    checked: senders.length,
    missing: 0,
    lists: 0,
    continueAfter: null,
  };
  if (!senders.length) return check;

  const folder = `${pagePrefix(owner.userUuid, pageId)}conversations/`;
  const lastKey = `${folder}${senders[senders.length - 1]}.json`;
  const present = new Set<string>();
  // Keys sort as their sender ids do ('.' and '/' sort before digits): start after the previous job's
  // last sender and read until past this job's last one (one request, unless the bucket holds strays).
  let continuation: string | undefined;
  for (;;) {
    const page = await spaces(env).listFolderPage(folder, {
      startAfter: after ? `${folder}${after}/` : undefined,
      continuation,
      pageSize: LIST_PAGE_SIZE,
    });
    check.lists++;
    for (const sender of sendersWithFile(folder, page.keys)) present.add(sender);
    continuation = page.next;
    if (!continuation || (page.keys.length && page.keys[page.keys.length - 1]! >= lastKey)) break;
  }

  for (const sender of senders) {
    if (present.has(sender)) continue;
    if (!(await conversationStub(env, pageId, sender).fileMissing())) continue;
    check.missing++;
    log.warn(`Conversation file ${conversationKey(owner.userUuid, pageId, sender)} missing from Spaces: put back`, {
      page_id: pageId,
      sender_id: sender,
    });
  }
  if (batch.length > perJob) check.continueAfter = senders[senders.length - 1]!;
  return check;
}

/** The queue job: one batch of senders checked, the next batch sent as its own job. */
export async function conversationFilesJob(env: Env, job: Extract<Job, { type: "facebook.conversation_files" }>) {
  const perJob = Math.max(1, Math.min(SENDERS_PER_JOB, job.perJob ?? SENDERS_PER_JOB));
  const check = await restoreMissingConversations(env, job.pageId, job.after, perJob);
  if (!check) return;
  if (check.continueAfter) {
    const next: Job = { ...job, after: check.continueAfter };
    await env.JOBS.send(next, { contentType: "json" });
  }
  log.info(
    `Checked ${check.checked} conversation files of page ${job.pageId}: ${check.missing} missing, put back from their conversation objects`,
    { page_id: job.pageId, ...check },
  );
}
