import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { applyLocalMigrations, freePort, freshDevSecrets, startWorker } from "../../scripts/lib/local-stack";
import { startGraphFake } from "../fakes/graph";
import { startS3Standin } from "../fakes/s3";
import { startShopifyFake } from "../fakes/shopify";

/**
 * The stack the browser talks to: the worker (wrangler dev, fresh local D1) served as
 * http://localhost:<port>, the Shopify and Graph fakes and the S3 stand-in on 127.0.0.1. localhost
 * and 127.0.0.1 are different sites to the browser, so the OAuth round trips are cross-site as
 * they are in production, and SameSite rules apply.
 */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), "browser-tests-"));
  const persistTo = join(dir, "state");
  const secrets = freshDevSecrets();
  const s3 = await startS3Standin({ bucket: "browser", directory: join(dir, "s3"), silent: true });
  const shopify = await startShopifyFake({ apiKey: secrets.SHOPIFY_API_KEY!, apiSecret: secrets.SHOPIFY_API_SECRET! });
  const graph = await startGraphFake({
    appId: secrets.FACEBOOK_APP_ID!,
    appSecret: secrets.FACEBOOK_APP_SECRET!,
    version: "v25.0",
  });
  applyLocalMigrations(persistTo);
  const port = await freePort();
  const lines: string[] = [];
  const worker = await startWorker({
    port,
    persistTo,
    debugger: false,
    logFile: false,
    log: (line) => lines.push(line),
    vars: {
      ...secrets,
      SPACES_BUCKET: "browser",
      SPACES_ENDPOINT: s3.endpoint,
      SHOPIFY_ADMIN_ORIGIN: `${shopify.origin}/{shop}`,
      FACEBOOK_GRAPH_ORIGIN: graph.origin,
      FACEBOOK_DIALOG_ORIGIN: graph.origin,
      PUBLIC_URL: `http://localhost:${port}`,
    },
  });
  project.provide("stack", {
    worker: `http://localhost:${port}`,
    workerDirect: `http://127.0.0.1:${port}`,
    shopify: shopify.origin,
    graph: graph.origin,
    secrets: {
      ADMIN_TOKEN: secrets.ADMIN_TOKEN!,
      SHOPIFY_API_SECRET: secrets.SHOPIFY_API_SECRET!,
      FACEBOOK_APP_SECRET: secrets.FACEBOOK_APP_SECRET!,
    },
  });
  return async () => {
    await worker.stop();
    await Promise.all([shopify.close(), graph.close()]);
    await s3.close();
    if (process.env.BROWSER_WORKER_LOG) console.log(lines.join("\n"));
    rmSync(dir, { recursive: true, force: true });
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    stack: {
      /** The worker as the browser sees it (localhost). */
      worker: string;
      /** The same worker by address, for Node's fetch. */
      workerDirect: string;
      shopify: string;
      graph: string;
      secrets: { ADMIN_TOKEN: string; SHOPIFY_API_SECRET: string; FACEBOOK_APP_SECRET: string };
    };
  }
}
