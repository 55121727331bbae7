import { rmSync } from "node:fs";
import { join } from "node:path";
import { startGraphFake } from "./fakes/graph.ts";
import { startS3Standin } from "./fakes/s3.ts";
import { startShopifyFake } from "./fakes/shopify.ts";
import { applyLocalMigrations, freePort, freshDevSecrets, startWorker } from "./local-stack.ts";

/** Starts the Shopify fake for these development secrets. */
export const shopifyFakeFor = (secrets: Record<string, string>) =>
  startShopifyFake({ apiKey: secrets.SHOPIFY_API_KEY!, apiSecret: secrets.SHOPIFY_API_SECRET! });

/** Starts the Graph API fake for these development secrets. */
export const graphFakeFor = (secrets: Record<string, string>) =>
  startGraphFake({ appId: secrets.FACEBOOK_APP_ID!, appSecret: secrets.FACEBOOK_APP_SECRET!, version: "v25.0" });

/** The worker's variables: these secrets, this bucket, and the fakes in place of the platforms. */
export function fakeStackVars(
  secrets: Record<string, string>,
  opts: { bucket: string; spacesEndpoint: string; publicUrl: string; shopify?: string; graph?: string },
): Record<string, string> {
  return {
    ...secrets,
    SPACES_BUCKET: opts.bucket,
    SPACES_ENDPOINT: opts.spacesEndpoint,
    ...(opts.shopify ? { SHOPIFY_ADMIN_ORIGIN: `${opts.shopify}/{shop}` } : {}),
    ...(opts.graph ? { FACEBOOK_GRAPH_ORIGIN: opts.graph, FACEBOOK_DIALOG_ORIGIN: opts.graph } : {}),
    PUBLIC_URL: opts.publicUrl,
  };
}

/**
 * The worker (wrangler's dev server without its inspector, fresh local D1 under `dir`) with the S3
 * stand-in and, when asked, the Shopify and Graph fakes: fresh development secrets, nothing
 * installed. `stop` ends it all and removes `dir`.
 */
export async function startFakeStack(opts: {
  dir: string;
  bucket: string;
  shopify?: boolean;
  graph?: boolean;
  /** The origin the worker is told it has (PUBLIC_URL); 127.0.0.1 unless given. */
  publicOrigin?: (port: number) => string;
  log?: (line: string) => void;
  /** Runs on the migrated, empty databases before the worker starts (to seed them). */
  seed?: (persistTo: string) => void;
}) {
  const persistTo = join(opts.dir, "state");
  const secrets = freshDevSecrets();
  const s3 = await startS3Standin({ bucket: opts.bucket, directory: join(opts.dir, "s3"), silent: true });
  const shopify = opts.shopify ? await shopifyFakeFor(secrets) : null;
  const graph = opts.graph ? await graphFakeFor(secrets) : null;
  applyLocalMigrations(persistTo);
  opts.seed?.(persistTo);
  const port = await freePort();
  const worker = await startWorker({
    port,
    persistTo,
    debugger: false,
    logFile: false,
    log: opts.log,
    vars: fakeStackVars(secrets, {
      bucket: opts.bucket,
      spacesEndpoint: s3.endpoint,
      shopify: shopify?.origin,
      graph: graph?.origin,
      publicUrl: opts.publicOrigin?.(port) ?? `http://127.0.0.1:${port}`,
    }),
  });
  return {
    secrets,
    port,
    origin: worker.origin,
    shopify,
    graph,
    stop: async () => {
      await worker.stop();
      await Promise.all([shopify?.close(), graph?.close()]);
      await s3.close();
      rmSync(opts.dir, { recursive: true, force: true });
    },
  };
}
