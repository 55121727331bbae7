import { sleep } from "../../src/lib/retry.ts";
import { takeWriteCount } from "../../dev/platform-client.ts";
import { add, waitFor } from "./report.ts";
import { MERCHANTS, logLines, messages, type Bench } from "./stack.ts";

/** Bench section "poll": the daily polls of every shop and page, fanned out through the queue. */
export async function benchPolls({ worker, secrets, proxy }: Bench) {
  console.log(`\nDaily polls through the queue (${MERCHANTS} shops and ${MERCHANTS} pages)`);
  const admin = { authorization: `Bearer ${secrets.ADMIN_TOKEN}` };
  const shopLines = /^Polled shop bench-\d+\.myshopify\.com: /;
  const pageLines = /^Polled conversations for page 6\d+: |^Polled metadata for page 6\d+: Failed/;
  // Counted as lines arrive: parsing every line of the run at each check would take the CPU the
  // polls are measured with.
  const seen = { shops: 0, pages: 0, failed: 0 };
  let scanned = 0;
  const count = () => {
    for (const m of messages(scanned)) {
      const text = String(m.message);
      if (shopLines.test(text)) seen.shops++;
      if (pageLines.test(text)) seen.pages++;
      if (/: Failed \(/.test(text)) seen.failed++;
    }
    // Nothing is appended while this synchronous loop runs.
    scanned = logLines.length;
    return seen;
  };
  for (const round of [1, 2]) {
    await takeWriteCount(proxy.origin);
    const { shops: shopsBefore, pages: pagesBefore } = count();
    const t0 = Date.now();
    await fetch(`${worker}/admin/poll/shopify`, { method: "POST", headers: admin });
    await fetch(`${worker}/admin/poll/facebook`, { method: "POST", headers: admin });
    await waitFor(
      "all polls",
      () => count().shops - shopsBefore >= MERCHANTS && count().pages - pagesBefore >= MERCHANTS,
      900_000,
      250,
    );
    const wall = Date.now() - t0;
    // A round's writes include what its polls leave for later (a new customer's profile writes
    // the conversation file again): counted until 3 s pass without one, so the next round starts quiet.
    let writes = 0;
    for (let late = -1; late !== 0;) {
      await sleep(3000);
      late = await takeWriteCount(proxy.origin);
      writes += late;
    }
    add("poll", `round ${round}: wall time, every shop and page`, wall, "ms");
    add(
      "poll",
      `round ${round}: Spaces writes`,
      writes,
      "writes",
      round === 2 ? "nothing changed: target 0" : "first poll writes every file",
    );
  }
  const failed = count().failed;
  add("poll", "items that failed", failed, "items", "target 0");
  const fanout = messages()
    .filter((m) => /^(Shopify|Facebook) poll enqueued/.test(String(m.message)))
    .slice(-2);
  for (const f of fanout)
    add(
      "poll",
      `${String(f.message).split(" ")[0]} cron: fan-out subrequests per invocation`,
      f.subrequests as number,
      "calls",
      `${f.batches} sendBatch + ${f.queries} D1 queries`,
    );
}
