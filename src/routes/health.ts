import { Hono } from "hono";
import type { AppEnv } from "../app";
import { describeError } from "../lib/log";
import { spaces } from "../services";
import { pingDatabase } from "../storage/health";

export const healthRoutes = new Hono<AppEnv>();

/** The last failure of each probe, for the operator (`/admin/status.json`); never shown publicly. */
export const lastProbeErrors: Partial<Record<"tokens" | "sessions" | "spaces", { at: string; error: string }>> = {};

async function probe(name: keyof typeof lastProbeErrors, check: () => Promise<unknown>): Promise<boolean> {
  try {
    await check();
    return true;
  } catch (err) {
    lastProbeErrors[name] = { at: new Date().toISOString(), error: describeError(err) };
    return false;
  }
}

/**
 * How long one Spaces probe answers for every /health in this isolate: a flood of /health costs at
 * most one HeadBucket per isolate every few seconds, and Spaces never sees the flood.
 */
const SPACES_PROBE_TTL_MS = 5000;
let spacesProbe: { at: number; result: Promise<boolean> } | null = null;

function spacesReachable(env: Env): Promise<boolean> {
  const now = Date.now();
  if (!spacesProbe || now - spacesProbe.at > SPACES_PROBE_TTL_MS) {
    spacesProbe = { at: now, result: probe("spaces", () => spaces(env).check()) };
  }
  return spacesProbe.result;
}

/** Forgets the cached Spaces probe (tests that take Spaces down and up). */
export function resetHealthCache(): void {
  spacesProbe = null;
}

/** Liveness only: answers without touching D1 or Spaces (the benchmark's bare route). */
healthRoutes.get("/ping", (c) => c.text("ok"));

/**
 * `200 {"status":"ok","d1":{"tokens":true,"sessions":true},"spaces":true}`, or 503 `degraded`
 * with the part that is down as false. Public: one `SELECT 1` per database, a cached Spaces probe,
 * booleans only (the errors are in /admin/status.json).
 */
healthRoutes.get("/health", async (c) => {
  const [tokens, sessions, store] = await Promise.all([
    probe("tokens", () => pingDatabase(c.env.TOKENS_DB)),
    probe("sessions", () => pingDatabase(c.env.SESSIONS_DB)),
    spacesReachable(c.env),
  ]);
  const ok = tokens && sessions && store;
  return c.json({ status: ok ? "ok" : "degraded", d1: { tokens, sessions }, spaces: store }, ok ? 200 : 503);
});
