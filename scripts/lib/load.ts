import { z } from "zod";
/**
 * The benchmark's load generator, run as its own process (`tsx scripts/lib/load.ts '<json>'`) so
 * that the fakes and the S3 stand-in, busy in the benchmark's process, do not slow the load down.
 * Sends `requests` requests over `connections` connections with autocannon and prints one JSON line:
 * throughput from the first request to the last answer (autocannon's own figure only counts whole
 * seconds), latency p50/p99 and failures.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import autocannon from "autocannon";
import { ROOT } from "../../dev/local-stack.ts";
import { messageDelivery, messengerWebhookInit, shopifyWebhookInit } from "../../dev/platform-client.ts";

/** `forged`: Shopify webhooks signed with a wrong secret, answered 401 before any D1 or log work. */
/** `health`: the public `GET /health` (one `SELECT 1` per database, a cached Spaces probe). */
const loadKind = z.enum(["bare", "forged", "shopify", "messenger", "health"]);
export type LoadKind = z.infer<typeof loadKind>;

/** A load run, handed to the generator's process as JSON. */
const loadSpec = z.object({
  worker: z.string(),
  kind: loadKind,
  requests: z.number(),
  connections: z.number(),
  /** Makes webhook and message ids unique across runs. */
  tag: z.string(),
  /**
   * Messenger: the first of the run's 100 customer ids. A new set per run keeps every run's work the
   * same: with one set, each conversation grows by 30 messages a run and every upload of a later
   * round carries the whole, ever longer conversation.
   */
  firstCustomer: z.number().optional(),
  shop: z.string(),
  page: z.string(),
  secrets: z.object({ SHOPIFY_API_SECRET: z.string(), FACEBOOK_APP_SECRET: z.string() }),
});
export type LoadSpec = z.infer<typeof loadSpec>;

/** What the generator's process prints as its last line. */
const loadResult = z.object({
  rps: z.number(),
  p50: z.number(),
  p99: z.number(),
  failed: z.number(),
  seconds: z.number(),
});
export type LoadResult = z.infer<typeof loadResult>;

type Built = { method: string; path: string; headers: Record<string, string>; body?: string };

function builder(spec: LoadSpec): () => Promise<Built> {
  let n = 0;
  if (spec.kind === "bare") return async () => ({ method: "GET", path: "/ping", headers: {} });
  if (spec.kind === "health") return async () => ({ method: "GET", path: "/health", headers: {} });
  if (spec.kind === "shopify" || spec.kind === "forged") {
    const secret = spec.kind === "forged" ? "not-the-secret" : spec.secrets.SHOPIFY_API_SECRET;
    return async () => {
      // 50 products of one shop: a bulk edit as Shopify sends it.
      const body = JSON.stringify({ id: 1000000 + (n % 50), title: "x" });
      const id = `${spec.tag}-${n++}`;
      const init = await shopifyWebhookInit(spec.shop, "products/update", body, secret, { id });
      return { ...init, path: "/shopify/webhook" };
    };
  }
  return async () => {
    // 100 customers of one page writing at once.
    const customer = String((spec.firstCustomer ?? 910000000000000) + (n % 100));
    const body = JSON.stringify(messageDelivery(spec.page, customer, `m_${spec.tag}_${n++}`, "how much is it?"));
    return { ...(await messengerWebhookInit(body, spec.secrets.FACEBOOK_APP_SECRET)), path: "/facebook/webhook" };
  };
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  // Built (and signed) before the clock starts: on a small machine the generator's own work would
  // otherwise take CPU from the worker and weigh on the signed routes only.
  // autocannon asks for a request synchronously, and may ask for one per connection beyond the
  // amount: those spare ones are signed beforehand too.
  const make = builder(spec);
  const prepared: Built[] = [];
  for (let i = 0; i < spec.requests + 2 * spec.connections; i++) prepared.push(await make());
  let next = 0;
  const build = () => prepared[next++ % prepared.length]!;
  const started = performance.now();
  let last = started;
  const instance = autocannon({
    url: spec.worker,
    connections: spec.connections,
    amount: spec.requests,
    timeout: 20,
    requests: [{ setupRequest: (req) => ({ ...req, ...build() }) }],
  });
  instance.on("response", () => (last = performance.now()));
  const result = await instance;
  const seconds = (last - started) / 1000;
  return {
    rps: result.requests.total / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.non2xx + result.errors + result.timeouts,
    seconds,
  };
}

/** One load run from its own process (this file), so that the caller's busy event loop does not slow it. */
export function loadInProcess(spec: LoadSpec): Promise<LoadResult> {
  const tsx = join(ROOT, "node_modules", ".bin", "tsx");
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [join(ROOT, "scripts", "lib", "load.ts"), JSON.stringify(spec)], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.on("exit", (code) =>
      code === 0
        ? resolve(loadResult.parse(JSON.parse(out.trim().split("\n").pop()!)))
        : reject(new Error(`${tsx} exited with ${code}`)),
    );
  });
}

if (process.argv[1]?.endsWith("load.ts") && process.argv[2]) {
  const result = await runLoad(loadSpec.parse(JSON.parse(process.argv[2] ?? "{}")));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
