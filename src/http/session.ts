import type { Context, MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../env";
import { AppError, forbidden } from "../lib/errors";
import { log } from "../lib/log";
import { ANONYMOUS_SESSION_TTL_MS, SESSION_COOKIE, SESSION_TTL_MS, type Provider, type Session } from "../db/sessions";
import { sessionStore } from "../services";

/**
 * The session cookie (docs/identity.md, "Sessions"): `__Host-` prefixed, Secure, HttpOnly, `SameSite=Lax` (OAuth
 * callbacks are cross-site top-level navigations, which Strict would strip), `Path=/`, no Domain.
 */
function setSessionCookie(c: Context<AppEnv>, value: string, ttlMs: number): void {
  setCookie(c, SESSION_COOKIE, value, {
    httpOnly: true,
    secure: true,
    sameSite: "Lax",
    path: "/",
    maxAge: Math.floor(ttlMs / 1000),
  });
}

const cookieValue = (c: Context<AppEnv>) => getCookie(c, SESSION_COOKIE);

/** The browser session of a request, created (with its cookie) when there is none. */
export async function ensureSession(c: Context<AppEnv>): Promise<Session> {
  const store = sessionStore(c.env);
  const existing = await store.find(cookieValue(c));
  if (existing) return existing;
  const { session, cookie } = await store.create();
  setSessionCookie(c, cookie, ANONYMOUS_SESSION_TTL_MS);
  return session;
}

/** The session of a request, or null (never creates one). */
export const currentSession = (c: Context<AppEnv>) => sessionStore(c.env).find(cookieValue(c));

/**
 * The session of an OAuth callback, once its `state` is used up: the state must be one this
 * browser's session made for `provider` (and `shop`), unexpired and unused; else 403 and nothing
 * changes. Both callbacks check their state here.
 */
export async function callbackSession(
  c: Context<AppEnv>,
  provider: Provider,
  state: string | undefined | null,
  shop: string | null = null,
): Promise<Session> {
  const session = await currentSession(c);
  const check = await sessionStore(c.env).consumeState(state ?? "", session?.id ?? null, provider, shop);
  if (!check.ok || !session)
    throw forbidden(`Invalid state (${check.ok ? "no session" : check.reason.replace("_", " ")})`);
  return session;
}

/**
 * A callback binds the browser to `userUuid` (`proven`: its login proved it is that UUID's
 * merchant): always under a new session id and cookie, the old session deleted, so an id known to
 * anyone else (or planted) is not honoured afterwards.
 */
export async function bindSession(
  c: Context<AppEnv>,
  session: Session,
  userUuid: string,
  proven: boolean,
): Promise<Session> {
  const rotated = await sessionStore(c.env).rotate(session.id, userUuid, proven);
  setSessionCookie(c, rotated.cookie, SESSION_TTL_MS);
  return rotated.session;
}

/**
 * Cloudflare's Rate Limiting binding on the routes that create a session and a state, per client
 * IP: past the limit the answer is 429 and nothing is stored. `CF-Connecting-IP` is set by
 * Cloudflare's edge (and by `wrangler dev`); a request without it did not come through either
 * (an in-process test) and is not limited.
 */
export async function limitLogin(c: Context<AppEnv>): Promise<void> {
  const client = c.req.header("cf-connecting-ip");
  if (!client || !c.env.LOGIN_RATE_LIMIT) return;
  const { success } = await c.env.LOGIN_RATE_LIMIT.limit({ key: `login:${client}` });
  if (success) return;
  log.warn("Login rate limit reached", { path: new URL(c.req.url).pathname });
  c.header("retry-after", "60");
  throw new AppError("rate_limited", "Too many login attempts from this client; try again in a minute");
}

/** `limitLogin` as a middleware, for the login routes. */
export const loginRateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  await limitLogin(c);
  await next();
};
