/**
 * Bench section "facebook poll": one page with a long Messenger history, polled once through the
 * queue. Prints the Graph calls per job and the jobs the page took (the poll is bounded: at most
 * POLL_CALLS_PER_JOB Graph calls a job, continued from the saved cursor).
 *
 * In `npm run bench` it runs against the bench's worker; alone (`tsx scripts/bench/facebook-poll.ts`,
 * BENCH_POLL_MESSAGES=10000 by default) it starts its own S3 stand-in, Graph fake and wrangler dev.
 */
import { mkdirSync, rmSync } from "node:fs";
import { z } from "zod";
import { join } from "node:path";
import { sleep } from "../../src/lib/retry.ts";
import { POLL_CALLS_PER_JOB } from "../../src/facebook/poll-budget.ts";
import { startFakeStack } from "../../dev/fake-stack.ts";
import { LOCAL_DIR } from "../../dev/local-stack.ts";
import { adminClient, control, loginFacebook } from "../../dev/platform-client.ts";

/** The Graph fake's count of calls made with this page's token. */
const pageCalls = async (graphOrigin: string, page: string) =>
  z.object({ page_calls: z.number() }).parse(await (await fetch(`${graphOrigin}/_control/state?page=${page}`)).json())
    .page_calls;

type Add = (section: string, figure: string, value: number | string, unit?: string, note?: string) => void;

export async function benchFacebookPoll(opts: {
  worker: string;
  graphOrigin: string;
  adminToken: string;
  add: Add;
  messages?: number;
}): Promise<void> {
  const messages = opts.messages ?? Number(process.env.BENCH_POLL_MESSAGES ?? 10_000);
  const page = String(620000000000000 + Math.floor(Math.random() * 1e9));
  const customer = "900000000000777";
  await control(opts.graphOrigin, "page", { id: page, name: "Bench long history" });
  await loginFacebook(opts.worker, opts.graphOrigin, [page]);
  await control(opts.graphOrigin, "history", { page, customer, count: messages });
  const admin = adminClient(opts.worker, opts.adminToken).facebook.pages;
  const callsBefore = await pageCalls(opts.graphOrigin, page);
  const started = Date.now();
  const res = await admin[":pageId"].poll.$post({ param: { pageId: page } });
  if (res.status !== 202) throw new Error(`poll answered ${res.status}`);
  let status;
  for (const deadline = Date.now() + 300_000; Date.now() < deadline; await sleep(250)) {
    const list = await (await admin.$get({ query: {} })).json();
    status = list.pages.find((p) => p.pageId === page);
    if (status?.lastPollAt) break;
  }
  if (!status?.lastPollAt) throw new Error("the long-history poll did not finish within 5 minutes");
  const graphCalls = await pageCalls(opts.graphOrigin, page);
  const { lastPollJobs: jobs, lastPollCalls: calls } = status;
  if (!jobs || calls === null) throw new Error("the poll finished without counting its jobs and calls");
  opts.add(
    "facebook poll",
    "history polled",
    messages,
    "messages",
    `one conversation, result ${status.lastPollResult}`,
  );
  opts.add("facebook poll", "jobs per page", jobs, "jobs");
  opts.add("facebook poll", "Graph calls per job", calls / jobs, "calls", `bound ${POLL_CALLS_PER_JOB}`);
  opts.add("facebook poll", "Graph calls seen by the fake", graphCalls - callsBefore, "calls");
  opts.add("facebook poll", "poll duration", Date.now() - started, "ms", "enqueue to last job done");
}

async function standalone() {
  const dir = join(LOCAL_DIR, "bench-facebook-poll");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const stack = await startFakeStack({ dir, bucket: "bench", graph: true });
  try {
    await benchFacebookPoll({
      worker: stack.origin,
      graphOrigin: stack.graph!.origin,
      adminToken: stack.secrets.ADMIN_TOKEN!,
      add: (section, figure, value, unit = "", note) =>
        console.log(
          `${section} | ${figure}: ${typeof value === "number" ? +value.toFixed(2) : value} ${unit}${note ? ` (${note})` : ""}`,
        ),
    });
  } finally {
    await stack.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  standalone().catch((err) => {
    console.error(`facebook poll bench failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  });
}
