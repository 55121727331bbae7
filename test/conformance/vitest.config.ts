import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * The Spaces writer against a real S3 server that checks signatures and ACLs (Ceph's radosgw,
 * started by scripts/conformance.sh or .ci/run). Inside workerd, as in production.
 */
const need = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run scripts/conformance.sh, which starts radosgw and sets it`);
  return value;
};

const xmlBuilder = fileURLToPath(new URL("../../node_modules/@aws-sdk/xml-builder/dist-cjs/index.js", import.meta.url));

export default defineConfig({
  resolve: { alias: { "@aws-sdk/xml-builder": xmlBuilder } },
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "../../wrangler.toml" },
      miniflare: {
        bindings: {
          SPACES_ENDPOINT: need("RGW_ENDPOINT"),
          SPACES_KEY: need("RGW_ACCESS_KEY"),
          SPACES_SECRET: need("RGW_SECRET_KEY"),
          SPACES_BUCKET: process.env.RGW_BUCKET ?? "conformance",
          SPACES_REGION: "nyc3",
        },
      },
    }),
  ],
  test: {
    // .ci/run asks for a JSON report to print one "N passed, N failed" line.
    reporters: process.env.VITEST_JSON ? ["default", ["json", { outputFile: process.env.VITEST_JSON }]] : ["default"],
    root: fileURLToPath(new URL(".", import.meta.url)),
    include: ["*.test.ts"],
    testTimeout: 60_000,
  },
});
