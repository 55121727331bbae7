/**
 * Bench section: the public `GET /health` beside the bare route (`GET /ping`), side by side in
 * rounds, medians. /health makes one `SELECT 1` per database and answers Spaces from a probe cached
 * for a few seconds, so it should stay within 2× of the bare route (ratio ≥ 0.5).
 *
 * Part of `npm run bench`; alone: `npx tsx scripts/bench/health.ts` (its own S3 stand-in and
 * worker; BENCH_REQUESTS, BENCH_ROUNDS as for the bench).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeStack } from "../../dev/fake-stack.ts";
import { loadInProcess, type LoadKind, type LoadResult, type LoadSpec } from "../lib/load.ts";

type Load = (name: string, kind: LoadKind) => Promise<LoadResult & { name: string }>;
type Add = (section: string, figure: string, value: number | string, unit?: string, note?: string) => void;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

export async function benchHealth(bench: { load: Load; add: Add; settle: () => Promise<unknown>; rounds: number }) {
  const { load, add, settle, rounds } = bench;
  console.log(`\nHealth check (${rounds} rounds of /health beside the bare route, medians)`);
  await load("GET /health (warm-up)", "health");
  const bare: LoadResult[] = [];
  const health: LoadResult[] = [];
  for (let round = 1; round <= rounds; round++) {
    await settle();
    bare.push(await load("bare route (GET /ping)", "bare"));
    health.push(await load("GET /health", "health"));
    console.log(`  round ${round}: bare ${bare.at(-1)!.rps.toFixed(0)}, health ${health.at(-1)!.rps.toFixed(0)} req/s`);
  }
  const ratios = health.map((h, i) => h.rps / bare[i]!.rps);
  const failed = health.reduce((n, r) => n + r.failed, 0);
  add("health", "GET /health req/s", median(health.map((r) => r.rps)), "req/s");
  add(
    "health",
    "GET /health p50 / p99",
    `${median(health.map((r) => r.p50))} / ${median(health.map((r) => r.p99))}`,
    "ms",
    failed ? `${failed} failed` : undefined,
  );
  add(
    "health",
    "GET /health throughput / bare route",
    median(ratios),
    "ratio",
    `target >= 0.5; rounds: ${ratios.map((r) => r.toFixed(2)).join(", ")}`,
  );
}

/** Alone: an S3 stand-in and the worker, the load from its own process as in the bench. */
async function standalone() {
  const requests = Number(process.env.BENCH_REQUESTS ?? 2000);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const stack = await startFakeStack({ dir: mkdtempSync(join(tmpdir(), "bench-health-")), bucket: "bench" });
  const { secrets } = stack;
  const load: Load = (name, kind) => {
    const spec: LoadSpec = {
      worker: stack.origin,
      kind,
      requests,
      connections: 20,
      tag: `${kind}-${Date.now()}`,
      shop: "bench.myshopify.com",
      page: "1",
      secrets: { SHOPIFY_API_SECRET: secrets.SHOPIFY_API_SECRET!, FACEBOOK_APP_SECRET: secrets.FACEBOOK_APP_SECRET! },
    };
    return loadInProcess(spec).then((result) => ({ name, ...result }));
  };
  const add: Add = (_section, figure, value, unit = "", note) =>
    console.log(
      `  ${figure}: ${typeof value === "number" ? value.toFixed(2) : value} ${unit}${note ? `  (${note})` : ""}`,
    );
  try {
    await benchHealth({ load, add, settle: () => new Promise((r) => setTimeout(r, 1000)), rounds });
  } finally {
    await stack.stop();
  }
}

if (process.argv[1]?.endsWith("health.ts")) await standalone();
