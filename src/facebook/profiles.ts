import { z } from "zod";
import { config } from "../config";
import { log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { conversationFolder } from "../spaces/keys";
import { writablePageOwner } from "../db/facebook-pages";
import { spaces } from "../services";
import type { Job } from "../jobs/queue-jobs";
import { conversationStub, type CustomerProfile } from "../conversations/durable-object";
import { copyUrlToSpaces, extensionOf } from "./attachments";
import { graph } from "./graph";
import { pageToken } from "./pages";

/** The User Profile API's answer for a PSID (fields asked: first_name, last_name, profile_pic). */
const profileSchema = z.object({
  first_name: z.string().max(200).optional(),
  last_name: z.string().max(200).optional(),
  profile_pic: z.url().optional(),
});

/**
 * The queued fetch of a customer's name and picture (User Profile API, with the page token), the
 * picture copied to `conversations/<sender_id>/profile.<ext>`. Meta has no profile for some people
 * (an error answer): that is recorded as "unavailable" and asked again only a week later. Throttling
 * and faults throw, so the queue retries; a dead page token is marked by the consumer.
 */
export async function fetchCustomerProfile(env: Env, job: Extract<Job, { type: "facebook.customer_profile" }>) {
  const { pageId, customerId } = job;
  const owner = await writablePageOwner(env.TOKENS_DB, pageId);
  if (!owner) return;
  const cfg = config(env, "facebook");
  const token = await pageToken(env, pageId);
  const fetchedAt = Date.now();
  let answer: z.output<typeof profileSchema> | null = null;
  try {
    const parsed = profileSchema.safeParse(
      await graph(cfg, "GET", customerId, { fields: "first_name,last_name,profile_pic" }, token),
    );
    answer = parsed.success ? parsed.data : null;
  } catch (err) {
    // "No profile available" is an answer about the person, not a failure of the call.
    if (!(err instanceof PlatformError && err.kind === "rejected")) throw err;
  }
  const profile: CustomerProfile = {
    available: answer !== null,
    first_name: answer?.first_name ?? null,
    last_name: answer?.last_name ?? null,
    picture: null,
    fetched_at: fetchedAt,
  };
  const folder = conversationFolder(owner.userUuid, pageId, customerId);
  if (answer?.profile_pic) {
    const copy = await copyUrlToSpaces(env, answer.profile_pic, folder, (type) => `profile${extensionOf(type)}`);
    if (copy.status === "stored") profile.picture = { path: copy.path, content_type: copy.contentType };
  }
  const recorded = await conversationStub(env, pageId, customerId).profileFetched(profile);
  if (!recorded && profile.picture) await spaces(env).delete(folder + profile.picture.path);
  log.info(`Profile of sender ${customerId} on page ${pageId}: ${profile.available ? "available" : "unavailable"}`, {
    page_id: pageId,
    sender_id: customerId,
    picture: profile.picture !== null,
  });
}
