/**
 * The worker in wrangler's local dev server without a debugger attached, for the benchmark:
 * `tsx dev/worker-server.ts '<json>'`, where the JSON is `WorkerServerSpec`.
 *
 * It is `wrangler dev` (the same ProxyWorker in front, the same workerd, bindings and `.dev.vars`)
 * started through wrangler's `unstable_startWorker`, with one difference: `wrangler dev` always
 * attaches a DevTools inspector to the worker and prints every `console.log` by way of it (a
 * DevTools message per line, relayed through a second worker to Node and source-mapped), which
 * costs about as much CPU as the webhook itself (measured: 0.87 ms of Node CPU per Shopify webhook).
 * Here the inspector is off and log lines come out as workerd's structured logs on stdout.
 *
 * Unless the spec asks for it, it also skips wrangler's debug log file: wrangler appends every
 * line the worker logs to a file under ~/.config/.wrangler/logs as well as printing it, one
 * directory check and one open-append-close per line through Node's thread pool, ~0.18 ms of Node
 * CPU a line here (measured), a tenth of all the CPU a Messenger message costs. Wrangler skips the
 * file when it runs under vitest, which it tells by a global `vitest`; setting that global here
 * changes nothing else in a local dev server (its other uses are the Cloudflare API client and the
 * CLI).
 */
import { unstable_startWorker } from "wrangler";
import { z } from "zod";

/** The server to start, handed over as JSON by dev/local-stack.ts. */
const workerServerSpec = z.object({
  port: z.number(),
  vars: z.record(z.string(), z.string()),
  persistTo: z.string().optional(),
  envFile: z.string().optional(),
  /** Keep wrangler's debug log file (a copy of every log line under ~/.config/.wrangler/logs). */
  logFile: z.boolean().optional(),
});
export type WorkerServerSpec = z.infer<typeof workerServerSpec>;

const spec = workerServerSpec.parse(JSON.parse(process.argv[2] ?? "{}"));
if (!spec.logFile) (globalThis as { vitest?: unknown }).vitest ??= {};
const worker = await unstable_startWorker({
  config: "wrangler.toml",
  envFiles: spec.envFile ? [spec.envFile] : undefined,
  bindings: Object.fromEntries(
    Object.entries(spec.vars).map(([name, value]) => [name, { type: "secret_text" as const, value }]),
  ),
  dev: {
    inspector: false,
    server: { hostname: "127.0.0.1", port: spec.port },
    persist: spec.persistTo,
    testScheduled: true,
    watch: false,
    logLevel: "log",
  },
});
await worker.ready;

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await worker.dispose().catch(() => undefined);
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
