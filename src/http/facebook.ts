import { Hono, type Context } from "hono";
import { config, publicBase } from "../config";
import { AppError, badRequest, forbidden, unauthorized } from "../lib/errors";
import { log } from "../lib/log";
import { metaWebhookSignature, timingSafeEqual } from "../lib/signatures";
import { deletionByCode, isDeletionCode } from "../db/facebook-deletions";
import { DataDeletionPage } from "./pages/data-deletion";
import { PagesConnectedPage } from "./pages/merchant";
import { respond } from "./pages/respond";
import { deauthorize, requestDataDeletion } from "../facebook/deletion";
import { connectFacebookPages } from "../facebook/login";
import { verifySignedRequest, type SignedRequest } from "../facebook/signed-request";
import { sessionStore } from "../services";
import { bindSession, callbackSession, ensureSession } from "./session";
import { dialogUrl } from "../facebook/oauth";
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

facebookRoutes.get("/callback", async (c) => {
  const cfg = config(c.env, "facebook");
  const q = (name: string) => c.req.query(name);
  if (q("error")) {
    // Meta's code (`access_denied`) is shown when it is one; its description only goes to the log.
    const reason = /^[a-z_]{1,64}$/.test(q("error") ?? "") ? ` (${q("error")})` : "";
    log.info(`Facebook login was not completed: ${(q("error_description") ?? "").slice(0, 200)}`);
    throw badRequest(`Facebook login was not completed${reason}`);
  }
  const code = q("code");
  if (!code) throw badRequest("code is missing");
  const session = await callbackSession(c, "facebook", q("state"));
  const redirectUri = `${publicBase(cfg.PUBLIC_URL, c.req.url)}/facebook/callback`;
  const login = await connectFacebookPages(c.env, { code, redirectUri, session });
  await bindSession(c, session, login.userUuid, login.proven);
  const answer = { user_uuid: login.userUuid, pages: login.pages, pages_of_other_accounts: login.pagesOfOtherAccounts };
  return respond(c, answer, () =>
    PagesConnectedPage({
      userUuid: login.userUuid,
      pages: login.pages.map((p) => ({
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
  const signature = metaWebhookSignature(c.req.header("x-hub-signature-256"), FACEBOOK_APP_SECRET);
  const body = await readSignedJson(c.req.raw, signature, "Invalid X-Hub-Signature-256");
  return c.json(await handleMessengerDelivery(c.env, body));
});
