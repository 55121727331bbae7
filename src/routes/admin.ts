import { Hono } from "hono";
import type { AppEnv } from "../app";
import { config } from "../config";
import { unauthorized } from "../lib/errors";
import { timingSafeEqual } from "../lib/signatures";
import { fanOutFacebookPoll, fanOutShopifyPoll } from "../jobs/poll";
import { runBackup } from "../backup/run";
import { z } from "zod";
import { badRequest } from "../lib/errors";
import { describeError } from "../lib/log";
import { relink } from "../identity/relink";
import { sessionStore, spaces } from "../services";
import { tokenDatabaseCounts } from "../storage/health";
import { lastProbeErrors } from "./health";

export const adminRoutes = new Hono<AppEnv>();

/** `Authorization: Bearer {ADMIN_TOKEN}` on every admin route. */
adminRoutes.use(async (c, next) => {
  const { ADMIN_TOKEN } = config(c.env, "admin");
  const header = c.req.header("authorization") ?? "";
  const given = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
  if (!given || !timingSafeEqual(given, ADMIN_TOKEN)) throw unauthorized("Missing or wrong admin token");
  await next();
});

adminRoutes.post("/backup", async (c) => {
  const manifests = await runBackup(c.env);
  return c.json({
    backups: manifests.map((m) => ({
      database: m.database,
      key: m.dump_key,
      bytes: m.bytes,
      sha256: m.sha256,
      tables: m.tables,
    })),
  });
});
adminRoutes.post("/poll/shopify", async (c) => c.json({ enqueued: await fanOutShopifyPoll(c.env) }, 202));
adminRoutes.post("/poll/facebook", async (c) => c.json({ enqueued: await fanOutFacebookPoll(c.env) }, 202));

/** `{"shop"|"page", "to", "from"?}`: moves a link and its Spaces files (`npm run relink`). */
const relinkBody = z.union([
  z.object({ shop: z.string(), to: z.string(), from: z.string().optional() }).strict(),
  z.object({ page: z.string(), to: z.string(), from: z.string().optional() }).strict(),
]);

adminRoutes.post("/relink", async (c) => {
  const parsed = relinkBody.safeParse(await c.req.json().catch(() => null));
  if (!parsed.success) throw badRequest('Body must be {"shop" or "page", "to": "<uuid>", "from"?: "<uuid>"}');
  const { to, from, ...target } = parsed.data;
  const steps: string[] = [];
  const outcome = await relink(c.env, { target, to, from }, (line) => steps.push(line));
  return c.json({ ...outcome, steps });
});

/**
 * The operator's details that /health does not show (minimal: the full status is built in its own
 * file): each database's row counts, Spaces reachability, the last failure of each health probe.
 */
adminRoutes.get("/status.json", async (c) => {
  const part = async <T>(read: () => Promise<T>) =>
    read().then(
      (value) => ({ ok: true as const, ...value }),
      (err: unknown) => ({ ok: false as const, error: describeError(err) }),
    );
  const [tokens, sessions, store] = await Promise.all([
    part(() => tokenDatabaseCounts(c.env.TOKENS_DB)),
    part(() => sessionStore(c.env).counts()),
    part(async () => (await spaces(c.env).check(), { bucket: spaces(c.env).bucket })),
  ]);
  return c.json({ d1: { tokens, sessions }, spaces: store, last_probe_errors: lastProbeErrors });
});
