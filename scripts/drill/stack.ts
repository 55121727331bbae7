import { z } from "zod";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { startS3Standin } from "../../dev/fakes/s3.ts";
import { fakeStackVars, graphFakeFor, shopifyFakeFor } from "../../dev/fake-stack.ts";
import { LOCAL_DIR, applyLocalMigrations, freePort, freshDevSecrets, startWorker } from "../../dev/local-stack.ts";
import { d1Query, scriptSpaces, step } from "../lib/ops.ts";
import { control, shopifyWebhookRequest } from "../../dev/platform-client.ts";

/**
 * The drill's local stack (the S3 stand-in or a named S3 server, the Shopify and Graph fakes, the
 * worker on fresh local D1) and what every part of the drill uses: checks, waits, token keys.
 */

/** The shops, pages and customer the drill plays with. */
export const cast = {
  shopA: "drill-alpha.myshopify.com",
  shopB: "drill-bravo.myshopify.com",
  shopC: "drill-charlie.myshopify.com",
  pageA: "700000000000001",
  pageB: "700000000000002",
  customer: "800000000000001",
};

export const failures: string[] = [];
export const logLines: string[] = [];
export const closers: (() => Promise<void>)[] = [];

export function check(what: string, ok: boolean, detail = "") {
  console.log(`  ${ok ? "✓" : "✗"} ${what}${detail ? `: ${detail}` : ""}`);
  if (!ok) failures.push(what);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

export const sawLog = (text: string) => logLines.some((l) => l.includes(text));

/** Sends a platform's request to the worker; anything but 200 stops the drill. */
export async function expectOk(request: Request | Promise<Request>) {
  const res = await fetch(await request);
  if (res.status !== 200) throw new Error(`answered ${res.status}: ${await res.text()}`);
}

/** The fields of the Spaces objects (shop and page metadata, products, conversations) the drill reads. */
export type SpacesObject = { shop?: string; count?: number; name?: string; messages?: { mid: string }[] };

export type Drill = Awaited<ReturnType<typeof startDrill>>;

export async function startDrill() {
  const dir = join(LOCAL_DIR, "drill");
  rmSync(dir, { recursive: true, force: true });
  const persistTo = join(dir, ".wrangler", "state");
  const target = { remote: false, persistTo };
  const secrets = freshDevSecrets();
  const external = process.env.DRILL_SPACES_ENDPOINT;
  const bucket = external ? (process.env.DRILL_SPACES_BUCKET ?? "conformance") : "drill";
  const s3 = external
    ? { endpoint: external, close: async () => undefined }
    : await step("start the S3 stand-in", () => startS3Standin({ bucket, directory: undefined }));
  closers.push(s3.close);
  const spacesKey = external ? process.env.DRILL_SPACES_KEY! : "S3RVER";
  const spacesSecret = external ? process.env.DRILL_SPACES_SECRET! : "S3RVER";
  Object.assign(process.env, {
    // The backup and restore scripts sign and check with the drill worker's key.
    TOKEN_ENCRYPTION_KEY: secrets.TOKEN_ENCRYPTION_KEY,
    SPACES_ENDPOINT: s3.endpoint,
    SPACES_KEY: spacesKey,
    SPACES_SECRET: spacesSecret,
    SPACES_BUCKET: bucket,
  });
  const shopify = await step("start the Shopify fake", () => shopifyFakeFor(secrets));
  const graph = await step("start the Graph API fake", () => graphFakeFor(secrets));
  closers.push(shopify.close, graph.close);
  const port = Number(process.env.DRILL_PORT ?? (await freePort()));
  const origin = `http://127.0.0.1:${port}`;
  const vars = {
    ...fakeStackVars(secrets, {
      bucket,
      spacesEndpoint: s3.endpoint,
      shopify: shopify.origin,
      graph: graph.origin,
      publicUrl: origin,
    }),
    SPACES_KEY: spacesKey,
    SPACES_SECRET: spacesSecret,
  };
  const boot = () => startWorker({ port, vars, persistTo, log: (line) => logLines.push(line) });
  await step("apply D1 migrations to fresh local databases", () => applyLocalMigrations(persistTo));
  let worker = await step(`start the worker (wrangler dev) on ${origin}`, boot);
  closers.unshift(() => worker.stop());
  const { spaces } = await scriptSpaces(target);

  for (const shop of [cast.shopA, cast.shopB, cast.shopC])
    await control(shopify.origin, "shop", { shop, products: 3, restoreRate: 100_000 });
  for (const [id, name] of [
    [cast.pageA, "Drill Shoes"],
    [cast.pageB, "Drill Hats"],
  ] as const)
    await control(graph.origin, "page", { id, name });

  return {
    secrets,
    target,
    persistTo,
    origin,
    bucket,
    s3,
    external,
    spacesKey,
    spacesSecret,
    spaces,
    shopify,
    graph,
    stopWorker: () => worker.stop(),
    /** Starts the worker again, titled as a step unless `quietly`. */
    startWorker: async (title?: string) => {
      worker = title ? await step(title, boot) : await boot();
    },
    /** A signed products/update from Shopify for this shop. */
    productUpdate: (shop: string, payload: unknown) =>
      shopifyWebhookRequest(origin, secrets, shop, "products/update", payload, crypto.randomUUID()),
    /**
     * The token keys now stored. d1Query blocks the event loop while wrangler runs; the pause after
     * it lets fetch see the keep-alive connections the worker closed meanwhile, before reusing one.
     */
    tokenKeys: async (): Promise<string[]> => {
      const keys = d1Query(
        "TOKENS_DB",
        "SELECT key FROM tokens ORDER BY key",
        target,
        z.object({ key: z.string() }),
      ).map((r) => r.key);
      await new Promise((r) => setTimeout(r, 200));
      return keys;
    },
    /** The JSON object at this key in Spaces, `{}` when there is none. */
    readJson: async (key: string): Promise<SpacesObject> => JSON.parse((await spaces.getText(key)) ?? "{}"),
  };
}
