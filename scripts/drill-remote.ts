import { z } from "zod";
/**
 * The recovery drill against a deployed worker and its real databases, for an operator:
 * `npm run drill -- --remote <url> --yes`. It backs up, restores over the live databases (the restore drops and
 * reloads every table: the loss and the recovery in one step, seconds apart), and checks that every
 * token key and every shop and page link is as before, that signed webhooks and both polls work and
 * write to the same Spaces keys. OAuth needs a merchant at a browser: the drill prints the two login
 * URLs to try by hand afterwards. The local drill runs this same routine against the local stack.
 *
 * Environment: DRILL_WORKER_URL when no URL follows --remote; SHOPIFY_API_SECRET, FACEBOOK_APP_SECRET, ADMIN_TOKEN,
 * TOKEN_ENCRYPTION_KEY (the worker's secrets; the last signs and checks the backups); SPACES_KEY,
 * SPACES_SECRET, SPACES_BUCKET, SPACES_REGION or SPACES_ENDPOINT; wrangler
 * logged in (CLOUDFLARE_API_TOKEN). Optional: DRILL_SHOP (an installed shop), DRILL_PAGE and
 * DRILL_PSID (a linked page and a test user's PSID on it) for the webhook steps.
 */
import { shopMetadataKey, shopProductsKey, pageMetadataKey, conversationKey } from "../src/spaces/keys.ts";
import { backup } from "./backup.ts";
import { restore } from "./restore.ts";
import { d1Query, scriptSpaces, step, type Target } from "./lib/ops.ts";
import {
  messageDelivery,
  messengerWebhookRequest,
  shopifyWebhookRequest,
  type Secrets,
} from "../dev/platform-client.ts";

export interface RemoteDrillOptions {
  workerUrl: string;
  secrets: Secrets;
  shop?: string;
  page?: string;
  psid?: string;
  /** How long to wait for webhook and poll results in Spaces. */
  waitMs?: number;
  /**
   * For the local rehearsal: wrangler dev cannot have its local D1 replaced under it, so it is
   * stopped for the restore and started again. A deployed worker needs neither.
   */
  aroundRestore?: { before: () => Promise<void>; after: () => Promise<void> };
}

type Links = { tokens: string[]; shops: string[]; pages: string[] };

function readLinks(target: Target): Links {
  const rows = (sql: string) =>
    d1Query("TOKENS_DB", sql, target, z.record(z.string(), z.unknown())).map((r) => Object.values(r).join(" "));
  return {
    tokens: rows("SELECT key FROM tokens ORDER BY key"),
    shops: rows("SELECT shop, user_uuid FROM shops WHERE uninstalled_at IS NULL ORDER BY shop"),
    pages: rows("SELECT page_id, user_uuid FROM pages ORDER BY page_id"),
  };
}

/** Runs the drill; returns the failed checks (empty when it passed). */
export async function remoteDrill(target: Target, opts: RemoteDrillOptions): Promise<string[]> {
  const failures: string[] = [];
  const check = (what: string, ok: boolean, detail = "") => {
    console.log(`  ${ok ? "✓" : "✗"} ${what}${detail ? `: ${detail}` : ""}`);
    if (!ok) failures.push(what);
  };
  const waitMs = opts.waitMs ?? 60_000;
  const { spaces, close } = await scriptSpaces(target);
  try {
    const health = await step(
      `GET ${opts.workerUrl}/health`,
      async () => (await fetch(`${opts.workerUrl}/health`)).status,
    );
    check("the worker is healthy before the drill", health === 200);
    const before = await step("record token keys and shop and page links", () => readLinks(target));
    console.log(`  ${before.tokens.length} tokens, ${before.shops.length} shops, ${before.pages.length} pages`);

    await backup(target);
    const restoreStarted = Date.now();
    await opts.aroundRestore?.before();
    await restore(target);
    await opts.aroundRestore?.after();

    const after = await step("read them again", () => readLinks(target));
    check("every token key as before", JSON.stringify(after.tokens) === JSON.stringify(before.tokens));
    check("every shop keeps its user UUID", JSON.stringify(after.shops) === JSON.stringify(before.shops));
    check("every page keeps its user UUID", JSON.stringify(after.pages) === JSON.stringify(before.pages));
    const healthAfter = (await fetch(`${opts.workerUrl}/health`)).status;
    check("the worker is healthy after the restore", healthAfter === 200);

    const owner = (list: string[], id: string | undefined) => list.find((l) => l.startsWith(`${id} `))?.split(" ")[1];
    if (opts.shop) {
      const uuid = owner(after.shops, opts.shop);
      check(`${opts.shop} is linked`, Boolean(uuid));
      const res = await fetch(
        await shopifyWebhookRequest(
          opts.workerUrl,
          opts.secrets,
          opts.shop,
          "products/update",
          { id: 0, title: "recovery drill" },
          `drill-${Date.now()}`,
        ),
      );
      check(
        "a signed products/update is answered 200",
        res.status === 200,
        `RTO ${((Date.now() - restoreStarted) / 1000).toFixed(1)} s`,
      );
      if (uuid) {
        const key = shopProductsKey(uuid, opts.shop);
        check(`${key} readable after the webhook`, await readable(spaces, key, waitMs));
        check(
          `${shopMetadataKey(uuid, opts.shop)} readable`,
          (await spaces.getText(shopMetadataKey(uuid, opts.shop))) !== null,
        );
      }
    }
    if (opts.page && opts.psid) {
      const uuid = owner(after.pages, opts.page);
      check(`page ${opts.page} is linked`, Boolean(uuid));
      const mid = `m_drill_${Date.now()}`;
      const res = await fetch(
        await messengerWebhookRequest(
          opts.workerUrl,
          opts.secrets,
          messageDelivery(opts.page, opts.psid, mid, "recovery drill"),
        ),
      );
      check("a signed Messenger message is answered 200", res.status === 200);
      if (uuid) {
        const key = conversationKey(uuid, opts.page, opts.psid);
        const deadline = Date.now() + waitMs;
        let found = false;
        while (!found && Date.now() < deadline) {
          found = ((await spaces.getText(key)) ?? "").includes(mid);
          if (!found) await new Promise((r) => setTimeout(r, 250));
        }
        check(`the message is in ${key}`, found);
        check(
          `${pageMetadataKey(uuid, opts.page)} readable`,
          (await spaces.getText(pageMetadataKey(uuid, opts.page))) !== null,
        );
      }
    }
    for (const platform of ["shopify", "facebook"]) {
      const res = await fetch(`${opts.workerUrl}/admin/poll/${platform}`, {
        method: "POST",
        headers: { authorization: `Bearer ${opts.secrets.ADMIN_TOKEN}` },
      });
      check(`POST /admin/poll/${platform} accepted`, res.status === 202);
    }
    console.log("\nRe-run OAuth by hand (a merchant's browser), then check the answer's user_uuid:");
    if (opts.shop)
      console.log(`  ${opts.workerUrl}/shopify/${opts.shop}/login   expect ${owner(after.shops, opts.shop)}`);
    console.log(`  ${opts.workerUrl}/facebook/login`);
  } finally {
    await close();
  }
  return failures;
}

/** True once the object can be read (the queued sync may take a moment). */
async function readable(spaces: Awaited<ReturnType<typeof scriptSpaces>>["spaces"], key: string, waitMs: number) {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if ((await spaces.getText(key)) !== null) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}
