import { defineConfig } from "vitest/config";

/**
 * The browser tests: real Chromium (the system's, else the one inside the @sparticuz/chromium
 * package; see chromium.ts) driven by playwright-core against the worker in wrangler dev on
 * localhost and the platform fakes on 127.0.0.1. Plain Node, not the workerd pool:
 * `npx vitest run --config test/browser/vitest.config.ts`.
 */
export default defineConfig({
  test: {
    environment: "node",
    include: ["test/browser/**/*.test.ts"],
    globalSetup: ["./test/browser/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // .ci/run's VITEST_JSON names the main run's report: this run writes its own beside it.
    reporters: process.env.VITEST_JSON
      ? ["default", ["json", { outputFile: process.env.VITEST_JSON.replace(/(\.json)?$/, "-browser.json") }]]
      : ["default"],
  },
});
