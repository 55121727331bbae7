import type { TestProject } from "vitest/node";
import { startFaultProxy } from "../dev/fakes/fault-proxy";
import { startGraphFake } from "../dev/fakes/graph";
import { startMonitor } from "../dev/fakes/monitor";
import { startS3Standin } from "../dev/fakes/s3";
import { startShopifyFake } from "../dev/fakes/shopify";
import { GRAPH_VERSION, TEST_BUCKET, TEST_SECRETS } from "./env";

/** Starts the S3 stand-in, the platform fakes and the monitoring receiver on loopback for the whole run, and stops them after. */
export default async function setup(project: TestProject) {
  const s3 = await startS3Standin({ bucket: TEST_BUCKET });
  const proxy = await startFaultProxy(s3.endpoint, Number(process.env.TEST_S3_PORT));
  const shopify = await startShopifyFake({
    apiKey: TEST_SECRETS.SHOPIFY_API_KEY,
    apiSecret: TEST_SECRETS.SHOPIFY_API_SECRET,
    port: Number(process.env.TEST_SHOPIFY_PORT),
  });
  const graph = await startGraphFake({
    appId: TEST_SECRETS.FACEBOOK_APP_ID,
    appSecret: TEST_SECRETS.FACEBOOK_APP_SECRET,
    version: GRAPH_VERSION,
    port: Number(process.env.TEST_GRAPH_PORT),
  });
  const monitor = await startMonitor(Number(process.env.TEST_MONITOR_PORT));
  project.provide("s3Endpoint", proxy.origin);
  project.provide("shopifyOrigin", shopify.origin);
  project.provide("graphOrigin", graph.origin);
  return async () => {
    await Promise.all([proxy.close(), shopify.close(), graph.close(), monitor.close()]);
    await s3.close();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    s3Endpoint: string;
    shopifyOrigin: string;
    graphOrigin: string;
  }
}
