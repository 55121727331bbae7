/**
 * `npm start`: the worker on http://localhost:8787 (PORT overrides) with local D1 (migrations
 * applied), an S3 stand-in for Spaces (data in .local/s3), and `.dev.vars` made when missing.
 * `npm start -- --fakes` also starts the Shopify and Graph API fakes and points the worker at them.
 * PORT, S3_PORT, SHOPIFY_FAKE_PORT and GRAPH_FAKE_PORT move the servers off 8787, 9000, 9001 and 9002.
 * Ctrl-C stops everything it started.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startGraphFake } from "../dev/fakes/graph.ts";
import { startS3Standin } from "../dev/fakes/s3.ts";
import { startShopifyFake } from "../dev/fakes/shopify.ts";
import { control } from "../dev/platform-client.ts";
import { LOCAL_BUCKET, LOCAL_DIR, applyLocalMigrations, ensureDevVars, startWorker } from "../dev/local-stack.ts";
import { DEFAULT_PORT, scriptArgs } from "./lib/args.ts";

const USAGE = "usage: npm start [-- --fakes]   (the local stack only: --local is the default, --remote is refused)";
const { values, where } = scriptArgs(USAGE, { fakes: { type: "boolean" } });
if (where.remote) {
  console.error(`npm start runs the local worker; a deployed one needs no starting.\n${USAGE}`);
  process.exit(2);
}
const port = Number(process.env.PORT ?? DEFAULT_PORT);
const s3Port = Number(process.env.S3_PORT ?? 9000);
const withFakes = values.fakes === true;
/** What the fakes offer a newcomer to click through. */
const DEMO_SHOP = "acme-7cu19ngr.myshopify.com";
const DEMO_PAGE = { id: "101000000000001", name: "Acme Shoes" };

const { vars, created } = ensureDevVars();
console.log(created ? "Created .dev.vars with fresh development secrets" : "Using existing .dev.vars");

mkdirSync(join(LOCAL_DIR, "s3"), { recursive: true });
const s3 = await startS3Standin({
  bucket: vars.SPACES_BUCKET ?? LOCAL_BUCKET,
  port: s3Port,
  directory: join(LOCAL_DIR, "s3"),
});
console.log(
  `S3 stand-in for Spaces on ${s3.endpoint} (bucket ${vars.SPACES_BUCKET ?? LOCAL_BUCKET}, data in .local/s3)`,
);

console.log("Applying D1 migrations (tokens, sessions) locally");
applyLocalMigrations();

const overrides: Record<string, string> = { SPACES_ENDPOINT: s3.endpoint };
const closers: (() => Promise<void>)[] = [s3.close];
if (withFakes) {
  const shopify = await startShopifyFake({
    apiKey: vars.SHOPIFY_API_KEY!,
    apiSecret: vars.SHOPIFY_API_SECRET!,
    port: Number(process.env.SHOPIFY_FAKE_PORT ?? 9001),
  });
  const graph = await startGraphFake({
    appId: vars.FACEBOOK_APP_ID!,
    appSecret: vars.FACEBOOK_APP_SECRET!,
    version: "v25.0",
    port: Number(process.env.GRAPH_FAKE_PORT ?? 9002),
  });
  // Something to install and to log in with: a shop with products, and a Facebook Page.
  await control(shopify.origin, "shop", { shop: DEMO_SHOP, products: 5 });
  await control(graph.origin, "page", DEMO_PAGE);
  overrides.SHOPIFY_ADMIN_ORIGIN = `${shopify.origin}/{shop}`;
  overrides.FACEBOOK_GRAPH_ORIGIN = graph.origin;
  overrides.FACEBOOK_DIALOG_ORIGIN = graph.origin;
  closers.push(shopify.close, graph.close);
  console.log(`Shopify fake on ${shopify.origin}, Graph API fake on ${graph.origin}`);
}

const worker = await startWorker({ port, vars: overrides, log: (line) => console.log(`[worker] ${line}`) });
closers.unshift(worker.stop);
const o = `http://localhost:${port}`;
console.log(`
Worker ready on ${o}. Open these in a browser:
  ${o}/shopify/${DEMO_SHOP.replace(".myshopify.com", "")}/login     install the app on a shop (Shopify OAuth)${withFakes ? ", approve at the fake Shopify" : ""}
  ${o}/facebook/login                  connect Facebook Pages${withFakes ? ` (the fake offers "${DEMO_PAGE.name}")` : ""}, in the same browser: one account
  ${o}/admin                           the operator console: sign in with ADMIN_TOKEN from .dev.vars
  ${o}/health                          D1 and Spaces status
${
  withFakes
    ? ""
    : "  (without --fakes the login links go to the real Shopify and Facebook: npm start -- --fakes for a local round trip)\n"
}Operator tools:
  npm run status                       the console's view in this terminal
  ${o}/__scheduled?cron=0+3+*+*+*      run the Shopify daily poll now
  ${o}/__scheduled?cron=30+3+*+*+*     run the Facebook daily poll now
  curl -X POST -H "Authorization: Bearer $ADMIN_TOKEN" ${o}/admin/poll/shopify   (ADMIN_TOKEN is in .dev.vars)
Ctrl-C stops the worker and the S3 stand-in${withFakes ? " and the fakes" : ""}.`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  console.log("\nStopping...");
  for (const close of closers) await close().catch(() => undefined);
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
worker.child.on("exit", (code) => {
  if (!stopping) {
    console.error(`wrangler dev exited (${code})`);
    void shutdown();
  }
});
