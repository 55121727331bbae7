import type { LoadKind } from "../lib/load.ts";
import { add, median, settle } from "./report.ts";
import { CONNECTIONS, REQUESTS, ROUNDS, type Bench } from "./stack.ts";

/**
 * Bench section "ack": webhook acknowledgement, healthy: rounds of the four routes side by side,
 * medians reported, as the machine is shared and one run can be off by a third.
 */
export async function benchAcknowledgement({ load }: Bench) {
  console.log(
    `\nWebhook acknowledgement (${ROUNDS} rounds of ${REQUESTS} requests per route, ${CONNECTIONS} connections, medians)`,
  );
  const routes: [LoadKind, string][] = [
    ["bare", "bare route (GET /ping)"],
    ["forged", "Shopify webhook, forged signature (401: HMAC only)"],
    ["shopify", "signed Shopify products/update"],
    ["messenger", "signed Messenger message"],
  ];
  const rounds: Record<LoadKind, Awaited<ReturnType<Bench["load"]>>[]> = {
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
  const perRound = (kind: LoadKind) => rounds[kind].map((r, i) => (r.rps / rounds.bare[i]!.rps).toFixed(2)).join(", ");
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
}
