import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sleep } from "../../src/lib/retry.ts";
import { ROOT } from "../../dev/local-stack.ts";

/** The benchmark's figures, its shared clock helpers, and the table it ends with. */

export type Add = (section: string, figure: string, value: number | string, unit?: string, note?: string) => void;

type Row = { section: string; figure: string; value: number | string; unit: string; note?: string };
const rows: Row[] = [];

/** Records a figure and prints it as a progress line. */
export const add: Add = (section, figure, value, unit = "", note) => {
  rows.push({ section, figure, value, unit, note });
  const shown = typeof value === "number" ? (Number.isInteger(value) ? value : value.toFixed(2)) : value;
  console.log(`  ${figure}: ${shown} ${unit}${note ? `  (${note})` : ""}`);
};

export async function waitFor<T>(
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

export const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

export const median = (values: number[]) => percentile(values, 50);

/** Long enough for the work a load run queues to finish (the Shopify lag's p99 is ~1 s). */
export const settle = () => sleep(2000);

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

/** Saves every figure as JSON under bench-results/ and prints the table. */
export function saveAndPrint(run: { started: number; requests: number; merchants: number }) {
  const out = join(ROOT, "bench-results");
  mkdirSync(out, { recursive: true });
  const file = join(out, `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    JSON.stringify({ at: new Date().toISOString(), requests: run.requests, merchants: run.merchants, rows }, null, 2),
  );
  console.log("\n" + table(rows));
  console.log(`\nSaved to ${file.replace(`${ROOT}/`, "")}; took ${((Date.now() - run.started) / 1000).toFixed(0)} s`);
}
