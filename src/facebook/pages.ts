import { z } from "zod";
import { config, type Config } from "../config";
import { log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { sha256Hex } from "../lib/signatures";
import { pageMetadataKey } from "../spaces/keys";
import { writablePageOwner } from "../db/facebook-pages";
import { recordSubscriptionHealth } from "../db/page-status";
import { pageSubscriptionGone, pageSubscriptionWorks } from "../alerts/alerts";
import { linkStore, spaces } from "../services";
import { pageIndexStub } from "../conversations/durable-object";
import { graph, pageToken } from "./graph";

type FacebookConfig = Config<"facebook">;

/** The fields every page is subscribed to first: the "already exists" log line names exactly these. */
const SEED_FIELDS = ["name", "category", "messages"] as const;
/**
 * Every field the app subscribes each page to: those, plus the page's own replies (echoes),
 * button presses (postbacks) and customers' edits, so both sides of a conversation arrive by
 * webhook; where the customer came from (referrals); who holds the thread (handovers, and the
 * messages that arrive on `standby` while another app holds it); reads and reactions.
 */
export const SUBSCRIBED_FIELDS = [
  ...SEED_FIELDS,
  "message_echoes",
  "messaging_postbacks",
  "message_edits",
  "messaging_referrals",
  "messaging_handovers",
  "standby",
  "message_reads",
  "message_reactions",
] as const;

const PAGE_FIELDS = "id,name,category,about,link,username,fan_count,website,phone,emails,location";

/** The Page fields we read, as the Graph reference documents them. */
const pageSchema = z.object({
  id: z.union([z.string(), z.number()]).transform(String),
  name: z.string().nullish(),
  category: z.string().nullish(),
  about: z.string().nullish(),
  link: z.string().nullish(),
  username: z.string().nullish(),
  fan_count: z.number().nullish(),
  website: z.string().nullish(),
  phone: z.string().nullish(),
  emails: z.array(z.string()).nullish(),
  location: z.record(z.string(), z.unknown()).nullish(),
});

export type PageMetadata = ReturnType<typeof pageMetadataRecord>;

/** The page_metadata.json record, keys in a fixed order so equal data gives equal bytes. */
function pageMetadataRecord(p: z.output<typeof pageSchema>) {
  return {
    id: p.id,
    name: p.name ?? null,
    category: p.category ?? null,
    about: p.about ?? null,
    link: p.link ?? null,
    username: p.username ?? null,
    fan_count: p.fan_count ?? null,
    website: p.website ?? null,
    phone: p.phone ?? null,
    emails: p.emails ?? null,
    location: p.location ?? null,
  };
}

export async function fetchPageMetadata(cfg: FacebookConfig, pageId: string, pageToken: string) {
  const answer = pageSchema.safeParse(await graph(cfg, "GET", pageId, { fields: PAGE_FIELDS }, pageToken));
  if (!answer.success) throw new PlatformError("facebook", "rejected", `page ${pageId}: unexpected Page fields`);
  return pageMetadataRecord(answer.data);
}

const subscribedAppsSchema = z.object({
  data: z.array(
    z.object({
      id: z.union([z.string(), z.number()]).transform(String),
      subscribed_fields: z.array(z.string()).optional(),
    }),
  ),
});

/** The fields the app is subscribed to on this page (empty when it is not subscribed at all). */
async function subscribedFields(cfg: FacebookConfig, pageId: string, pageToken: string): Promise<string[]> {
  const answer = subscribedAppsSchema.safeParse(await graph(cfg, "GET", `${pageId}/subscribed_apps`, {}, pageToken));
  if (!answer.success) throw new PlatformError("facebook", "rejected", `page ${pageId}: unexpected subscribed_apps`);
  return answer.data.data.find((app) => app.id === cfg.FACEBOOK_APP_ID)?.subscribed_fields ?? [];
}

export type SubscriptionOutcome = { state: "exists" } | { state: "created" | "repaired"; added: string[] };

/**
 * Subscribes the app to every field of SUBSCRIBED_FIELDS the page lacks (keeping any others);
 * nothing is posted when all are there. `repairing`: a daily check, which logs each repair.
 */
export async function ensurePageSubscription(
  cfg: FacebookConfig,
  pageId: string,
  pageToken: string,
  repairing = false,
): Promise<SubscriptionOutcome> {
  const current = await subscribedFields(cfg, pageId, pageToken);
  if (SEED_FIELDS.every((f) => current.includes(f))) {
    log.info(`Webhook subscription for '${SEED_FIELDS.join(",")}' already exists for page ${pageId}`, {
      page_id: pageId,
    });
  }
  const missing = SUBSCRIBED_FIELDS.filter((f) => !current.includes(f));
  if (!missing.length) return { state: "exists" };
  const fields = [...current, ...missing].join(",");
  const result = z
    .object({ success: z.boolean() })
    .safeParse(await graph(cfg, "POST", `${pageId}/subscribed_apps`, { subscribed_fields: fields }, pageToken));
  if (!result.success || !result.data.success) {
    throw new PlatformError("facebook", "rejected", `subscribing page ${pageId} did not succeed`);
  }
  const state = repairing ? "repaired" : "created";
  if (repairing) {
    log.warn(`Webhook subscription for page ${pageId} repaired: subscribed again to '${missing.join(",")}'`, {
      page_id: pageId,
      fields: missing.join(","),
    });
  } else {
    log.info(`Webhook subscription for '${fields}' created for page ${pageId}`, { page_id: pageId });
  }
  return { state, added: missing };
}

/** The daily check of a page's subscription, its outcome kept for the operator. */
export async function healPageSubscription(env: Env, pageId: string, pageToken: string) {
  const cfg = config(env, "facebook");
  const outcome = await ensurePageSubscription(cfg, pageId, pageToken, true).catch(async (err) => {
    if (err instanceof PlatformError && err.kind === "rejected") await pageSubscriptionGone(env, pageId);
    throw err;
  });
  await pageSubscriptionWorks(env, pageId);
  await recordSubscriptionHealth(
    env.TOKENS_DB,
    pageId,
    outcome.state === "exists" ? "ok" : `repaired: ${outcome.added.join(",")}`,
  );
  return outcome;
}

/**
 * Writes page_metadata.json (unless unchanged) and logs `Uploaded <key> to Spaces`, the line
 * operators follow. The page's index object keeps the same text, to put a lost copy back while the
 * platform cannot be asked.
 */
export async function uploadPageMetadata(env: Env, userUuid: string, metadata: PageMetadata) {
  const key = pageMetadataKey(userUuid, metadata.id);
  const text = JSON.stringify(metadata, null, 2);
  const bytes = new TextEncoder().encode(text);
  const result = await spaces(env).putIfChanged(key, bytes, await sha256Hex(bytes));
  if (result.written) log.info(`Uploaded ${key} to Spaces`, { page_id: metadata.id, user_uuid: userUuid, key });
  await pageIndexStub(env, metadata.id).keepPageMetadata(text);
  return result;
}

/** Refetches a written page's metadata and uploads it (webhook `changes`, poll). */
export async function refreshPageMetadata(env: Env, pageId: string) {
  const owner = await writablePageOwner(env.TOKENS_DB, pageId);
  if (!owner) return null;
  const cfg = config(env, "facebook");
  const metadata = await fetchPageMetadata(cfg, pageId, await pageToken(env, pageId));
  if (metadata.name !== owner.name) await (await linkStore(env)).setPageName(pageId, metadata.name);
  return uploadPageMetadata(env, owner.userUuid, metadata);
}
