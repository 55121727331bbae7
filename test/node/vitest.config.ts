import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * The tests that run in plain Node rather than in workerd:
 * - test/oracle: Shopify's own library (`@shopify/shopify-api`, Node only) as the judge of the
 *   worker's signature and shop checks (plain WebCrypto, so they run in both);
 * - test/e2e: the worker under `wrangler dev`, reached over real HTTP connections;
 * - test/scripts: the operator scripts' command lines, run as processes.
 */
export default defineConfig({
  test: {
    // .ci/run asks for a JSON report (one file per run, beside the main suite's) to print one
    // "N passed, N failed" line.
    reporters: process.env.VITEST_JSON
      ? ["default", ["json", { outputFile: process.env.VITEST_JSON.replace(/(\.json)?$/, ".node.json") }]]
      : ["default"],
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["test/oracle/**/*.test.ts", "test/e2e/**/*.test.ts", "test/scripts/**/*.test.ts"],
    environment: "node",
    // One wrangler dev at a time on a shared machine.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
