import { sleep } from "../../src/lib/retry.ts";
import { control } from "../../dev/platform-client.ts";
import { add, median } from "./report.ts";
import { ROUNDS, type Bench } from "./stack.ts";

/**
 * Bench section "trouble": each trouble run right after a healthy run of the same webhook, both
 * started from a quiet system, so the ratio compares like with like.
 */
export async function benchUnderTrouble({ load, shopify, graph, proxy }: Bench) {
  console.log(`\nUnder trouble (${ROUNDS} pairs each: a healthy run, then the same under trouble; medians)`);
  const platformFaults = (faults: unknown[]) => async () => {
    await control(shopify.origin, "faults", { faults });
    await control(graph.origin, "faults", { faults });
  };
  const troubles: [string, () => Promise<unknown>, () => Promise<unknown>][] = [
    ["platforms answer after 2 s", platformFaults([{ kind: "slow", times: 1e9, delayMs: 2000 }]), platformFaults([])],
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
}
