import { Hono } from "hono";
import type { AppEnv } from "../app";
import { describeError } from "../lib/log";
import { spaces } from "../services";

export const healthRoutes = new Hono<AppEnv>();

async function probe(check: () => Promise<unknown>): Promise<{ ok: boolean; error?: string }> {
  try {
    await check();
    return { ok: true };
  } catch (err) {
    return { ok: false, error: describeError(err) };
  }
}

/** Liveness only: answers without touching D1 or Spaces (the benchmark's bare route). */
healthRoutes.get("/ping", (c) => c.text("ok"));

/** `200 {"status":"ok", d1, spaces}`; 503 with the failing part named when D1 or Spaces is not reachable. */
healthRoutes.get("/health", async (c) => {
  const [tokens, sessions, store] = await Promise.all([
    probe(() => c.env.TOKENS_DB.prepare("SELECT COUNT(*) FROM tokens").first()),
    probe(() => c.env.SESSIONS_DB.prepare("SELECT COUNT(*) FROM sessions").first()),
    probe(() => spaces(c.env).check()),
  ]);
  const ok = tokens.ok && sessions.ok && store.ok;
  return c.json({ status: ok ? "ok" : "degraded", d1: { tokens, sessions }, spaces: store }, ok ? 200 : 503);
});
