import { Hono } from "hono";
import type { AppEnv } from "../app";
import { config } from "../config";
import { unauthorized } from "../lib/errors";
import { timingSafeEqual } from "../lib/signatures";
import { fanOutFacebookPoll, fanOutShopifyPoll } from "../jobs/poll";
import { runBackup } from "../backup/run";
import { facebookAdminRoutes } from "../facebook/admin";

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
adminRoutes.route("/facebook", facebookAdminRoutes);
