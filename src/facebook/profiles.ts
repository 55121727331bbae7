import { z } from "zod";
import { config } from "../config";
import { PlatformError } from "../lib/platform-error";
import { copyUrlToSpaces, extensionOf } from "./cdn";
import { graph, pageToken } from "./graph";

/** The customer as the User Profile API gave them; `available: false` when Meta has no profile for the app. */
export interface CustomerProfile {
  available: boolean;
  first_name: string | null;
  last_name: string | null;
  /** The stored picture, under the conversation's folder (`profile.jpg`...); null without one. */
  picture: { path: string; content_type: string } | null;
  fetched_at: number;
}

/** The User Profile API's answer for a PSID (fields asked: first_name, last_name, profile_pic). */
const profileSchema = z.object({
  first_name: z.string().max(200).optional(),
  last_name: z.string().max(200).optional(),
  profile_pic: z.url().optional(),
});

/**
 * A customer's name and picture (User Profile API, with the page token), the picture copied to
 * `<folder>profile.<ext>`. Meta has no profile for some people (an error answer): that is an
 * answer, `available: false`. Throttling, faults and a dead page token throw PlatformError.
 */
export async function readCustomerProfile(
  env: Env,
  pageId: string,
  customerId: string,
  folder: string,
): Promise<CustomerProfile> {
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
  if (answer?.profile_pic) {
    const copy = await copyUrlToSpaces(env, answer.profile_pic, folder, (type) => `profile${extensionOf(type)}`);
    if (copy.status === "stored") profile.picture = { path: copy.path, content_type: copy.contentType };
  }
  return profile;
}
