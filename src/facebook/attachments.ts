import { log } from "../lib/log";
import { sha256Hex } from "../lib/signatures";
import { conversationFolder } from "../spaces/keys";
import { writablePageOwner } from "../db/facebook-pages";
import { spaces } from "../services";
import type { Job } from "../jobs/queue-jobs";
import { conversationStub } from "../conversations/durable-object";
import { copyUrlToSpaces, extensionOf } from "./cdn";

/**
 * The queued copy of one attachment: its URL asked from the conversation (nothing to do when it
 * was copied or forgotten), its bytes written under `conversations/<sender_id>/attachments/`,
 * and the outcome recorded in the conversation. A copy the conversation no longer expects (a
 * forget or a deletion came in between) is deleted again.
 */
export async function copyAttachment(env: Env, job: Extract<Job, { type: "facebook.attachment_copy" }>) {
  const { pageId, customerId, mid, index } = job;
  const conversation = conversationStub(env, pageId, customerId);
  const url = await conversation.copySource(mid, index);
  if (!url) return;
  const owner = await writablePageOwner(env.TOKENS_DB, pageId);
  // A page that stopped being written: its files are not added to (a deletion may be under way).
  if (!owner) return;
  const folder = conversationFolder(owner.userUuid, pageId, customerId);
  const name = `attachments/${(await sha256Hex(mid)).slice(0, 32)}-${index}`;
  const outcome = await copyUrlToSpaces(env, url, folder, (type) => name + extensionOf(type));
  const recorded = await conversation.copyFinished(mid, index, outcome);
  if (!recorded && outcome.status === "stored") await spaces(env).delete(folder + outcome.path);
  const about = { page_id: pageId, sender_id: customerId, status: outcome.status };
  if (outcome.status === "stored") {
    log.info(`Uploaded ${folder}${outcome.path} to Spaces`, {
      ...about,
      bytes: outcome.size,
      key: folder + outcome.path,
    });
  } else {
    log.info(`Attachment of sender ${customerId} on page ${pageId} not copied: ${outcome.status}`, about);
  }
}
