import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * Shopify's own library (`@shopify/shopify-api`) as the judge of the worker's signature and shop
 * checks. The library runs in Node, not in workerd; the worker's checks are plain WebCrypto and run
 * in both, so these tests feed both the same inputs in one Node process.
 */
export default defineConfig({
  test: {
    // .ci/run asks for a JSON report (one file per run, beside the main suite's) to print one
    // "N passed, N failed" line.
    reporters: process.env.VITEST_JSON
      ? ["default", ["json", { outputFile: process.env.VITEST_JSON.replace(/(\.json)?$/, ".oracle.json") }]]
      : ["default"],
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["test/oracle/**/*.test.ts"],
    environment: "node",
    testTimeout: 60_000,
  },
});
