/**
 * The catalogue sync's memory, measured in Node under the Workers limit: run with
 * `node --max-old-space-size=128 --expose-gc`, it syncs one shop of the Shopify fake with the
 * worker's own code (src/shopify/sync.ts) and prints the peak JS heap and buffers as JSON. D1 is a
 * stand-in holding that one shop and its token; the Admin API and Spaces are real HTTP servers.
 *
 * argv: shopifyOrigin s3Endpoint bucket shop accessToken [mode: auto | paged | bulk]
 */
import { syncShop } from "../../src/shopify/sync.ts";
import { TokenCipher } from "../../src/lib/token-cipher.ts";
import { setLogSink } from "../../src/lib/log.ts";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
const [shopifyOrigin, s3Endpoint, bucket, shop, accessToken, mode = "auto"] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  "auto" | "paged" | "bulk" | undefined,
];
const key = Buffer.alloc(32, 7).toString("base64");
const cipher = await TokenCipher.create(key);
const tokenRow = {
  key: `shopify:${shop}`,
  value: await cipher.encrypt(accessToken, `shopify:${shop}`),
  refresh_token: null,
  expires_at: null,
  refresh_expires_at: null,
  scope: "read_products",
  status: "active",
};
const shopRow = { shop, user_uuid: "00000000-0000-4000-8000-000000000050", uninstalled_at: null };

/** Just the statements a sync runs. */
const db = {
  prepare(sql: string) {
    const statement = {
      bind: () => statement,
      first: async () => (sql.includes("FROM shops") ? shopRow : sql.includes("FROM tokens") ? tokenRow : null),
      run: async () => ({ meta: { changes: 1 } }),
    };
    return statement;
  },
};
const env = {
  TOKENS_DB: db,
  SHOPIFY_API_KEY: "k",
  SHOPIFY_API_SECRET: "s",
  SHOPIFY_ADMIN_ORIGIN: `${shopifyOrigin}/{shop}`,
  SHOPIFY_API_VERSION: "2026-10",
  SPACES_KEY: "S3RVER",
  SPACES_SECRET: "S3RVER",
  SPACES_BUCKET: bucket,
  SPACES_ENDPOINT: s3Endpoint,
  TOKEN_ENCRYPTION_KEY: key,
} as unknown as Env;

setLogSink(() => undefined);
let peakHeap = 0;
let peakBuffers = 0;
const sample = () => {
  const m = process.memoryUsage();
  peakHeap = Math.max(peakHeap, m.heapUsed);
  peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
};
(globalThis as { gc?: () => void }).gc?.();
const baseline = process.memoryUsage().heapUsed;
const timer = setInterval(sample, 2);
const started = Date.now();
const result = await syncShop(env, shop, { mode });
clearInterval(timer);
sample();
console.log(
  JSON.stringify({
    products: result?.products,
    mode: result?.mode,
    apiCalls: result?.apiCalls,
    productsBytes: result?.productsBytes,
    ms: Date.now() - started,
    baselineHeapMiB: baseline / 1048576,
    peakHeapMiB: peakHeap / 1048576,
    peakArrayBuffersMiB: peakBuffers / 1048576,
    heapLimitMiB: 128,
  }),
);
process.exit(0);
