import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { TEST_BUCKET, TEST_SECRETS } from "./test/env.ts";

/** A free loopback port, chosen here so the worker's bindings and the fakes agree on it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const ports = {
  s3: Number(process.env.TEST_S3_PORT ?? (await freePort())),
  shopify: Number(process.env.TEST_SHOPIFY_PORT ?? (await freePort())),
  graph: Number(process.env.TEST_GRAPH_PORT ?? (await freePort())),
  monitor: Number(process.env.TEST_MONITOR_PORT ?? (await freePort())),
};
process.env.TEST_S3_PORT = String(ports.s3);
process.env.TEST_SHOPIFY_PORT = String(ports.shopify);
process.env.TEST_GRAPH_PORT = String(ports.graph);
process.env.TEST_MONITOR_PORT = String(ports.monitor);

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  plugins: [
    cloudflareTest(async () => ({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        // A spare database for restore round trips.
        d1Databases: { RESTORE_DB: "restore-test" },
        bindings: {
          ...TEST_SECRETS,
          SPACES_BUCKET: TEST_BUCKET,
          SPACES_ENDPOINT: `http://127.0.0.1:${ports.s3}`,
          SHOPIFY_ADMIN_ORIGIN: `http://127.0.0.1:${ports.shopify}/{shop}`,
          FACEBOOK_GRAPH_ORIGIN: `http://127.0.0.1:${ports.graph}`,
          FACEBOOK_DIALOG_ORIGIN: "https://www.facebook.com",
          PUBLIC_URL: "https://worker.test",
          FAKE_SHOPIFY: `http://127.0.0.1:${ports.shopify}`,
          FAKE_GRAPH: `http://127.0.0.1:${ports.graph}`,
          FAKE_SPACES: `http://127.0.0.1:${ports.s3}`,
          // The monitoring receiver (dev/fakes/monitor.ts) records heartbeats and alerts.
          FAKE_MONITOR: `http://127.0.0.1:${ports.monitor}`,
          BACKUP_HEARTBEAT_URL: `http://127.0.0.1:${ports.monitor}/heartbeat`,
          ALERTS_WEBHOOK_URL: `http://127.0.0.1:${ports.monitor}/alerts`,
          TEST_MIGRATIONS_TOKENS: await readD1Migrations(`${root}/migrations/tokens`),
          TEST_MIGRATIONS_SESSIONS: await readD1Migrations(`${root}/migrations/sessions`),
        },
      },
    })),
  ],
  test: {
    // .ci/run asks for a JSON report to print one "N passed, N failed" line.
    reporters: process.env.VITEST_JSON ? ["default", ["json", { outputFile: process.env.VITEST_JSON }]] : ["default"],
    globalSetup: ["./test/global-setup.ts"],
    setupFiles: ["./test/apply-migrations.ts"],
    include: ["test/**/*.test.ts"],
    // Conformance needs radosgw; oracle, e2e and browser tests run in Node (their own configs).
    exclude: [
      "test/conformance/**",
      "test/oracle/**",
      "test/e2e/**",
      "test/node/**",
      "test/browser/**",
      "test/scripts/**",
    ],
    // The platform fakes and the Spaces fault proxy are shared: files run one at a time.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
