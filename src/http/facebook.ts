import { Hono, type Context } from "hono";
import { config, publicBase } from "../config";
import { AppError, badRequest, forbidden, unauthorized } from "../lib/errors";
import { describeError, log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { timingSafeEqual, verifyMetaSignature } from "../lib/signatures";
import { isNumericId } from "../spaces/keys";
import { pageOwners } from "../db/facebook-pages";
import { deletionByCode, isDeletionCode } from "../db/facebook-deletions";
import { recordTokenState } from "../db/page-status";
import { DataDeletionPage } from "./pages/data-deletion";
import { PagesConnectedPage } from "./pages/merchant";
import { respond } from "./pages/respond";
import { deauthorize, requestDataDeletion } from "../facebook/deletion";
import { choosePageOwners } from "../identity/facebook-login";
import { verifySignedRequest, type SignedRequest } from "../facebook/signed-request";
import { facebookUserStore, linkStore, sessionStore } from "../services";
import { bindSession, currentSession, ensureSession } from "./session";
import { dialogUrl, facebookUserId, grantedPages, userTokenFromCode } from "../facebook/oauth";
import { ensurePageSubscription, fetchPageMetadata, uploadPageMetadata } from "../facebook/pages";
import { handleMessengerDelivery } from "../facebook/webhooks";
import { readSignedJson } from "../lib/json-body";
import type { AppEnv } from "../env";

export const facebookRoutes = new Hono<AppEnv>();

facebookRoutes.get("/login", async (c) => {
  const cfg = config(c.env, "facebook");
  const session = await ensureSession(c);
  const state = await sessionStore(c.env).createState(session.id, "facebook");
  return c.redirect(dialogUrl(cfg, `${publicBase(cfg.PUBLIC_URL, c.req.url)}/facebook/callback`, state), 302);
});

/** A Graph failure during login: the user's fault or Meta's refusal is 4xx, Meta being down 502. */
function loginFailure(step: string, err: unknown): AppError {
  const detail = describeError(err);
  if (err instanceof PlatformError && (err.kind === "rejected" || err.kind === "auth")) {
    return new AppError("bad_request", `Facebook refused ${step}: ${detail}`);
  }
  return new AppError("upstream_error", `Facebook ${step} failed: ${detail}`);
}

facebookRoutes.get("/callback", async (c) => {
  const cfg = config(c.env, "facebook");
  const q = (name: string) => c.req.query(name);
  if (q("error")) {
    throw badRequest(`Facebook login was not completed: ${(q("error_description") ?? q("error") ?? "").slice(0, 200)}`);
  }
  const code = q("code");
  if (!code) throw badRequest("code is missing");
  const session = await currentSession(c);
  const state = await sessionStore(c.env).consumeState(q("state") ?? "", session?.id ?? null, "facebook");
  if (!state.ok || !session)
    throw forbidden(`Invalid state (${state.ok ? "no session" : state.reason.replace("_", " ")})`);
  const redirectUri = `${publicBase(cfg.PUBLIC_URL, c.req.url)}/facebook/callback`;

  // Everything from Meta first, so a failure half-way stores nothing.
  const user = await userTokenFromCode(cfg, code, redirectUri).catch((err) => {
    throw loginFailure("the login code", err);
  });
  const facebookUser = await facebookUserId(cfg, user.accessToken).catch((err) => {
    throw loginFailure("the user id", err);
  });
  const granted = await grantedPages(cfg, user.accessToken).catch((err) => {
    throw loginFailure("the page list", err);
  });
  const pages = granted.filter((p) => isNumericId(p.id));
  if (!pages.length) throw badRequest("No Facebook Pages were granted: choose at least one page when logging in");
  const details = [];
  for (const page of pages) {
    try {
      const subscription = await ensurePageSubscription(cfg, page.id, page.accessToken);
      details.push({ page, subscription, metadata: await fetchPageMetadata(cfg, page.id, page.accessToken) });
    } catch (err) {
      throw loginFailure(`page ${page.id}`, err);
    }
  }

  // A linked page never moves (docs/identity.md): the login's UUID is chosen by the rules
  // of choosePageOwners; the link store links only unlinked pages and refreshes the others' tokens.
  const db = c.env.TOKENS_DB;
  const plan = choosePageOwners(
    session.userUuid,
    pages.map((p) => p.id),
    await pageOwners(
      db,
      pages.map((p) => p.id),
    ),
  );
  const userUuid = plan.userUuid;
  const linked = await (
    await linkStore(c.env)
  ).linkPages(pages, userUuid, { accessToken: user.accessToken, expiresAt: user.expiresAt });
  const toLink = new Set(plan.toLink);
  await facebookUserStore(c.env).recordLogin(
    facebookUser,
    userUuid,
    pages.map((p) => ({
      pageId: p.id,
      linksNow: toLink.has(p.id) && linked.owners[p.id] === userUuid,
      own: linked.owners[p.id] === userUuid,
    })),
  );
  for (const page of pages) await recordTokenState(db, page.id, "active");
  await bindSession(c, session, userUuid);
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

  const result: {
    id: string;
    name: string | null;
    category: string | null;
    subscription: string;
    metadata_uploaded: boolean | "queued";
    owned_by_another_account: boolean;
  }[] = [];
  for (const { page, subscription, metadata } of details) {
    // A page of another account keeps its files: its metadata is refreshed in its owner's folder.
    const owner = linked.owners[page.id] ?? userUuid;
    let uploaded: boolean | "queued" = true;
    try {
      await uploadPageMetadata(c.env, owner, metadata);
    } catch (err) {
      log.warn(`Upload of page metadata for ${page.id} failed, queued: ${describeError(err)}`, { page_id: page.id });
      await c.env.JOBS.send({ type: "facebook.page_metadata", pageId: page.id, reason: "webhook" });
      uploaded = "queued";
    }
    result.push({
      id: page.id,
      name: metadata.name,
      category: metadata.category,
      subscription: subscription.state,
      metadata_uploaded: uploaded,
      owned_by_another_account: owner !== userUuid,
    });
  }
  const answer = { user_uuid: userUuid, pages: result, pages_of_other_accounts: linked.ownedByOthers };
  return respond(c, answer, () =>
    PagesConnectedPage({
      userUuid,
      pages: result.map((p) => ({
        id: p.id,
        name: p.name,
        otherAccount: p.owned_by_another_account,
        queued: p.metadata_uploaded === "queued",
      })),
    }),
  );
});

/** The `signed_request` form field of Meta's callbacks, verified (400 malformed, 401 forged or stale). */
async function signedRequestOf(c: Context<AppEnv>): Promise<SignedRequest> {
  const cfg = config(c.env, "facebook");
  const type = c.req.header("content-type") ?? "";
  let field: string | undefined;
  if (/^multipart\/form-data/i.test(type)) {
    const form = await c.req.parseBody().catch(() => {
      throw badRequest("Body is not a valid form");
    });
    field = typeof form.signed_request === "string" ? form.signed_request : undefined;
  } else if (/^application\/x-www-form-urlencoded/i.test(type) || !type) {
    field = new URLSearchParams(await c.req.text()).get("signed_request") ?? undefined;
  } else {
    throw badRequest("Content-Type must be application/x-www-form-urlencoded");
  }
  const verdict = await verifySignedRequest(field?.trim(), cfg.FACEBOOK_APP_SECRET);
  if (!verdict.ok) throw verdict.status === 400 ? badRequest(verdict.message) : unauthorized(verdict.message);
  return verdict.request;
}

facebookRoutes.post("/data-deletion", async (c) => {
  const cfg = config(c.env, "facebook");
  const deletion = await requestDataDeletion(c.env, await signedRequestOf(c));
  return c.json({
    url: `${publicBase(cfg.PUBLIC_URL, c.req.url)}/facebook/data-deletion/${deletion.code}`,
    confirmation_code: deletion.code,
  });
});

facebookRoutes.get("/data-deletion/:code", async (c) => {
  const code = c.req.param("code");
  const deletion = isDeletionCode(code) ? await deletionByCode(c.env.TOKENS_DB, code) : null;
  if (!deletion) throw new AppError("not_found", "No data deletion request has this confirmation code");
  const status = {
    confirmation_code: deletion.code,
    status: deletion.status,
    requested_at: new Date(deletion.requestedAt).toISOString(),
    updated_at: new Date(deletion.updatedAt).toISOString(),
    deleted: {
      pages: deletion.pages,
      tokens: deletion.tokensDeleted,
      conversations: deletion.conversationsForgotten,
      objects: deletion.objectsDeleted,
    },
  };
  return respond(c, status, () => DataDeletionPage({ deletion }));
});

facebookRoutes.post("/deauthorize", async (c) => {
  const result = await deauthorize(c.env, await signedRequestOf(c));
  return c.json({ ok: true, ...result });
});

facebookRoutes.get("/webhook", (c) => {
  const cfg = config(c.env, "facebook");
  const mode = c.req.query("hub.mode");
  const token = c.req.query("hub.verify_token") ?? "";
  const challenge = c.req.query("hub.challenge") ?? "";
  if (mode !== "subscribe" || !timingSafeEqual(token, cfg.FACEBOOK_VERIFY_TOKEN)) {
    throw forbidden("Verification failed");
  }
  return c.text(challenge, 200);
});

facebookRoutes.post("/webhook", async (c) => {
  const { FACEBOOK_APP_SECRET } = config(c.env, "facebook");
  const signature = c.req.header("x-hub-signature-256");
  const verify = (raw: Uint8Array) => verifyMetaSignature(raw, signature, FACEBOOK_APP_SECRET);
  const body = await readSignedJson(c.req, verify, "Invalid X-Hub-Signature-256");
  return c.json(await handleMessengerDelivery(c.env, body));
});
