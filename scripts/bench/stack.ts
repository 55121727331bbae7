import { z } from "zod";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startFaultProxy } from "../../dev/fakes/fault-proxy.ts";
import { startS3Standin } from "../../dev/fakes/s3.ts";
import { fakeStackVars, graphFakeFor, shopifyFakeFor } from "../../dev/fake-stack.ts";
import { LOCAL_DIR, applyLocalMigrations, freePort, freshDevSecrets, startWorker } from "../../dev/local-stack.ts";
import { loadInProcess, type LoadKind, type LoadSpec } from "../lib/load.ts";
import { d1ExecuteFile, scriptSpaces } from "../lib/ops.ts";
import {
  control,
  installShop,
  loginFacebook,
  messageDelivery,
  messengerWebhookRequest,
} from "../../dev/platform-client.ts";
import { seedSql } from "../lib/seed.ts";
import { add } from "./report.ts";

/**
 * The benchmark's stack: the S3 stand-in behind a fault proxy, the Shopify and Graph fakes, D1
 * seeded with many merchants, and the worker; one shop installed and one page logged in for the
 * webhook runs.
 */

export const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);
export const LARGE = Number(process.env.BENCH_PRODUCTS_LARGE ?? 50_000);
export const MERCHANTS = Number(process.env.BENCH_MERCHANTS ?? 1000);
export const CONNECTIONS = 20;
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
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

/** Every line the worker printed, for the poll section and for a failure's report. */
export const logLines: string[] = [];

/** The worker's structured log lines (from line `from` on). */
export const messages = (from = 0) =>
  logLines.slice(from).flatMap((l) => {
    if (!l.startsWith("{")) return [];
    try {
      return [z.record(z.string(), z.unknown()).parse(JSON.parse(l))];
    } catch {
      return [];
    }
  });

export type Bench = Awaited<ReturnType<typeof startBench>>;

/** Everything the sections use; `close` ends the stack and hands the memory back. */
export async function startBench(started: number) {
  const dir = STATE_DIR;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const persistTo = join(dir, ".wrangler", "state");
  const target = { remote: false, persistTo };
  const secrets = freshDevSecrets();
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers) await c().catch(() => undefined);
    if (STATE_IN_MEMORY) rmSync(dir, { recursive: true, force: true }); // hands the memory back
  };
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
    const shopify = await shopifyFakeFor(secrets);
    const graph = await graphFakeFor(secrets);
    closers.push(proxy.close, s3.close, shopify.close, graph.close);
    Object.assign(process.env, {
      TOKEN_ENCRYPTION_KEY: secrets.TOKEN_ENCRYPTION_KEY,
      SPACES_ENDPOINT: s3.endpoint,
      SPACES_KEY: "S3RVER",
      SPACES_SECRET: "S3RVER",
      SPACES_BUCKET: "bench",
    });
    const { spaces } = await scriptSpaces(target);
    const { extra } = await seedMerchants({ dir, persistTo, target, secrets, shopify, graph });

    const port = await freePort();
    const worker = `http://127.0.0.1:${port}`;
    const vars = fakeStackVars(secrets, {
      bucket: "bench",
      spacesEndpoint: proxy.origin,
      shopify: shopify.origin,
      graph: graph.origin,
      publicUrl: worker,
    });
    // The same worker again after the restore, on the same port and state.
    const startBenchWorker = () =>
      startWorker({ port, vars, persistTo, debugger: INSPECTOR, logFile: LOG_FILE, log: (l) => logLines.push(l) });
    let dev = await startBenchWorker();
    closers.unshift(() => dev.stop());

    const benchShop = "bench-webhooks.myshopify.com";
    const benchPage = "610000000000001";
    await control(shopify.origin, "shop", { shop: benchShop, products: 50, restoreRate: 1_000_000 });
    await control(graph.origin, "page", { id: benchPage, name: "Bench Webhooks" });
    const install = await installShop(worker, shopify.origin, secrets, benchShop);
    const uuid: string = install.body.user_uuid;
    await loginFacebook(worker, graph.origin, [benchPage], install.cookie);

    let loadRuns = 0;
    return {
      started,
      worker,
      secrets,
      target,
      persistTo,
      spaces,
      proxy,
      shopify,
      graph,
      uuid,
      benchShop,
      benchPage,
      /** Other tokens seeded beside the merchants' (10,000 in all). */
      extra,
      close,
      stopWorker: () => dev.stop(),
      restartWorker: async () => {
        dev = await startBenchWorker();
      },
      /** A signed Messenger message from this customer to the bench page. */
      sendMessage: async (customer: string, mid: string, text: string, timestamp?: number) =>
        fetch(
          await messengerWebhookRequest(worker, secrets, messageDelivery(benchPage, customer, mid, text, timestamp)),
        ),
      /** One load run, sent from its own process (scripts/lib/load.ts) so the fakes here do not slow it. */
      load: async (name: string, kind: LoadKind) => {
        const n = loadRuns++;
        const spec: LoadSpec = {
          worker,
          requests: REQUESTS,
          connections: CONNECTIONS,
          shop: benchShop,
          page: benchPage,
          secrets: {
            SHOPIFY_API_SECRET: secrets.SHOPIFY_API_SECRET!,
            FACEBOOK_APP_SECRET: secrets.FACEBOOK_APP_SECRET!,
          },
          kind,
          tag: `${kind}-${n}-${Date.now()}`,
          firstCustomer: 910000000000000 + n * 100,
        };
        return { name, ...(await loadInProcess(spec)) };
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Many merchants, seeded as installs would leave them (tokens encrypted with the worker's key). */
async function seedMerchants(stack: {
  dir: string;
  persistTo: string;
  target: { remote: boolean; persistTo: string };
  secrets: Record<string, string>;
  shopify: { origin: string };
  graph: { origin: string };
}) {
  const { dir, persistTo, target, secrets, shopify, graph } = stack;
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
  return { extra };
}
