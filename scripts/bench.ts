/**
 * `npm run bench`: the worker in workerd (wrangler dev) against the S3 stand-in (behind a fault
 * proxy) and the Shopify and Graph API fakes. Load comes from a second process (scripts/lib/load.ts,
 * autocannon, bounded in count and time). Prints one table of figures and ratios measured side by
 * side in this run, and saves it as JSON under bench-results/. The machine is shared: read the
 * ratios, not the absolutes.
 *
 * BENCH_REQUESTS (default 3000) sets the requests per load run, BENCH_ROUNDS (default 3) the rounds
 * of acknowledgement runs, BENCH_PRODUCTS_LARGE (default 50000) the big catalogue, BENCH_MERCHANTS
 * (default 1000) the shops and the pages polled. BENCH_STATE_DIR puts the worker's state elsewhere
 * than in memory, BENCH_INSPECTOR=1 attaches wrangler dev's DevTools inspector, BENCH_LOG_FILE=1 keeps
 * wrangler's debug log file (see below).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startFaultProxy } from "../test/fakes/fault-proxy.ts";
import { startGraphFake } from "../test/fakes/graph.ts";
import { startS3Standin } from "../test/fakes/s3.ts";
import { startShopifyFake } from "../test/fakes/shopify.ts";
import { sleep } from "../src/lib/platform-error.ts";
import { conversationKey, shopProductsKey } from "../src/storage/keys.ts";
import { backup } from "./backup.ts";
import { restore } from "./restore.ts";
import { rtoSection } from "./bench/rto.ts";
import { LOCAL_DIR, ROOT, applyLocalMigrations, freePort, freshDevSecrets, startWorker } from "./lib/local-stack.ts";
import type { LoadKind, LoadResult, LoadSpec } from "./lib/load.ts";
import { d1ExecuteFile, scriptSpaces } from "./lib/ops.ts";
import {
  control,
  installShop,
  loginFacebook,
  messageDelivery,
  messengerWebhookRequest,
  shopifyWebhookRequest,
} from "./lib/platform-client.ts";
import { seedSql } from "./lib/seed.ts";
import { benchHealth } from "./bench/health.ts";
import { benchConsole } from "./bench/console.ts";
import { benchCatalogue } from "./bench/catalogue.ts";
import { benchFacebookPoll } from "./bench/facebook-poll.ts";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);
const LARGE = Number(process.env.BENCH_PRODUCTS_LARGE ?? 50_000);
const MERCHANTS = Number(process.env.BENCH_MERCHANTS ?? 1000);
const CONNECTIONS = 20;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/**
 * Where the run's throwaway state lives (the worker's D1 and Durable Objects, the S3 stand-in's
 * objects): in memory (/dev/shm) when the machine has it. workerd's local SQLite syncs each commit
 * to disk before the worker goes on, so on disk every Messenger webhook (one conversation commit)
 * also waits on this machine's disk, which Cloudflare's storage does not make an isolate do.
 * BENCH_STATE_DIR=.local/bench measures on disk.
 */
const STATE_DIR = process.env.BENCH_STATE_DIR
  ? resolve(process.env.BENCH_STATE_DIR)
  : existsSync("/dev/shm")
    ? `/dev/shm/messenger-bench-${process.getuid?.() ?? 0}`
    : join(LOCAL_DIR, "bench");
const STATE_IN_MEMORY = STATE_DIR.startsWith("/dev/shm/");
/**
 * `wrangler dev` attaches a DevTools inspector and prints every log line through it, which costs
 * about as much CPU as the webhook itself; the benchmark leaves it off unless BENCH_INSPECTOR=1.
 */
const INSPECTOR = process.env.BENCH_INSPECTOR === "1";
/**
 * Wrangler also appends every log line of the worker to a debug log file, at ~0.18 ms of Node CPU a
 * line; the benchmark's dev server skips it unless BENCH_LOG_FILE=1 (the CLI always writes it).
 */
const LOG_FILE = INSPECTOR || process.env.BENCH_LOG_FILE === "1";

type Row = { section: string; figure: string; value: number | string; unit: string; note?: string };
const rows: Row[] = [];
const add = (section: string, figure: string, value: number | string, unit = "", note?: string) => {
  rows.push({ section, figure, value, unit, note });
  const shown = typeof value === "number" ? (Number.isInteger(value) ? value : value.toFixed(2)) : value;
  console.log(`  ${figure}: ${shown} ${unit}${note ? `  (${note})` : ""}`);
};

