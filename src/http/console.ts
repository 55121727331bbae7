import { Hono, type Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../env";
import { config } from "../config";
import { consoleStatus, serverTiming, sources } from "../console/read-model";
import { listQuery } from "../console/query";
import { toHex, randomHex } from "../lib/encoding";
import { AppError, badRequest, forbidden } from "../lib/errors";
import { log, redact } from "../lib/log";
import { sleep } from "../lib/retry";
import { hmacSha256, timingSafeEqual } from "../lib/signatures";
import { DashboardPage, NOTICES, type Notice } from "../console/dashboard";
import { SignInPage } from "../console/sign-in";
import { page } from "./pages/respond";
import { ADMIN_SESSION_TTL_MS, AdminSessionStore, SIGN_IN_WINDOW_MS } from "../db/admin-sessions";

/**
 * The operator console in a browser (`GET /admin`). Signing in with the ADMIN_TOKEN gives a
 * `__Host-` cookie that is HttpOnly, Secure and SameSite=Strict and lasts an hour; every form
 * carries a CSRF token derived from the cookie it belongs to. Signed out, every console URL sends
 * the browser to the sign-in form. The Bearer API beside it is ./admin.ts.
 */
export const consoleRoutes = new Hono<AppEnv>();

/** The signed-in operator's cookie. */
export const ADMIN_COOKIE = "__Host-admin";
/** A browser's cookie while it shows the sign-in form: what its CSRF token is bound to. */
export const SIGN_IN_COOKIE = "__Host-admin-signin";

const SIGN_IN_PATH = "/admin/sign-in";
const cookieOptions = { httpOnly: true, secure: true, sameSite: "Strict", path: "/" } as const;

const store = (c: Context<AppEnv>) => new AdminSessionStore(c.env.SESSIONS_DB);

/** The CSRF token of the forms shown to the holder of `cookie`. */
async function csrfToken(cookie: string, purpose: "console" | "sign-in"): Promise<string> {
  return toHex(await hmacSha256(cookie, `csrf:${purpose}`));
}

/** A posted form's field as text ("" when missing or a file). */
async function formField(c: Context<AppEnv>, name: string): Promise<string> {
  const type = c.req.header("content-type") ?? "";
  if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)) return "";
  const value = (await c.req.parseBody())[name];
  return typeof value === "string" ? value : "";
}

async function checkCsrf(c: Context<AppEnv>, cookie: string, purpose: "console" | "sign-in"): Promise<void> {
  const given = await formField(c, "csrf");
  if (!given || !timingSafeEqual(given, await csrfToken(cookie, purpose)))
    throw forbidden("Missing or wrong CSRF token");
}

/** Who is giving an admin token, for counting wrong ones (Cloudflare's client address). */
export const clientOf = (c: Context<AppEnv>) => c.req.header("cf-connecting-ip") ?? "unknown";

/** The signed-in operator's cookie value, or null. */
async function signedIn(c: Context<AppEnv>): Promise<string | null> {
  const cookie = getCookie(c, ADMIN_COOKIE);
  return cookie && (await store(c).isValid(cookie)) ? cookie : null;
}

async function signInForm(c: Context<AppEnv>, problem?: "wrong_token" | "too_many" | "signed_out", status = 200) {
  let cookie = getCookie(c, SIGN_IN_COOKIE);
  if (!cookie || !/^[0-9a-f]{64}$/.test(cookie)) {
    cookie = randomHex(32);
    // Registered when issued: a value a client sends is not added to the isolate's redaction list.
    redact(cookie);
    setCookie(c, SIGN_IN_COOKIE, cookie, { ...cookieOptions, maxAge: 3600 });
  }
  return page(c, SignInPage({ csrf: await csrfToken(cookie, "sign-in"), problem }), status as 200 | 401 | 403 | 429);
}

consoleRoutes.get("/sign-in", async (c) => {
  if (await signedIn(c)) return c.redirect("/admin", 303);
  return signInForm(c, c.req.query("signed_out") === "1" ? "signed_out" : undefined);
});

consoleRoutes.post("/sign-in", async (c) => {
  const pre = getCookie(c, SIGN_IN_COOKIE) ?? "";
  if (!/^[0-9a-f]{64}$/.test(pre)) throw forbidden("Missing or wrong CSRF token");
  await checkCsrf(c, pre, "sign-in");
  const sessions = store(c);
  const client = clientOf(c);
  // Counted before the token is checked, atomically: concurrent guesses cannot all pass one check.
  const attempt = await sessions.takeAttempt(client);
  if (!attempt.allowed) {
    c.header("retry-after", String(SIGN_IN_WINDOW_MS / 1000));
    return signInForm(c, "too_many", 429);
  }
  const { ADMIN_TOKEN } = config(c.env, "admin");
  // A guess is not registered for redaction: the real token already is (a configured secret).
  const given = (await formField(c, "token")).trim();
  if (!given || !timingSafeEqual(given, ADMIN_TOKEN)) {
    const failures = attempt.attempts;
    log.warn("Console sign-in refused: wrong admin token", { failures });
    // Each wrong guess from the same client waits longer before its answer.
    await sleep(Math.min(2000, 200 * failures));
    return signInForm(c, "wrong_token", 401);
  }
  await sessions.clearFailures(client);
  const { cookie } = await sessions.create();
  setCookie(c, ADMIN_COOKIE, cookie, { ...cookieOptions, maxAge: ADMIN_SESSION_TTL_MS / 1000 });
  setCookie(c, SIGN_IN_COOKIE, "", { ...cookieOptions, maxAge: 0 });
  log.info("Console sign-in");
  return c.redirect("/admin", 303);
});

/** Every other console URL needs a sign-in: a browser is sent to the form, a form post refused. */
consoleRoutes.use("*", async (c, next) => {
  if (c.req.path === SIGN_IN_PATH) return next();
  if (await signedIn(c)) return next();
  if (c.req.method === "GET" || c.req.method === "HEAD") return c.redirect(SIGN_IN_PATH, 303);
  throw new AppError("unauthorized", "Sign in to the console first");
});

consoleRoutes.get("/", async (c) => {
  const cookie = (await signedIn(c))!;
  const notice = c.req.query("notice");
  const status = await consoleStatus(c.env, listQuery(c.req.query()));
  c.header("server-timing", serverTiming(status));
  return page(
    c,
    DashboardPage({
      status,
      csrf: await csrfToken(cookie, "console"),
      notice: notice && notice in NOTICES ? (notice as Notice) : undefined,
    }),
  );
});

consoleRoutes.post("/sign-out", async (c) => {
  const cookie = (await signedIn(c))!;
  await checkCsrf(c, cookie, "console");
  await store(c).delete(cookie);
  setCookie(c, ADMIN_COOKIE, "", { ...cookieOptions, maxAge: 0 });
  return c.redirect(`${SIGN_IN_PATH}?signed_out=1`, 303);
});

consoleRoutes.post("/dead-jobs/:id/retry", async (c) => {
  const cookie = (await signedIn(c))!;
  await checkCsrf(c, cookie, "console");
  const id = c.req.param("id");
  if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(id)) throw badRequest("Not a dead job id");
  const retried = await sources.retryDeadJob(c.env, id);
  if (retried) log.info(`Dead job ${id} retried from the console: ${retried}`);
  const notice = retried === "done" ? "retried" : retried === "failed" ? "retry_failed" : "retry_gone";
  return c.redirect(`/admin?notice=${notice}#dead-jobs`, 303);
});
