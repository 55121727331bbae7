import { step } from "../lib/ops.ts";
import { check, logLines, waitFor, type Drill } from "./stack.ts";

/** How long the polls may take to put every object back. */
const OBJECTS_BACK_TIMEOUT_MS = 60_000;

/** Where an object under `users/` comes back from (the contract's Spaces keys). */
function source(key: string): string {
  if (key.endsWith("/page_metadata.json")) return "the Graph API";
  if (key.includes("/conversations/")) return "its conversation object";
  if (key.includes("/shopify/")) return "the shop";
  return "unknown";
}

/** The token key an object is rebuilt with: `shopify:<shop>` or `facebook:page:<page_id>`. */
function tokenKeyOf(key: string): string | null {
  const shop = /\/shopify\/([^/]+)\//.exec(key)?.[1];
  if (shop) return `shopify:${shop}`;
  const page = /\/facebook\/(\d+)\//.exec(key)?.[1];
  return page ? `facebook:page:${page}` : null;
}

/**
 * The merchants' objects lost: every object under `users/` deleted, both polls run through
 * `POST /admin/poll/*`, and each object found back at its key with the bytes it had.
 */
export async function objectsLost(drill: Drill) {
  const { spaces, origin, secrets } = drill;
  console.log("\nObjects lost (every object under users/ deleted, then both polls)");
  const before = new Map<string, string>();
  await step("read every object under users/", async () => {
    for (const key of await spaces.listKeys("users/")) before.set(key, (await spaces.getText(key)) ?? "");
  });
  check(`${before.size} objects under users/ before the loss`, before.size > 0);
  // A shop uninstalled (or a page deauthorized) keeps its files until its redact, but has no token:
  // nothing rebuilds those. Every other object must come back.
  const tokens = new Set(await drill.tokenKeys());
  const expected = new Set([...before.keys()].filter((key) => tokens.has(tokenKeyOf(key) ?? "")));
  await step(`delete all ${before.size} of them`, async () => {
    for (const key of before.keys()) await spaces.delete(key);
  });
  check("nothing left under users/", (await spaces.listKeys("users/")).length === 0);

  const linesBefore = logLines.length;
  await step("POST /admin/poll/shopify and /admin/poll/facebook", async () => {
    for (const platform of ["shopify", "facebook"]) {
      const res = await fetch(`${origin}/admin/poll/${platform}`, {
        method: "POST",
        headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` },
      });
      if (res.status !== 202) throw new Error(`/admin/poll/${platform} answered ${res.status}: ${await res.text()}`);
    }
  });
  await step("wait for every object to be back", () =>
    waitFor(
      "every object under users/",
      async () => {
        const keys = new Set(await spaces.listKeys("users/"));
        return [...expected].every((k) => keys.has(k));
      },
      OBJECTS_BACK_TIMEOUT_MS,
    ).catch(() => undefined),
  );
  const after = new Set(await spaces.listKeys("users/"));
  for (const [key, bytes] of before) {
    if (!expected.has(key)) {
      const state = after.has(key) ? "back" : "not back";
      console.log(
        `  - ${key}: ${state}; not expected, ${tokenKeyOf(key)} has no token (uninstalled) to rebuild it with`,
      );
      continue;
    }
    const now = after.has(key) ? await spaces.getText(key) : null;
    const what = `${key} back from ${source(key)}`;
    if (now === null) check(what, false, "missing");
    else check(what, now === bytes, now === bytes ? `same ${bytes.length} bytes` : "content differs");
  }
  const extra = [...after].filter((k) => !before.has(k));
  check("no object under users/ that was not there before", extra.length === 0, extra.join(", "));
  const uploads = logLines.slice(linesBefore);
  const logged = [...expected].filter(
    (key) => key.includes("/facebook/") && !uploads.some((l) => l.includes(`Uploaded ${key} to Spaces`)),
  );
  check("an 'Uploaded <key> to Spaces' line for each page object put back", logged.length === 0, logged.join(", "));
}