const logLines: string[] = [];
const messages = () =>
  logLines.flatMap((l) => {
    if (!l.startsWith("{")) return [];
    try {
      return [JSON.parse(l) as Record<string, any>];
    } catch {
      return [];
    }
  });

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | false | undefined> | T | null | false | undefined,
  timeoutMs = 120_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve(probe()).catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

/** Peak resident memory (VmHWM, KiB) of the workerd processes under wrangler dev. */
/** Runs a command without blocking this process's event loop; resolves with its stdout. */
function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited with ${code}`))));
  });
}

/** What a load run needs besides its kind; set once the worker is up. */
let loadBase: Omit<LoadSpec, "kind" | "tag"> | null = null;
let loadRuns = 0;

/** One load run, sent from its own process (scripts/lib/load.ts) so the fakes here do not slow it. */
async function load(name: string, kind: LoadKind) {
  const n = loadRuns++;
  const spec: LoadSpec = {
    ...loadBase!,
    kind,
    tag: `${kind}-${n}-${Date.now()}`,
    firstCustomer: 910000000000000 + n * 100,
  };
  const out = await run(join(ROOT, "node_modules", ".bin", "tsx"), [
    join(ROOT, "scripts", "lib", "load.ts"),
    JSON.stringify(spec),
  ]);
  const result = JSON.parse(out.trim().split("\n").pop()!) as LoadResult;
  return { name, ...result };
}

const median = (values: number[]) => percentile(values, 50);

/** Long enough for the work a load run queues to finish (the Shopify lag's p99 is ~1 s). */
const settle = () => sleep(2000);

let worker = "";

async function main() {
  const started = Date.now();
  const dir = STATE_DIR;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const persistTo = join(dir, ".wrangler", "state");
  const target = { remote: false, persistTo };
  const secrets = freshDevSecrets();
  const closers: (() => Promise<void>)[] = [];
  try {
    console.log("Setting up: S3 stand-in behind a fault proxy, Shopify and Graph fakes, seeded D1, wrangler dev");
    add(
      "setup",
      "worker",
      "wrangler dev",
      "",
      INSPECTOR ? "the CLI, DevTools inspector attached" : "its local server and workerd, DevTools inspector off",
    );
    add("setup", "wrangler's debug log file", LOG_FILE ? "written" : "skipped", "", "a copy of every log line");
    add("setup", "state (D1, Durable Objects, S3 stand-in)", STATE_IN_MEMORY ? "in memory" : "on disk", "", STATE_DIR);
    const s3 = await startS3Standin({ bucket: "bench", directory: join(dir, "s3") });
    const proxy = await startFaultProxy(s3.endpoint);
    const shopify = await startShopifyFake({
      apiKey: secrets.SHOPIFY_API_KEY!,
      apiSecret: secrets.SHOPIFY_API_SECRET!,
    });
    const graph = await startGraphFake({
      appId: secrets.FACEBOOK_APP_ID!,
      appSecret: secrets.FACEBOOK_APP_SECRET!,
      version: "v25.0",
    });
    closers.push(proxy.close, s3.close, shopify.close, graph.close);
    Object.assign(process.env, {
      TOKEN_ENCRYPTION_KEY: secrets.TOKEN_ENCRYPTION_KEY,
      SPACES_ENDPOINT: s3.endpoint,
      SPACES_KEY: "S3RVER",
      SPACES_SECRET: "S3RVER",
      SPACES_BUCKET: "bench",
    });
    const { spaces } = await scriptSpaces(target);

    // Many merchants, seeded as installs would leave them (tokens encrypted with the worker's key).
    const shops = Array.from({ length: MERCHANTS }, (_, i) => ({
      shop: `bench-${String(i).padStart(5, "0")}.myshopify.com`,
      token: `shpua_bench${i}`,
    }));
    const pages = Array.from({ length: MERCHANTS }, (_, i) => ({
      pageId: String(600000000000000 + i),
      token: `EAAbenchpage${i}`,
    }));
    await control(shopify.origin, "grant", {
      grants: shops.map((s) => ({ shop: s.shop, access_token: s.token, products: 20 })),
      restoreRate: 1_000_000,
    });
    await control(graph.origin, "pages", {
      pages: pages.map((p) => ({ id: p.pageId, token: p.token, name: `Bench page ${p.pageId}` })),
    });
    for (const p of pages.slice(0, MERCHANTS)) {
      await control(graph.origin, "message", {
        page: p.pageId,
        customer: "900000000000001",
        mid: `m_seed_${p.pageId}`,
        text: "hi",
        timestamp: Date.now() - 60_000,
      });
    }
    applyLocalMigrations(persistTo);
    const extra = Math.max(0, 10_000 - 2 * MERCHANTS);
    const seedFile = join(dir, "seed.sql");
    writeFileSync(
      seedFile,
      await seedSql({ encryptionKey: secrets.TOKEN_ENCRYPTION_KEY!, shops, pages, extraTokens: extra }),
    );
    d1ExecuteFile("TOKENS_DB", seedFile, target);
    console.log(
      `  seeded ${MERCHANTS} shops, ${MERCHANTS} pages and ${extra} other tokens (${2 * MERCHANTS + extra} tokens)`,
    );

    const port = await freePort();
    worker = `http://127.0.0.1:${port}`;
    const vars = {
      ...secrets,
      SPACES_KEY: "S3RVER",
      SPACES_SECRET: "S3RVER",
      SPACES_BUCKET: "bench",
      SPACES_ENDPOINT: proxy.origin,
      SHOPIFY_ADMIN_ORIGIN: `${shopify.origin}/{shop}`,
      FACEBOOK_GRAPH_ORIGIN: graph.origin,
      FACEBOOK_DIALOG_ORIGIN: graph.origin,
      PUBLIC_URL: worker,
    };
    // The same worker again after the restore, on the same port and state.
    const startBenchWorker = () =>
      startWorker({ port, vars, persistTo, debugger: INSPECTOR, logFile: LOG_FILE, log: (l) => logLines.push(l) });
    let dev = await startBenchWorker();
    closers.unshift(() => dev.stop());

    const benchShop = "bench-webhooks.myshopify.com";
    const benchPage = "610000000000001";
    await control(shopify.origin, "shop", { shop: benchShop, products: 50, restoreRate: 1_000_000 });
    await control(graph.origin, "page", { id: benchPage, name: "Bench Webhooks" });
    const install = await installShop(worker, shopify.origin, secrets as any, benchShop);
    const uuid: string = install.body.user_uuid;
    await loginFacebook(worker, graph.origin, [benchPage], install.cookie);
    await benchConsole(worker, secrets.ADMIN_TOKEN!, add);

    // ── 1. webhook acknowledgement, healthy: rounds of the four routes side by side, medians
    // reported, as the machine is shared and one run can be off by a third.
    loadBase = {
      worker,
      requests: REQUESTS,
      connections: CONNECTIONS,
      shop: benchShop,
      page: benchPage,
      secrets: { SHOPIFY_API_SECRET: secrets.SHOPIFY_API_SECRET!, FACEBOOK_APP_SECRET: secrets.FACEBOOK_APP_SECRET! },
    };
    console.log(
      `\nWebhook acknowledgement (${ROUNDS} rounds of ${REQUESTS} requests per route, ${CONNECTIONS} connections, medians)`,
    );
    const routes: [LoadKind, string][] = [
      ["bare", "bare route (GET /ping)"],
      ["forged", "Shopify webhook, forged signature (401: HMAC only)"],
      ["shopify", "signed Shopify products/update"],
      ["messenger", "signed Messenger message"],
    ];
    const rounds: Record<LoadKind, Awaited<ReturnType<typeof load>>[]> = {
      bare: [],
      forged: [],
      shopify: [],
      messenger: [],
      health: [], // measured in its own section (scripts/bench/health.ts)
    };
    // One round first that is not counted: the JIT of workerd and wrangler warms up on the bare
    // route as much as on the webhooks, and a cold first round favours the webhooks.
    for (const [kind, name] of routes) await load(`${name} (warm-up)`, kind);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [kind, name] of routes) {
        // Each run starts from a quiet worker: the work a Shopify run queues (product fetches and
        // uploads, ~1 s of it) would otherwise run during the Messenger run after it and count there.
        await settle();
        rounds[kind].push(await load(name, kind));
      }
      const line = routes.map(([kind]) => `${kind} ${rounds[kind].at(-1)!.rps.toFixed(0)}`).join(", ");
      console.log(`  round ${round}: ${line} req/s`);
    }
    const ratio = (kind: LoadKind) => median(rounds[kind].map((r, i) => r.rps / rounds.bare[i]!.rps));
    for (const [kind, name] of routes) {
      const runs = rounds[kind];
      const failed = runs.reduce((n, r) => n + r.failed, 0);
      add("ack", `${name} req/s`, median(runs.map((r) => r.rps)), "req/s");
      add(
        "ack",
        `${name} p50 / p99`,
        `${median(runs.map((r) => r.p50))} / ${median(runs.map((r) => r.p99))}`,
        "ms",
        kind === "forged" ? `${failed} answered 401, as they should` : failed ? `${failed} failed` : undefined,
      );
    }
    const perRound = (kind: LoadKind) =>
      rounds[kind].map((r, i) => (r.rps / rounds.bare[i]!.rps).toFixed(2)).join(", ");
    add("ack", "forged Shopify webhook / bare route", ratio("forged"), "ratio", `rounds: ${perRound("forged")}`);
    add(
      "ack",
      "Shopify webhook throughput / bare route",
      ratio("shopify"),
      "ratio",
      `target >= 0.5; rounds: ${perRound("shopify")}`,
    );
    add(
      "ack",
      "Messenger webhook throughput / bare route",
      ratio("messenger"),
      "ratio",
      `target >= 0.5; rounds: ${perRound("messenger")}`,
    );
    await benchHealth({ load, add, settle, rounds: ROUNDS });
    await sleep(3000);

    // ── 2. under trouble: each trouble run right after a healthy run of the same webhook, both
    // started from a quiet system, so the ratio compares like with like.
    console.log(`\nUnder trouble (${ROUNDS} pairs each: a healthy run, then the same under trouble; medians)`);
    const troubles: [string, () => Promise<unknown>, () => Promise<unknown>][] = [
      [
        "platforms answer after 2 s",
        async () => {
          await control(shopify.origin, "faults", { faults: [{ kind: "slow", times: 1e9, delayMs: 2000 }] });
          await control(graph.origin, "faults", { faults: [{ kind: "slow", times: 1e9, delayMs: 2000 }] });
        },
        async () => {
          await control(shopify.origin, "faults", { faults: [] });
          await control(graph.origin, "faults", { faults: [] });
        },
      ],
      [
        "Spaces down",
        () => control(proxy.origin, "mode", { mode: "down" }),
        () => control(proxy.origin, "mode", { mode: "up" }),
      ],
    ];
    for (const [trouble, on, off] of troubles) {
      for (const name of ["shopify", "messenger"] as const) {
        // A p99 of one run moves with any pause of the machine: pairs, and the median of each.
        const pairs: { base: number; hit: number; failed: number }[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          await sleep(3000); // a quiet system first
          const base = await load(`${name} healthy`, name);
          await on();
          const hit = await load(`${name} (${trouble})`, name);
          await off();
          pairs.push({ base: base.p99, hit: hit.p99, failed: hit.failed });
        }
        const failed = pairs.reduce((n, p) => n + p.failed, 0);
        add(
          "trouble",
          `${name} (${trouble}) p99 (healthy beside it)`,
          `${median(pairs.map((p) => p.hit))} (${median(pairs.map((p) => p.base))})`,
          "ms",
          failed ? `${failed} failed` : undefined,
        );
        const ratios = pairs.map((p) => p.hit / Math.max(1, p.base));
        add(
          "trouble",
          `${name} (${trouble}) p99 / healthy p99`,
          median(ratios),
          "ratio",
          `target <= 1.2; pairs: ${ratios.map((r) => r.toFixed(2)).join(", ")}`,
        );
      }
    }
    console.log("  waiting for the retries of the outage to land");
    await sleep(8000);

    // ── 3. webhook to Spaces
    console.log("\nWebhook to Spaces (time from the answer to the object being readable)");
    const messengerLag: number[] = [];
    for (let i = 0; i < 30; i++) {
      const customer = String(920000000000000 + i);
      const res = await fetch(
        await messengerWebhookRequest(
          worker,
          secrets as any,
          messageDelivery(benchPage, customer, `m_lag_${i}_${started}`, "lag"),
        ),
      );
      const answered = Date.now();
      if (res.status !== 200) throw new Error(`Messenger webhook answered ${res.status}`);
      await waitFor(
        "conversation",
        async () => (await spaces.getText(conversationKey(uuid, benchPage, customer))) !== null,
        30_000,
        10,
      );
      messengerLag.push(Date.now() - answered);
    }
    add(
      "lag",
      "Messenger message → conversation file p50 / p99",
      `${percentile(messengerLag, 50)} / ${percentile(messengerLag, 99)}`,
      "ms",
      "includes the 200 ms batching delay",
    );
    const shopifyLag: number[] = [];
    // The first round is not counted: a sync of the bench shop left failing by the Spaces-down runs
    // holds the shop's sync claim until its retry (seconds later), and the change waits behind it.
    for (let i = -1; i < 10; i++) {
      await control(shopify.origin, "shop", { shop: benchShop, products: 50, revision: 100 + i });
      const res = await fetch(
        await shopifyWebhookRequest(
          worker,
          secrets as any,
          benchShop,
          "products/update",
          { id: 1000001 },
          `lag-${i}-${started}`,
        ),
      );
      const answered = Date.now();
      if (res.status !== 200) throw new Error(`Shopify webhook answered ${res.status}`);
      await waitFor(
        "products file",
        async () => (await spaces.getText(shopProductsKey(uuid, benchShop)))?.includes(`rev ${100 + i}`),
        60_000,
        10,
      );
      if (i >= 0) shopifyLag.push(Date.now() - answered);
    }
    add(
      "lag",
      "Shopify products/update → products file p50 / p99",
      `${percentile(shopifyLag, 50)} / ${percentile(shopifyLag, 99)}`,
      "ms",
      "a full catalogue sync of 50 products through the queue",
    );

    // ── 4. writes
    console.log("\nSpaces writes");
    await sleep(2000);
    /** Waits until the bench page's conversation with `customer` in Spaces holds `count` messages. */
    const conversationHolds = (customer: string, count: number) =>
      waitFor(
        `${count} messages from ${customer}`,
        async () =>
          JSON.parse((await spaces.getText(conversationKey(uuid, benchPage, customer))) ?? "{}").messages?.length ===
          count,
        30_000,
      );
    const burstCustomer = "930000000000001";
    await control(proxy.origin, "reset-counts");
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) =>
        fetch(
          await messengerWebhookRequest(
            worker,
            secrets as any,
            messageDelivery(benchPage, burstCustomer, `m_burst_${i}_${started}`, `burst ${i}`, Date.now() + i),
          ),
        ),
      ),
    );
    await conversationHolds(burstCustomer, 100);
    await sleep(1000);
    const burstWrites = (await control(proxy.origin, "reset-counts")).writes;
    add(
      "writes",
      "burst of 100 messages to one conversation",
      burstWrites,
      "writes",
      `${(burstWrites / 100).toFixed(2)} per message`,
    );

    // A customer chatting with the bot: one message every 100 ms for 3 s, to one conversation.
    const chatCustomer = "930000000000002";
    await control(proxy.origin, "reset-counts");
    const chatStart = Date.now();
    for (let i = 0; i < 30; i++) {
      const text = `chat ${i}`;
      await fetch(
        await messengerWebhookRequest(
          worker,
          secrets as any,
          messageDelivery(benchPage, chatCustomer, `m_chat_${i}_${started}`, text),
        ),
      );
      await sleep(Math.max(0, chatStart + (i + 1) * 100 - Date.now()));
    }
    await conversationHolds(chatCustomer, 30);
    await sleep(1500);
    const chatWrites = (await control(proxy.origin, "reset-counts")).writes;
    add(
      "writes",
      "a customer chatting: 30 messages over 3 s to one conversation",
      chatWrites,
      "writes",
      `${(chatWrites / 30).toFixed(2)} per message (at most one write a second per conversation)`,
    );

    // ── 5. catalogue sync (scripts/bench/catalogue.ts)
    await benchCatalogue(add, [1000, 10_000, LARGE]);

    // ── 6. poll fan-out
    console.log(`\nDaily polls through the queue (${MERCHANTS} shops and ${MERCHANTS} pages)`);
    const admin = { authorization: `Bearer ${secrets.ADMIN_TOKEN}` };
    const countLines = (re: RegExp) => messages().filter((m) => re.test(String(m.message))).length;
    for (const round of [1, 2]) {
      await control(proxy.origin, "reset-counts");
      const shopsBefore = countLines(/^Polled shop bench-\d+\.myshopify\.com: /);
      const pagesBefore = countLines(/^Polled conversations for page 6\d+: |^Polled metadata for page 6\d+: Failed/);
      const t0 = Date.now();
      await fetch(`${worker}/admin/poll/shopify`, { method: "POST", headers: admin });
      await fetch(`${worker}/admin/poll/facebook`, { method: "POST", headers: admin });
      await waitFor(
        "all polls",
        () =>
          countLines(/^Polled shop bench-\d+\.myshopify\.com: /) - shopsBefore >= MERCHANTS &&
          countLines(/^Polled conversations for page 6\d+: |^Polled metadata for page 6\d+: Failed/) - pagesBefore >=
            MERCHANTS,
        900_000,
        250,
      );
      const wall = Date.now() - t0;
      await sleep(1500);
      const writes = (await control(proxy.origin, "reset-counts")).writes;
      add("poll", `round ${round}: wall time, ${2 * MERCHANTS} items`, wall, "ms");
      add(
        "poll",
        `round ${round}: Spaces writes`,
        writes,
        "writes",
        round === 2 ? "nothing changed: target 0" : "first poll writes every file",
      );
    }
    const failed = countLines(/: Failed \(/);
    add("poll", "items that failed", failed, "items", "target 0");
    const fanout = messages()
      .filter((m) => /^(Shopify|Facebook) poll enqueued/.test(String(m.message)))
      .slice(-2);
    for (const f of fanout)
      add(
        "poll",
        `${String(f.message).split(" ")[0]} cron: fan-out subrequests per invocation`,
        f.subrequests,
        "calls",
        `${f.batches} sendBatch + ${f.queries} D1 queries`,
      );

    // ── 7. backup and restore
    console.log(`\nBackup and restore (${2 * MERCHANTS + extra}+ tokens)`);
    const tb = Date.now();
    const manifests = await backup(target);
    add(
      "backup",
      "backup of both databases",
      Date.now() - tb,
      "ms",
      `${(manifests[0]!.bytes / 1024).toFixed(0)} KiB tokens dump`,
    );
    await dev.stop();
    rmSync(join(persistTo, "v3", "d1"), { recursive: true, force: true });
    const tr = Date.now();
    await restore(target);
    const restoreMs = Date.now() - tr;
    dev = await startBenchWorker();
    const res = await fetch(
      await shopifyWebhookRequest(worker, secrets as any, benchShop, "products/update", { id: 1 }, `rto-${started}`),
    );
    if (res.status !== 200) throw new Error(`first webhook after restore answered ${res.status}`);
    add("backup", "restore of both databases", restoreMs, "ms");
    add(
      "backup",
      "RTO: restore start → first webhook answered",
      Date.now() - tr,
      "ms",
      "includes restarting wrangler dev",
    );
    await rtoSection(add);
    await benchFacebookPoll({ worker, graphOrigin: graph.origin, adminToken: secrets.ADMIN_TOKEN!, add });
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    if (STATE_IN_MEMORY) rmSync(dir, { recursive: true, force: true }); // hands the memory back
  }
  const out = join(ROOT, "bench-results");
  mkdirSync(out, { recursive: true });
  const file = join(out, `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    JSON.stringify({ at: new Date().toISOString(), requests: REQUESTS, merchants: MERCHANTS, rows }, null, 2),
  );
  console.log("\n" + table(rows));
  console.log(`\nSaved to ${file.replace(`${ROOT}/`, "")}; took ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

function table(all: Row[]): string {
  const cells = all.map((r) => [
    r.section,
    r.figure,
    typeof r.value === "number" ? (Number.isInteger(r.value) ? String(r.value) : r.value.toFixed(2)) : String(r.value),
    r.unit,
    r.note ?? "",
  ]);
  const header = ["section", "figure", "value", "unit", "note"];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i === 2 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(" | ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("-|-"), ...cells.map(line)].join("\n");
}

main().catch((err) => {
  console.error(`Benchmark failed: ${err instanceof Error ? err.stack : String(err)}`);
  const tail = logLines.slice(-10).join("\n");
  if (tail) console.error(`Last worker log lines:\n${tail}`);
  process.exit(1);
});
