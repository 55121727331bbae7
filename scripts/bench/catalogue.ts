/**
 * Catalogue sync against the Shopify fake's throttle: for each size, a paged sync and a bulk sync
 * of the same shop with the worker's own code (src/shopify/sync.ts) in Node under a 128 MB heap
 * (scripts/lib/sync-memory.ts), reporting time, Admin API calls, points taken from the bucket and
 * the peak JS heap.
 *
 * Plan: the paged runs use a Shopify Plus bucket (1,000 points a second, 20,000 held), so that 50k
 * products finish in minutes; the points they took say what a Standard plan (100 a second) costs:
 * `(points - 2,000) / 100` seconds of throttle waits, printed beside them. Bulk runs use a Standard
 * plan as it is.
 *
 * Standalone: `npx tsx scripts/bench/catalogue.ts 1000 10000` (sizes; default 1000 10000 50000).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startS3Standin } from "../../dev/fakes/s3.ts";
import { startShopifyFake } from "../../dev/fakes/shopify.ts";
import { ROOT } from "../../dev/local-stack.ts";
import { control } from "../../dev/platform-client.ts";

type Add = (section: string, figure: string, value: number | string, unit?: string, note?: string) => void;

const STANDARD_RATE = 100;
const STANDARD_BUCKET = 2000;

function runNode(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`sync-memory exited with ${code}`))));
  });
}

/** Runs the catalogue section against its own S3 stand-in and Shopify fake. */
export async function benchCatalogue(add: Add, sizes: number[]): Promise<void> {
  const s3 = await startS3Standin({ bucket: "bench-catalogue" });
  const shopify = await startShopifyFake({ apiKey: "bench", apiSecret: "bench" });
  try {
    console.log(
      `\nCatalogue sync: paged on a Plus bucket (1,000 points/s), bulk on a Standard one (100 points/s); Node, 128 MB heap`,
    );
    for (const size of sizes) {
      for (const mode of ["paged", "bulk"] as const) {
        const shop = `bench-catalogue-${mode}-${size}.myshopify.com`;
        const plan = mode === "paged" ? "plus" : "standard";
        await control(shopify.origin, "grant", { shop, access_token: "shpua_catalogue", products: size, plan });
        const pointsBefore = shopify.calls.points;
        const figures = JSON.parse(
          await runNode([
            "--max-old-space-size=128",
            "--expose-gc",
            "--import",
            "tsx",
            "scripts/lib/sync-memory.ts",
            shopify.origin,
            s3.endpoint,
            "bench-catalogue",
            shop,
            "shpua_catalogue",
            mode,
          ]),
        );
        const points = shopify.calls.points - pointsBefore;
        const standardWait = Math.max(0, (points - STANDARD_BUCKET) / STANDARD_RATE);
        const label = `${size} products, ${mode}`;
        add("catalogue", `${label}: time`, figures.ms, "ms", `${plan} plan`);
        add("catalogue", `${label}: Admin API calls`, figures.apiCalls, "calls");
        add(
          "catalogue",
          `${label}: points`,
          points,
          "points",
          mode === "paged" ? `on Standard: about ${Math.round(standardWait)} s of throttle waits` : "",
        );
        add("catalogue", `${label}: peak JS heap`, figures.peakHeapMiB.toFixed(1), "MiB", "128 MB limit");
        add("catalogue", `${label}: products file`, (figures.productsBytes / 1048576).toFixed(1), "MiB");
      }
    }
  } finally {
    await shopify.close();
    await s3.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = process.argv.slice(2).map(Number);
  const rows: string[] = [];
  await benchCatalogue(
    (_section, figure, value, unit = "", note = "") => {
      const row = `${figure.padEnd(40)} ${String(value).padStart(10)} ${unit.padEnd(7)} ${note}`;
      rows.push(row);
      console.log(row);
    },
    sizes.length ? sizes : [1000, 10_000, 50_000],
  );
}
