import { Hono } from "hono";
import type { AppEnv } from "../env";
import { isolateCache, registerIsolateCache } from "../lib/isolate-cache";
import { describeError } from "../lib/log";
import { spaces } from "../services";
import { pingDatabase } from "../db/health";

export const healthRoutes = new Hono<AppEnv>();

/** The last failure of each probe, for the operator (`/admin/status.json`); never shown publicly. */
export const lastProbeErrors: Partial<Record<"tokens" | "sessions" | "spaces", { at: string; error: string }>> = {};
registerIsolateCache({
  name: "health.last-probe-errors",
  why: "the last failure of each /health probe, for /admin/status.json (one per dependency)",
  maxEntries: 3,
  ttlMs: null,
  clear: () => {
    for (const name of Object.keys(lastProbeErrors)) delete lastProbeErrors[name as keyof typeof lastProbeErrors];
  },
});

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
 * How long one probe answers for every /health in this isolate. A flood of /health then costs at
 * most one `SELECT 1` per database a second and one HeadBucket every few seconds, whatever its
 * size, and concurrent requests share the probe in flight.
 */
const PROBE_TTL_MS = { tokens: 1000, sessions: 1000, spaces: 5000 } as const;
const probes = isolateCache<keyof typeof PROBE_TTL_MS, { at: number; result: Promise<boolean> }>("health.probes", {
  why: "the last /health probe of each dependency, shared by every /health for a moment (one per dependency)",
  maxEntries: Object.keys(PROBE_TTL_MS).length,
});

function cachedProbe(name: keyof typeof PROBE_TTL_MS, check: () => Promise<unknown>): Promise<boolean> {
  const now = Date.now();
  const cached = probes.get(name, now);
  if (cached && now - cached.at <= PROBE_TTL_MS[name]) return cached.result;
  return probes.set(name, { at: now, result: probe(name, check) }, now).result;
}

/** Liveness only: answers without touching D1 or Spaces (the benchmark's bare route). */
healthRoutes.get("/ping", (c) => c.text("ok"));

/**
 * `200 {"status":"ok","d1":{"tokens":true,"sessions":true},"spaces":true}`, or 503 `degraded`
 * with the part that is down as false. Public: a `SELECT 1` per database and a Spaces HeadBucket,
 * each cached for a moment; booleans only (the errors are in /admin/status.json).
 */
healthRoutes.get("/health", async (c) => {
  const [tokens, sessions, store] = await Promise.all([
    cachedProbe("tokens", () => pingDatabase(c.env.TOKENS_DB)),
    cachedProbe("sessions", () => pingDatabase(c.env.SESSIONS_DB)),
    cachedProbe("spaces", () => spaces(c.env).check()),
  ]);
  const ok = tokens && sessions && store;
  return c.json({ status: ok ? "ok" : "degraded", d1: { tokens, sessions }, spaces: store }, ok ? 200 : 503);
});
