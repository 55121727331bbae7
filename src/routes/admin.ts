import { Hono } from "hono";
import type { AppEnv } from "../app";
import { config } from "../config";
import { unauthorized } from "../lib/errors";
import { timingSafeEqual } from "../lib/signatures";
import { fanOutFacebookPoll, fanOutShopifyPoll } from "../jobs/poll";
import { runBackup } from "../backup/run";
import { z } from "zod";
import { badRequest } from "../lib/errors";
import { journal, tokenCipher } from "../services";
import { TokenRotation } from "../storage/token-rotation";

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

/** One chunk of `npm run rotate-key`: re-encrypts the token rows after `after` with the current key. */
const rotateChunk = z.object({
  after: z.string().max(512).default(""),
  limit: z.number().int().min(1).max(500).default(200),
});
adminRoutes.post("/rotate-key", async (c) => {
  const text = await c.req.text();
  let body: unknown = {};
  try {
    if (text.trim()) body = JSON.parse(text);
  } catch {
    throw badRequest("Body must be JSON");
  }
  const parsed = rotateChunk.safeParse(body);
  if (!parsed.success) throw badRequest('Body must be {"after": string, "limit": 1..500}');
  const rotation = new TokenRotation(c.env.TOKENS_DB, await tokenCipher(c.env), (keys) =>
    journal(
      c.env,
      keys.map((key) => ({ table: "tokens", key })),
    ),
  );
  const chunk = await rotation.chunk(parsed.data.after, parsed.data.limit);
  return c.json({
    scanned: chunk.scanned,
    rewritten: chunk.rewritten,
    cursor: chunk.cursor,
    done: chunk.done,
    remaining: chunk.remaining,
    unreadable: chunk.unreadable,
    key_id: chunk.keyId,
  });
});
