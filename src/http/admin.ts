import { Hono, type MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { config } from "../config";
import { AppError, unauthorized } from "../lib/errors";
import { timingSafeEqual } from "../lib/signatures";
import { log } from "../lib/log";
import { fanOutFacebookPoll, fanOutShopifyPoll } from "../jobs/poll";
import { runBackup } from "../backup/run";
import { queuePendingRestoreTests } from "../backup/restore-test";
import { facebookAdminRoutes } from "./facebook-admin";
import { clientOf } from "./console";
import { z } from "zod";
import { zodJson } from "../lib/json-body";
import { relink } from "../identity/relink";
import { rowJournal, sessionStore, tokenCipher } from "../services";
import { tokenDatabaseCounts } from "../db/health";
import { lastProbeErrors } from "./health";
import { consoleStatus, serverTiming, statusJson } from "../console/read-model";
import { listQuery } from "../console/query";
import { TokenRotation } from "../db/token-rotation";
import { AdminSessionStore, SIGN_IN_WINDOW_MS } from "../db/admin-sessions";

/**
 * The Bearer check. Each token given counts as an attempt of its client before it is checked (the
 * console sign-in's limit, shared with it): past the limit every token, right or wrong, gets a 429
 * until the window ends, so guessing stops there; a right token gives its attempt back.
 */
const bearer: MiddlewareHandler<AppEnv> = async (c, next) => {
  const { ADMIN_TOKEN } = config(c.env, "admin");
  const header = c.req.header("authorization") ?? "";
  const given = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
  if (!given) throw unauthorized("Missing or wrong admin token");
  const attempts = new AdminSessionStore(c.env.SESSIONS_DB);
  const client = clientOf(c);
  if (!(await attempts.takeAttempt(client)).allowed) {
    c.header("retry-after", String(SIGN_IN_WINDOW_MS / 1000));
    throw new AppError("rate_limited", "Too many wrong admin tokens from this client; try again later");
  }
  if (!timingSafeEqual(given, ADMIN_TOKEN)) {
    log.warn("Admin API refused: wrong admin token");
    throw unauthorized("Missing or wrong admin token");
  }
  await attempts.giveBack(client);
  await next();
};

/** `{"shop"|"page", "to", "from"?}`: moves a link and its Spaces files (`npm run relink`). */
const relinkBody = z.union([
  z.object({ shop: z.string(), to: z.string(), from: z.string().optional() }).strict(),
  z.object({ page: z.string(), to: z.string(), from: z.string().optional() }).strict(),
]);

/** One chunk of `npm run rotate-key`: re-encrypts the token rows after `after` with the current key. */
const rotateChunk = z.object({
  after: z.string().max(512).default(""),
  limit: z.number().int().min(1).max(500).default(200),
});

/**
 * The operator's API: `Authorization: Bearer {ADMIN_TOKEN}` on each of these routes. The
 * console's browser pages under /admin (cookie sign-in) are in ./console.ts. Declared as one
 * chain so that `AdminApi` carries every route's body and answer to the scripts' typed client.
 */
export const adminRoutes = new Hono<AppEnv>()
  .post("/backup", bearer, async (c) => {
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
  })
  /** `npm run backup`'s request: restore-test every backup without a record yet (through the queue). */
  .post("/backup/restore-test", bearer, async (c) =>
    c.json({ queued: (await queuePendingRestoreTests(c.env)).map((b) => `${b.database}/${b.stamp}`) }, 202),
  )
  .post("/poll/shopify", bearer, async (c) => c.json({ enqueued: await fanOutShopifyPoll(c.env) }, 202))
  .post("/poll/facebook", bearer, async (c) => c.json({ enqueued: await fanOutFacebookPoll(c.env) }, 202))
  .post(
    "/relink",
    bearer,
    zodJson(relinkBody, 'Body must be {"shop" or "page", "to": "<uuid>", "from"?: "<uuid>"}'),
    async (c) => {
      const { to, from, ...target } = c.req.valid("json");
      const steps: string[] = [];
      const outcome = await relink(c.env, { target, to, from }, (line) => steps.push(line));
      return c.json({ ...outcome, steps });
    },
  )
  /** What the console shows, for monitoring and `npm run status`: `?q=` searches, `?page=` pages. */
  .get("/status.json", bearer, async (c) => {
    const status = await consoleStatus(c.env, listQuery(c.req.query()));
    c.header("server-timing", serverTiming(status));
    const [tokens, sessions] = await Promise.all([
      tokenDatabaseCounts(c.env.TOKENS_DB).catch(() => null),
      sessionStore(c.env)
        .counts()
        .catch(() => null),
    ]);
    // The details /health keeps to itself: row counts and the last failure of each probe.
    return c.json({ ...statusJson(status), details: { d1: { tokens, sessions }, last_probe_errors: lastProbeErrors } });
  })
  .post("/rotate-key", bearer, zodJson(rotateChunk, 'Body must be {"after": string, "limit": 1..500}'), async (c) => {
    const { after, limit } = c.req.valid("json");
    const rotation = new TokenRotation(c.env.TOKENS_DB, await tokenCipher(c.env), (keys) =>
      rowJournal(c.env)(keys.map((key) => ({ table: "tokens", key }))),
    );
    const chunk = await rotation.chunk(after, limit);
    if (chunk.unreadable.length) {
      log.warn(`Key rotation passed over ${chunk.unreadable.length} rows no configured key decrypts`, {
        keys: chunk.unreadable.join(","),
      });
    }
    return c.json({
      scanned: chunk.scanned,
      rewritten: chunk.rewritten,
      cursor: chunk.cursor,
      done: chunk.done,
      remaining: chunk.remaining,
      unreadable: chunk.unreadable,
      key_id: chunk.keyId,
    });
  })
  /** The Facebook operator routes (one page's poll and status, forgetting one conversation). */
  .use("/facebook/*", bearer)
  .route("/facebook", facebookAdminRoutes);

/** The operator API's routes, bodies and answers, for `hc<AdminApi>` (the scripts' client). */
export type AdminApi = typeof adminRoutes;
