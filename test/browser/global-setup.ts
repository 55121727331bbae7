import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { startFakeStack } from "../../dev/fake-stack";
import { chromiumBinary } from "./chromium";

/**
 * The stack the browser talks to: the worker (wrangler dev, fresh local D1) served as
 * http://localhost:<port>, the Shopify and Graph fakes and the S3 stand-in on 127.0.0.1. localhost
 * and 127.0.0.1 are different sites to the browser, so the OAuth round trips are cross-site as
 * they are in production, and SameSite rules apply.
 */
export default async function setup(project: TestProject) {
  // Found (and the npm one unpacked) once, before any test file opens it.
  const browser = await chromiumBinary();
  console.log(`Chromium: ${browser.path} (${browser.from === "npm" ? "from npm, @sparticuz/chromium" : "installed"})`);
  const lines: string[] = [];
  const stack = await startFakeStack({
    dir: mkdtempSync(join(tmpdir(), "browser-tests-")),
    bucket: "browser",
    shopify: true,
    graph: true,
    publicOrigin: (port) => `http://localhost:${port}`,
    log: (line) => lines.push(line),
  });
  const { port, secrets, shopify, graph } = stack;
  project.provide("stack", {
    worker: `http://localhost:${port}`,
    workerDirect: `http://127.0.0.1:${port}`,
    shopify: shopify!.origin,
    graph: graph!.origin,
    secrets: {
      ADMIN_TOKEN: secrets.ADMIN_TOKEN!,
      SHOPIFY_API_SECRET: secrets.SHOPIFY_API_SECRET!,
      FACEBOOK_APP_SECRET: secrets.FACEBOOK_APP_SECRET!,
    },
  });
  return async () => {
    await stack.stop();
    if (process.env.BROWSER_WORKER_LOG) console.log(lines.join("\n"));
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
