import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../app";
import { SESSION_COOKIE, SESSION_TTL_MS, type Session } from "../storage/sessions";
import { sessionStore } from "../services";

/**
 * The browser session of a request, created (with its cookie) when there is none. The cookie is
 * `SameSite=Lax`: OAuth callbacks are cross-site top-level navigations, which Strict would strip.
 */
export async function ensureSession(c: Context<AppEnv>): Promise<Session> {
  const store = sessionStore(c.env);
  const existing = await store.find(getCookie(c, SESSION_COOKIE));
  if (existing) return existing;
  const { session, cookie } = await store.create();
  setCookie(c, SESSION_COOKIE, cookie, {
    httpOnly: true,
    secure: true,
    sameSite: "Lax",
    path: "/",
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  });
  return session;
}

/** The session of a request, or null (never creates one). */
export const currentSession = (c: Context<AppEnv>) => sessionStore(c.env).find(getCookie(c, SESSION_COOKIE));
