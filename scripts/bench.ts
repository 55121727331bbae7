/**
 * `npm run bench`: the worker in workerd (wrangler dev) against the S3 stand-in (behind a fault
 * proxy) and the Shopify and Graph API fakes. Load comes from a second process (scripts/lib/load.ts,
 * autocannon, bounded in count and time). Prints one table of figures and ratios measured side by
 * side in this run, and saves it as JSON under bench-results/. The machine is shared: read the
 * ratios, not the absolutes.
 *
 * BENCH_REQUESTS (default 3000) sets the requests per load run, BENCH_ATTACHMENTS (default 30) and
 * BENCH_ATTACHMENT_BYTES (default 2 MiB) the attachments copied, BENCH_ROUNDS (default 3) the rounds
 * of acknowledgement runs, BENCH_PRODUCTS_LARGE (default 50000) the big catalogue, BENCH_MERCHANTS
 * (default 1000) the shops and the pages polled. BENCH_STATE_DIR puts the worker's state elsewhere
 * than in memory, BENCH_INSPECTOR=1 attaches wrangler dev's DevTools inspector, BENCH_LOG_FILE=1 keeps
 * wrangler's debug log file (see below).
 */
import { sleep } from "../src/lib/retry.ts";
import { benchAcknowledgement } from "./bench/ack.ts";
import { benchAttachments } from "./bench/attachments.ts";
import { benchBackupRestore } from "./bench/backup-restore.ts";
import { benchCatalogue } from "./bench/catalogue.ts";
import { benchConsole } from "./bench/console.ts";
import { benchFacebookPoll } from "./bench/facebook-poll.ts";
import { benchHealth } from "./bench/health.ts";
import { benchLag } from "./bench/lag.ts";
import { benchPolls } from "./bench/polls.ts";
import { add, saveAndPrint, settle } from "./bench/report.ts";
import { rtoSection } from "./bench/rto.ts";
import { LARGE, MERCHANTS, REQUESTS, ROUNDS, logLines, startBench } from "./bench/stack.ts";
import { benchUnderTrouble } from "./bench/trouble.ts";
import { benchWrites } from "./bench/writes.ts";

async function main() {
  const started = Date.now();
  const bench = await startBench(started);
  try {
    await benchConsole(bench.worker, bench.secrets.ADMIN_TOKEN!, add);
    await benchAcknowledgement(bench);
    await benchHealth({ load: bench.load, add, settle, rounds: ROUNDS });
    await sleep(3000);
    await benchUnderTrouble(bench);
    await benchLag(bench);
    await benchAttachments(bench);
    await benchWrites(bench);
    await benchCatalogue(add, [1000, 10_000, LARGE]);
    await benchPolls(bench);
    await benchBackupRestore(bench);
    await rtoSection(add);
    await benchFacebookPoll({
      worker: bench.worker,
      graphOrigin: bench.graph.origin,
      adminToken: bench.secrets.ADMIN_TOKEN!,
      add,
    });
  } finally {
    await bench.close();
  }
  saveAndPrint({ started, requests: REQUESTS, merchants: MERCHANTS });
}

main().catch((err) => {
  console.error(`Benchmark failed: ${err instanceof Error ? err.stack : String(err)}`);
  const tail = logLines.slice(-10).join("\n");
  if (tail) console.error(`Last worker log lines:\n${tail}`);
  process.exit(1);
});
