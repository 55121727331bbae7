import { z } from "zod";
/**
 * The catalogue inside workerd: for each size (products of 1 to 3 variants), a worker of its own
 * (wrangler dev with its DevTools inspector, a fresh D1, the S3 stand-in, the Shopify fake on a
 * Plus bucket) installs the shop (the full read: time, calls, the isolate's peak heap), then takes
 * product changes one webhook at a time (calls, query points and Spaces bytes per change, lag from
 * the webhook's answer to the new file, peak heap), then a daily poll with 1 % of the products
 * changed at Shopify (calls). The heap is read through the inspector (dev/isolate-heap.ts), next
 * to the 128 MB a Worker may use.
 *
 * Standalone: `npx tsx scripts/bench/catalogue.ts 1000 10000` (sizes; default 1000 10000 50000).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connectIsolateHeap, ISOLATE_LIMIT_BYTES } from "../../dev/isolate-heap.ts";
import { fakeStackVars, shopifyFakeFor } from "../../dev/fake-stack.ts";
import { startS3Standin } from "../../dev/fakes/s3.ts";
import { applyLocalMigrations, freePort, freshDevSecrets, startWorker } from "../../dev/local-stack.ts";
import { request } from "node:http";
import { control, shopifyInstallFlow, shopifyWebhookRequest } from "../../dev/platform-client.ts";
import { Spaces, type SpacesConfig } from "../../src/spaces/client.ts";
import { shopProductsKey } from "../../src/spaces/keys.ts";
import { percentile, waitFor, type Add } from "./report.ts";

/** Product changes timed at each size. */
const CHANGES = 20;

/**
 * Requests to the worker without a time limit on the answer: a big catalogue's install reads it whole
 * before the callback answers, longer than fetch waits for headers.
 */
