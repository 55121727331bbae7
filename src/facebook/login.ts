import { config } from "../config";
import { pageOwners } from "../db/facebook-pages";
import { accountsProvenBy } from "../db/facebook-users";
import { recordTokenState } from "../db/page-status";
import type { Session } from "../db/sessions";
import { decideLoginIdentity } from "../identity/login-identity";
import { AppError } from "../lib/errors";
import { describeError, log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { facebookUserStore, linkStore } from "../services";
import { isNumericId } from "../spaces/keys";
import { facebookUserId, grantedPages, userTokenFromCode } from "./oauth";
import { ensurePageSubscription, fetchPageMetadata, uploadPageMetadata } from "./pages";

/** What a login callback knows once its state checked out. */
export interface FacebookLoginInput {
  code: string;
  redirectUri: string;
  /** The browser's session (its UUID and whether it proved it). */
  session: Pick<Session, "userUuid" | "proven">;
}

export interface ConnectedPage {
  id: string;
  name: string | null;
  category: string | null;
  subscription: string;
  metadata_uploaded: boolean | "queued";
  owned_by_another_account: boolean;
}

export interface FacebookLoginOutcome {
  /** The UUID the browser is bound to now: the pages this login linked are under it. */
  userUuid: string;
  /** The browser proved it is `userUuid`'s merchant (see src/identity/login-identity.ts). */
  proven: boolean;
  pages: ConnectedPage[];
  /** Pages linked to another UUID than `userUuid`: token refreshed, link and files kept. */
  pagesOfOtherAccounts: string[];
}

/** A Graph failure during login: the user's fault or Meta's refusal is 4xx, Meta being down 502. */
function loginFailure(step: string, err: unknown): AppError {
  const detail = describeError(err);
  if (err instanceof PlatformError && (err.kind === "rejected" || err.kind === "auth")) {
    return new AppError("bad_request", `Facebook refused ${step}: ${detail}`);
  }
  return new AppError("upstream_error", `Facebook ${step} failed: ${detail}`);
}

/**
 * A Facebook Pages login, after its state checked out: code → user token → long-lived token → the
 * user's id and granted pages, each page subscribed and its metadata read (everything from Meta
 * first, so a failure half-way stores nothing); then the identity decision
 * (src/identity/login-identity.ts: the Facebook user proves the accounts whose pages they linked),
 * the tokens and links in one transaction, the user's login recorded, and each page's metadata
 * uploaded under its owner.
 */
export async function connectFacebookPages(env: Env, input: FacebookLoginInput): Promise<FacebookLoginOutcome> {
  const cfg = config(env, "facebook");
  const user = await userTokenFromCode(cfg, input.code, input.redirectUri).catch((err) => {
    throw loginFailure("the login code", err);
  });
  const facebookUser = await facebookUserId(cfg, user.accessToken).catch((err) => {
    throw loginFailure("the user id", err);
  });
  const granted = await grantedPages(cfg, user.accessToken).catch((err) => {
    throw loginFailure("the page list", err);
  });
  const pages = granted.filter((p) => isNumericId(p.id));
  if (!pages.length)
    throw new AppError("bad_request", "No Facebook Pages were granted: choose at least one page when logging in");
  const details = [];
  for (const page of pages) {
    try {
      const subscription = await ensurePageSubscription(cfg, page.id, page.accessToken);
      details.push({ page, subscription, metadata: await fetchPageMetadata(cfg, page.id, page.accessToken) });
    } catch (err) {
      throw loginFailure(`page ${page.id}`, err);
    }
  }

  const db = env.TOKENS_DB;
  const pageIds = pages.map((p) => p.id);
  const identity = decideLoginIdentity({
    session: input.session,
    provenAccounts: await accountsProvenBy(db, facebookUser),
    items: pageIds,
    owners: await pageOwners(db, pageIds),
  });
  const userUuid = identity.userUuid;
  // Links only the pages not linked yet (identity.proven holds then); the others keep their owner.
  const linked = await (
    await linkStore(env)
  ).linkPages(pages, userUuid, {
    facebookUserId: facebookUser,
    accessToken: user.accessToken,
    expiresAt: user.expiresAt,
  });
  const toLink = new Set(identity.toLink);
  const ownedByProof = (pageId: string) => identity.proven && linked.owners[pageId] === userUuid;
  await facebookUserStore(env).recordLogin(
    facebookUser,
    userUuid,
    pageIds.map((pageId) => ({
      pageId,
      linksNow: toLink.has(pageId) && ownedByProof(pageId),
      own: ownedByProof(pageId),
    })),
  );
  for (const pageId of pageIds) await recordTokenState(db, pageId, "active");
  log.info(`Facebook login linked ${pages.length} pages`, {
    user_uuid: userUuid,
    pages: pages.length,
    other_accounts: linked.ownedByOthers.length,
  });
  if (linked.ownedByOthers.length) {
    log.warn(
      `Facebook login granted ${linked.ownedByOthers.length} pages of another account: tokens refreshed, links kept`,
      { user_uuid: userUuid, pages: linked.ownedByOthers.join(",") },
    );
  }

  const connected: ConnectedPage[] = [];
  for (const { page, subscription, metadata } of details) {
    // A page of another account keeps its files: its metadata is refreshed in its owner's folder.
    const owner = linked.owners[page.id] ?? userUuid;
    let uploaded: boolean | "queued" = true;
    try {
      await uploadPageMetadata(env, owner, metadata);
    } catch (err) {
      log.warn(`Upload of page metadata for ${page.id} failed, queued: ${describeError(err)}`, { page_id: page.id });
      await env.JOBS.send({ type: "facebook.page_metadata", pageId: page.id, reason: "webhook" });
      uploaded = "queued";
    }
    connected.push({
      id: page.id,
      name: metadata.name,
      category: metadata.category,
      subscription: subscription.state,
      metadata_uploaded: uploaded,
      owned_by_another_account: owner !== userUuid,
    });
  }
  return { userUuid, proven: identity.proven, pages: connected, pagesOfOtherAccounts: linked.ownedByOthers };
}
