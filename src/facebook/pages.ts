import { config, type Config } from "../config";
import { log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { sha256Hex } from "../lib/signatures";
import { pageMetadataKey } from "../storage/keys";
import { pageOwner } from "../storage/links";
import { pageTokenKey } from "../storage/tokens";
import { spaces, tokenStore } from "../services";
import { graph } from "./graph";

type FacebookConfig = Config<"facebook">;

const SUBSCRIBED_FIELDS = ["name", "category", "messages"] as const;
const FIELDS_TEXT = SUBSCRIBED_FIELDS.join(",");

const PAGE_FIELDS = "id,name,category,about,link,username,fan_count,website,phone,emails,location";

/* eslint-disable @typescript-eslint/no-explicit-any */
/** The page_metadata.json record, keys in a fixed order so equal data gives equal bytes. */
function pageMetadataRecord(p: Record<string, any>) {
  return {
    id: String(p.id),
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
  return pageMetadataRecord(await graph<Record<string, any>>(cfg, "GET", pageId, { fields: PAGE_FIELDS }, pageToken));
}

/** Subscribes the app to the page's name, category and messages, unless it already is. */
export async function ensurePageSubscription(
  cfg: FacebookConfig,
  pageId: string,
  pageToken: string,
): Promise<"exists" | "created"> {
  const current = await graph<{ data: { id: string; subscribed_fields?: string[] }[] }>(
    cfg,
    "GET",
    `${pageId}/subscribed_apps`,
    {},
    pageToken,
  );
  const ours = current.data?.find((app) => app.id === cfg.FACEBOOK_APP_ID);
  if (ours && SUBSCRIBED_FIELDS.every((f) => ours.subscribed_fields?.includes(f))) {
    log.info(`Webhook subscription for '${FIELDS_TEXT}' already exists for page ${pageId}`, { page_id: pageId });
    return "exists";
  }
  const result = await graph<{ success?: boolean }>(
    cfg,
    "POST",
    `${pageId}/subscribed_apps`,
    { subscribed_fields: FIELDS_TEXT },
    pageToken,
  );
  if (!result.success) throw new PlatformError("facebook", "rejected", `subscribing page ${pageId} did not succeed`);
  log.info(`Webhook subscription for '${FIELDS_TEXT}' created for page ${pageId}`, { page_id: pageId });
  return "created";
}

/** Writes page_metadata.json (unless unchanged) and logs the contract's upload line. */
export async function uploadPageMetadata(env: Env, userUuid: string, metadata: ReturnType<typeof pageMetadataRecord>) {
  const key = pageMetadataKey(userUuid, metadata.id);
  const bytes = new TextEncoder().encode(JSON.stringify(metadata, null, 2));
  const result = await spaces(env).putIfChanged(key, bytes, await sha256Hex(bytes));
  if (result.written) log.info(`Uploaded ${key} to Spaces`, { page_id: metadata.id, user_uuid: userUuid, key });
  return result;
}

/** The stored page token; throws `auth` when the page needs a new login. */
export async function pageToken(env: Env, pageId: string): Promise<string> {
  const token = await (await tokenStore(env)).get(pageTokenKey(pageId));
  if (!token) throw new PlatformError("facebook", "auth", `no token stored for page ${pageId}`);
  if (token.status !== "active") throw new PlatformError("facebook", "auth", `page ${pageId} needs a new login`);
  return token.accessToken;
}

/** Refetches a linked page's metadata and uploads it (webhook `changes`, poll). */
export async function refreshPageMetadata(env: Env, pageId: string) {
  const owner = await pageOwner(env.TOKENS_DB, pageId);
  if (!owner) return null;
  const cfg = config(env, "facebook");
  const metadata = await fetchPageMetadata(cfg, pageId, await pageToken(env, pageId));
  await env.TOKENS_DB.prepare("UPDATE pages SET name = ?2 WHERE page_id = ?1").bind(pageId, metadata.name).run();
  return uploadPageMetadata(env, owner.userUuid, metadata);
}
