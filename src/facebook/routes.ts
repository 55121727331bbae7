import { Hono } from "hono";
import type { AppEnv } from "../app";
import { config, publicBase } from "../config";
import { AppError, badRequest, forbidden } from "../lib/errors";
import { describeError, log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { timingSafeEqual, verifyMetaSignature } from "../lib/signatures";
import { isNumericId } from "../storage/keys";
import { pageOwner } from "../storage/links";
import { linkStore, sessionStore } from "../services";
import { bindSession, currentSession, ensureSession } from "../routes/session";
import { dialogUrl, grantedPages, userTokenFromCode } from "./oauth";
import { ensurePageSubscription, fetchPageMetadata, uploadPageMetadata } from "./pages";
import { handleMessengerDelivery } from "./webhooks";
import { readSignedJson } from "../lib/json-body";

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

  // The session's UUID, else the one owner of the login's linked pages, else a new one: never an
  // owner picked by the order of the pages (an agency with pages of two merchants gets its own).
  const owners = new Set<string>();
  for (const page of pages) {
    const owner = await pageOwner(c.env.TOKENS_DB, page.id);
    if (owner) owners.add(owner.userUuid);
  }
  const userUuid = session.userUuid ?? (owners.size === 1 ? [...owners][0]! : crypto.randomUUID());
  // Stores the tokens, links the unlinked pages, never moves a linked one, journals (H3 storage).
  const linked = await (
    await linkStore(c.env)
  ).linkPages(pages, userUuid, {
    accessToken: user.accessToken,
    expiresAt: user.expiresAt,
  });
  await bindSession(c, session, userUuid);
  log.info(`Facebook login linked ${pages.length} pages`, { user_uuid: userUuid, pages: pages.length });

  const result = [];
  for (const { page, subscription, metadata } of details) {
    let uploaded: boolean | "queued" = true;
    try {
      await uploadPageMetadata(c.env, linked.owners[page.id] ?? userUuid, metadata);
    } catch (err) {
      log.warn(`Upload of page metadata for ${page.id} failed, queued: ${describeError(err)}`, { page_id: page.id });
      await c.env.JOBS.send({ type: "facebook.page_metadata", pageId: page.id, reason: "webhook" });
      uploaded = "queued";
    }
    result.push({
      id: page.id,
      name: metadata.name,
      category: metadata.category,
      subscription,
      metadata_uploaded: uploaded,
    });
  }
  return c.json({ user_uuid: userUuid, pages: result, pages_of_other_accounts: linked.ownedByOthers });
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
  const cfg = config(c.env, "facebook");
  const body = await readSignedJson(
    c.req,
    (raw) => verifyMetaSignature(raw, c.req.header("x-hub-signature-256"), cfg.FACEBOOK_APP_SECRET),
    "Invalid X-Hub-Signature-256",
  );
  return c.json(await handleMessengerDelivery(c.env, body));
});