const patientSend = (origin: string) => (path: string, init?: RequestInit) =>
  new Promise<Response>((resolve, reject) => {
    const req = request(
      `${origin}${path}`,
      { method: "GET", headers: init?.headers as Record<string, string> },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, String(v));
          resolve(
            new Response(res.statusCode === 302 ? null : Buffer.concat(chunks), { status: res.statusCode, headers }),
          );
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
const MiB = 1024 * 1024;

export async function benchCatalogue(add: Add, sizes: number[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-catalogue-"));
  const persistTo = join(dir, "state");
  const secrets = freshDevSecrets();
  const s3 = await startS3Standin({ bucket: "bench-catalogue", directory: join(dir, "s3"), silent: true });
  const shopify = await shopifyFakeFor(secrets);
  applyLocalMigrations(persistTo);
  const port = await freePort();
  const inspectorPort = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const vars = fakeStackVars(secrets, {
    bucket: "bench-catalogue",
    spacesEndpoint: s3.endpoint,
    shopify: shopify.origin,
    publicUrl: origin,
  });
  const worker = await startWorker({ port, vars, persistTo, inspectorPort, logFile: false });
  const heap = await connectIsolateHeap(inspectorPort);
  const spaces = new Spaces({
    SPACES_BUCKET: "bench-catalogue",
    SPACES_ENDPOINT: s3.endpoint,
    SPACES_KEY: "S3RVER",
    SPACES_SECRET: "S3RVER",
    SPACES_REGION: "nyc3",
  } as SpacesConfig);
  // The peak next to the limit, and what it was made of (objects, ArrayBuffers such as part buffers).
  const limit = () => {
    const { objects, buffers } = heap.peakParts();
    return `${ISOLATE_LIMIT_BYTES / MiB} MB limit; objects ${(objects / MiB).toFixed(1)} + buffers ${(buffers / MiB).toFixed(1)} MiB`;
  };
  try {
    console.log("\nCatalogue inside workerd: full read, product changes, daily reconciliation (Plus bucket)");
    for (const size of sizes) {
      const shop = `bench-catalogue-${size}.myshopify.com`;
      const label = `${size} products`;
      const shopCalls = async () => {
        const state = await (await fetch(`${shopify.origin}/_control/state?shop=${shop}`)).json();
        return z.object({ shopCalls: z.object({ graphql: z.number(), points: z.number() }) }).parse(state).shopCalls;
      };
      await control(shopify.origin, "shop", { shop, products: size, variantsUpTo: 3, plan: "plus" });

      // The full read, as the install does it.
      heap.start();
      let before = await shopCalls();
      const started = Date.now();
      const flow = await shopifyInstallFlow(patientSend(origin), shopify.origin, secrets.SHOPIFY_API_SECRET!, shop);
      const install = {
        body: z
          .object({
            user_uuid: z.string(),
            sync: z.object({ ok: z.boolean(), error: z.string().optional() }).optional(),
          })
          .parse(await flow.res.json()),
      };
      const fullMs = Date.now() - started;
      const fullPeak = await heap.stopSampling();
      const after = await shopCalls();
      const key = shopProductsKey(install.body.user_uuid, shop);
      const fileBytes = (await spaces.getText(key))?.length ?? 0;
      const syncNote = install.body.sync?.ok ? "" : `sync failed (${install.body.sync?.error ?? "no answer"}), queued`;
      add("catalogue", `${label}: full read (install) time`, fullMs, "ms", syncNote);
      add(
        "catalogue",
        `${label}: full read calls`,
        after.graphql - before.graphql,
        "calls",
        "webhook registration included",
      );
      add("catalogue", `${label}: products file`, (fileBytes / MiB).toFixed(1), "MiB");
      add("catalogue", `${label}: peak isolate heap, full read`, (fullPeak / MiB).toFixed(1), "MiB", limit());

      // Product changes, one webhook at a time.
      const lag: number[] = [];
      let calls = 0;
      let points = 0;
      heap.start();
      for (let i = 0; i < CHANGES; i++) {
        const index = Math.floor((size * (i + 0.5)) / CHANGES);
        const stored = await spaces.storedSha256(key);
        await control(shopify.origin, "product", { shop, index, title: `Changed ${i}` });
        before = await shopCalls();
        const res = await fetch(
          await shopifyWebhookRequest(
            origin,
            secrets,
            shop,
            "products/update",
            { id: 1_000_000 + index },
            `cat-${size}-${i}`,
          ),
        );
        const answered = Date.now();
        if (res.status !== 200) throw new Error(`products/update answered ${res.status}`);
        await waitFor("the products file", async () => (await spaces.storedSha256(key)) !== stored, 60_000, 20);
        lag.push(Date.now() - answered);
        const now = await shopCalls();
        calls += now.graphql - before.graphql;
        points += now.points - before.points;
      }
      const changePeak = await heap.stopSampling();
      add("catalogue", `${label}: Admin API calls per change`, (calls / CHANGES).toFixed(1), "calls");
      add("catalogue", `${label}: query points per change`, Math.round(points / CHANGES), "points", "actualQueryCost");
      add("catalogue", `${label}: Spaces bytes per change`, (fileBytes / MiB).toFixed(1), "MiB", "the whole file");
      add("catalogue", `${label}: webhook → file p50 / p99`, `${percentile(lag, 50)} / ${percentile(lag, 99)}`, "ms");
      add("catalogue", `${label}: peak isolate heap, changes`, (changePeak / MiB).toFixed(1), "MiB", limit());

      // The daily poll with 1 % changed at Shopify (webhooks missed).
      const changed = Math.max(1, Math.round(size / 100));
      for (let i = 0; i < changed; i++)
        await control(shopify.origin, "product", { shop, index: (i * 97) % size, title: `Polled ${i}` });
      const stored = await spaces.storedSha256(key);
      before = await shopCalls();
      const polled = Date.now();
      const poll = await fetch(`${origin}/admin/poll/shopify`, {
        method: "POST",
        headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` },
      });
      if (!poll.ok) throw new Error(`poll answered ${poll.status}`);
      await waitFor("the reconciled file", async () => (await spaces.storedSha256(key)) !== stored, 600_000, 100);
      // The reads run in batches; wait until the calls stop growing.
      let last = -1;
      for (let now = (await shopCalls()).graphql; now !== last; now = (await shopCalls()).graphql) {
        last = now;
        await new Promise((r) => setTimeout(r, 1500));
      }
      add(
        "catalogue",
        `${label}: daily reconciliation, ${changed} changed`,
        last - before.graphql,
        "calls",
        `${Date.now() - polled} ms`,
      );
    }
  } finally {
    heap.close();
    await worker.stop();
    await shopify.close();
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = process.argv.slice(2).map(Number);
  await benchCatalogue(
    (_section, figure, value, unit = "", note = "") =>
      console.log(`${figure.padEnd(52)} ${String(value).padStart(12)} ${unit.padEnd(7)} ${note}`),
    sizes.length ? sizes : [1000, 10_000, 50_000],
  );
  process.exit(0);
}
