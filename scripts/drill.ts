/**
 * `npm run drill`: the recovery drill on the local stack, with the Shopify and Graph API fakes.
 * Install a shop and log a page in, receive webhooks, back up, change tokens, lose both databases,
 * restore, then re-run both OAuth flows, webhooks and polls, and check UUIDs, the old session
 * cookie, the contract's log lines and every Spaces object. Each step is printed with its outcome
 * and time; the verdict ends it, and any failure exits non-zero.
 *
 * Spaces is the S3 stand-in, or a real S3 server when DRILL_SPACES_ENDPOINT, DRILL_SPACES_KEY,
 * DRILL_SPACES_SECRET and DRILL_SPACES_BUCKET are set (.ci/run points them at radosgw, which also
 * lets the drill check that every object is private).
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { GetObjectAclCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { startGraphFake } from "../test/fakes/graph.ts";
import { startS3Standin } from "../test/fakes/s3.ts";
import { startShopifyFake } from "../test/fakes/shopify.ts";
import { backup } from "./backup.ts";
import { remoteDrill } from "./drill-remote.ts";
import { restore } from "./restore.ts";
import { LOCAL_DIR, applyLocalMigrations, freePort, freshDevSecrets, startWorker } from "./lib/local-stack.ts";
import { d1Query, step } from "./lib/ops.ts";
import {
  control,
  installShop,
  loginFacebook,
  messageDelivery,
  messengerWebhookRequest,
  nameChangeDelivery,
  shopifyWebhookRequest,
} from "./lib/platform-client.ts";

if (process.argv.includes("--remote")) {
  const need = (name: string) => {
    const value = process.env[name];
    if (!value) {
      console.error(`${name} is not set (see scripts/drill-remote.ts for what the remote drill needs)`);
      process.exit(2);
    }
    return value;
  };
  if (!process.argv.includes("--yes")) {
    console.error(
      "The remote drill restores over the live databases (from a backup it makes seconds before; token and link\n" +
        "changes in between are replayed from the journal, sessions opened in those seconds are not).\n" +
        "Run it at a quiet moment, with: npm run drill -- --remote --yes",
    );
    process.exit(2);
  }
  need("TOKEN_ENCRYPTION_KEY"); // backup and restore sign and check with it
  const started = Date.now();
  const failures = await remoteDrill(
    { remote: true },
    {
      workerUrl: need("DRILL_WORKER_URL").replace(/\/+$/, ""),
      secrets: {
        SHOPIFY_API_SECRET: need("SHOPIFY_API_SECRET"),
        FACEBOOK_APP_SECRET: need("FACEBOOK_APP_SECRET"),
        ADMIN_TOKEN: need("ADMIN_TOKEN"),
      },
      shop: process.env.DRILL_SHOP,
      page: process.env.DRILL_PAGE,
      psid: process.env.DRILL_PSID,
    },
  ).catch((err) => [`stopped: ${err instanceof Error ? err.message : String(err)}`]);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    failures.length ? `Verdict: FAILED (${failures.join("; ")}) in ${seconds} s` : `Verdict: PASSED in ${seconds} s`,
  );
  process.exit(failures.length ? 1 : 0);
}

const started = Date.now();
const dir = join(LOCAL_DIR, "drill");
rmSync(dir, { recursive: true, force: true });
const persistTo = join(dir, ".wrangler", "state");
const target = { remote: false, persistTo };
const secrets = freshDevSecrets();
const failures: string[] = [];
const logLines: string[] = [];
const closers: (() => Promise<void>)[] = [];

function check(what: string, ok: boolean, detail = "") {
  console.log(`  ${ok ? "✓" : "✗"} ${what}${detail ? `: ${detail}` : ""}`);
  if (!ok) failures.push(what);
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

const sawLog = (text: string) => logLines.some((l) => l.includes(text));

/**
 * The token keys now stored. d1Query blocks the event loop while wrangler runs; the pause after it
 * lets fetch see the keep-alive connections the worker closed meanwhile, before reusing one.
 */
async function tokenKeys(): Promise<string[]> {
  const keys = d1Query<{ key: string }>("TOKENS_DB", "SELECT key FROM tokens ORDER BY key", target).map((r) => r.key);
  await new Promise((r) => setTimeout(r, 200));
  return keys;
}

/** Sends a platform's request to the worker; anything but 200 stops the drill. */
async function expectOk(request: Request | Promise<Request>) {
  const res = await fetch(await request);
  if (res.status !== 200) throw new Error(`answered ${res.status}: ${await res.text()}`);
}

async function main() {
  // ── the stack
  const external = process.env.DRILL_SPACES_ENDPOINT;
  const bucket = external ? (process.env.DRILL_SPACES_BUCKET ?? "conformance") : "drill";
  const s3 = external
    ? { endpoint: external, close: async () => undefined }
    : await step("start the S3 stand-in", () => startS3Standin({ bucket, directory: undefined }));
  closers.push(s3.close);
  const spacesKey = external ? process.env.DRILL_SPACES_KEY! : "S3RVER";
  const spacesSecret = external ? process.env.DRILL_SPACES_SECRET! : "S3RVER";
  Object.assign(process.env, {
    // The backup and restore scripts sign and check with the drill worker's key.
    TOKEN_ENCRYPTION_KEY: secrets.TOKEN_ENCRYPTION_KEY,
    SPACES_ENDPOINT: s3.endpoint,
    SPACES_KEY: spacesKey,
    SPACES_SECRET: spacesSecret,
    SPACES_BUCKET: bucket,
  });
  const shopify = await step("start the Shopify fake", () =>
    startShopifyFake({ apiKey: secrets.SHOPIFY_API_KEY!, apiSecret: secrets.SHOPIFY_API_SECRET! }),
  );
  const graph = await step("start the Graph API fake", () =>
    startGraphFake({ appId: secrets.FACEBOOK_APP_ID!, appSecret: secrets.FACEBOOK_APP_SECRET!, version: "v25.0" }),
  );
  closers.push(shopify.close, graph.close);
  const port = Number(process.env.DRILL_PORT ?? (await freePort()));
  const origin = `http://127.0.0.1:${port}`;
  const vars = {
    ...secrets,
    SPACES_KEY: spacesKey,
    SPACES_SECRET: spacesSecret,
    SPACES_BUCKET: bucket,
    SPACES_ENDPOINT: s3.endpoint,
    SHOPIFY_ADMIN_ORIGIN: `${shopify.origin}/{shop}`,
    FACEBOOK_GRAPH_ORIGIN: graph.origin,
    FACEBOOK_DIALOG_ORIGIN: graph.origin,
    PUBLIC_URL: origin,
  };
  const boot = async () => {
    const worker = await startWorker({ port, vars, persistTo, log: (line) => logLines.push(line) });
    return worker;
  };
  await step("apply D1 migrations to fresh local databases", () => applyLocalMigrations(persistTo));
  let worker = await step(`start the worker (wrangler dev) on ${origin}`, boot);
  closers.unshift(() => worker.stop());

  /** A signed products/update from Shopify for this shop. */
  const productUpdate = (shop: string, payload: unknown) =>
    shopifyWebhookRequest(origin, secrets as any, shop, "products/update", payload, crypto.randomUUID());
  const shopA = "drill-alpha.myshopify.com";
  const shopB = "drill-bravo.myshopify.com";
  const shopC = "drill-charlie.myshopify.com";
  const pageA = "700000000000001";
  const pageB = "700000000000002";
  const customer = "800000000000001";
  for (const shop of [shopA, shopB, shopC])
    await control(shopify.origin, "shop", { shop, products: 3, restoreRate: 100_000 });
  for (const [id, name] of [
    [pageA, "Drill Shoes"],
    [pageB, "Drill Hats"],
  ] as const)
    await control(graph.origin, "page", { id, name });

  // ── before the loss
  console.log("\nBefore the loss");
  const a = await step(`install ${shopA}`, () => installShop(origin, shopify.origin, secrets as any, shopA));
  const uuidA: string = a.body.user_uuid;
  // Each callback gives the browser a new session id: it keeps the latest cookie.
  let cookieA = a.cookie;
  const fbA = await step(`log page ${pageA} in, same browser`, () =>
    loginFacebook(origin, graph.origin, [pageA], cookieA),
  );
  cookieA = fbA.cookie;
  check("Shopify install and Facebook login share one UUID", fbA.body.user_uuid === uuidA, uuidA);
  await step(`install ${shopC} (to be uninstalled after the backup)`, () =>
    installShop(origin, shopify.origin, secrets as any, shopC),
  );
  await control(shopify.origin, "shop", { shop: shopA, products: 4, revision: 1 });
  await step("Shopify products/update webhook", async () => {
    await expectOk(productUpdate(shopA, { id: 1000001, title: "Product 1 rev 1" }));
  });
  await step("Messenger message from a customer", async () => {
    await expectOk(
      await messengerWebhookRequest(
        origin,
        secrets as any,
        messageDelivery(pageA, customer, "m_before", "Do you ship to Lisbon?"),
      ),
    );
  });
  const objects = await import("../src/storage/keys.ts");
  const { spaces } = await (await import("./lib/ops.ts")).scriptSpaces(target);
  await step("wait for the webhooks' objects in Spaces", async () => {
    await waitFor(
      "products file",
      async () => JSON.parse((await spaces.getText(objects.shopProductsKey(uuidA, shopA))) ?? "{}").count === 4,
    );
    await waitFor(
      "conversation file",
      async () => (await spaces.getText(objects.conversationKey(uuidA, pageA, customer))) !== null,
    );
  });

  // ── backup, then more token changes
  console.log("\nBackup");
  await backup(target);
  console.log("\nAfter the backup");
  const b = await step(`install ${shopB} in a new browser`, () =>
    installShop(origin, shopify.origin, secrets as any, shopB),
  );
  const uuidB: string = b.body.user_uuid;
  await step(`log page ${pageB} in with that browser`, () => loginFacebook(origin, graph.origin, [pageB], b.cookie));
  // The moment the point-in-time rehearsal goes back to: shopC still installed, shopB already there.
  const keysAtMoment = await tokenKeys();
  await new Promise((r) => setTimeout(r, 20));
  const moment = Date.now();
  await new Promise((r) => setTimeout(r, 20));
  await step(`uninstall ${shopC} (app/uninstalled)`, async () => {
    await expectOk(
      await shopifyWebhookRequest(
        origin,
        secrets as any,
        shopC,
        "app/uninstalled",
        { domain: shopC, myshopify_domain: shopC },
        crypto.randomUUID(),
      ),
    );
  });
  const keysBefore = await tokenKeys();

  // ── the loss
  console.log("\nThe loss");
  await step("stop the worker", () => worker.stop());
  await step("delete both local D1 databases", () =>
    rmSync(join(persistTo, "v3", "d1"), { recursive: true, force: true }),
  );

  // ── restore
  console.log("\nRestore");
  const restoreStarted = Date.now();
  const reports = await restore(target);
  check("journal replayed after the dump", (reports.find((r) => r.database === "tokens")?.journalEntries ?? 0) > 0);
  worker = await step("start the worker again", boot);
  const rto = await step("first webhook after the restore", async () => {
    await expectOk(productUpdate(shopA, { id: 1000002, title: "after restore" }));
    return Date.now() - restoreStarted;
  });

  // ── after the restore
  console.log("\nAfter the restore");
  const keysAfter = await tokenKeys();
  check(
    "every token key as before the loss",
    JSON.stringify(keysAfter) === JSON.stringify(keysBefore),
    keysAfter.join(", "),
  );
  check(`the token of ${shopB}, written after the backup, survived`, keysAfter.includes(`shopify:${shopB}`));
  check(`the token of page ${pageB}, written after the backup, survived`, keysAfter.includes(`facebook:page:${pageB}`));
  check(`the removal of ${shopC}'s token after the backup survived`, !keysAfter.includes(`shopify:${shopC}`));

  const again = await step(`re-install ${shopA} with the old session cookie`, () =>
    installShop(origin, shopify.origin, secrets as any, shopA, cookieA),
  );
  check("the old session cookie still works", !again.newCookie);
  cookieA = again.cookie;
  check(`${shopA} keeps its user UUID`, again.body.user_uuid === uuidA, again.body.user_uuid);
  const fbAgain = await step(`log page ${pageA} in again`, () => loginFacebook(origin, graph.origin, [pageA], cookieA));
  check(`page ${pageA} keeps its user UUID`, fbAgain.body.user_uuid === uuidA);
  const bAgain = await step(`re-install ${shopB} from a new browser`, () =>
    installShop(origin, shopify.origin, secrets as any, shopB),
  );
  check(
    `${shopB} (installed after the backup) keeps its user UUID`,
    bAgain.body.user_uuid === uuidB,
    bAgain.body.user_uuid,
  );

  await control(shopify.origin, "shop", { shop: shopA, products: 5, revision: 2 });
  await step("Shopify products/update webhook", async () => {
    await expectOk(productUpdate(shopA, { id: 1000004, title: "Product 4 rev 2" }));
    await waitFor(
      "5 products",
      async () => JSON.parse((await spaces.getText(objects.shopProductsKey(uuidA, shopA))) ?? "{}").count === 5,
    );
  });
  await control(graph.origin, "page", { id: pageA, name: "Drill Shoes Renamed" });
  await step("page name change", async () => {
    await expectOk(
      await messengerWebhookRequest(origin, secrets as any, nameChangeDelivery(pageA, "Drill Shoes Renamed")),
    );
    await waitFor(
      "new name",
      async () =>
        JSON.parse((await spaces.getText(objects.pageMetadataKey(uuidA, pageA))) ?? "{}").name ===
        "Drill Shoes Renamed",
    );
  });
  await step("Messenger message", async () => {
    await expectOk(
      await messengerWebhookRequest(
        origin,
        secrets as any,
        messageDelivery(pageA, customer, "m_after", "And to Porto?"),
      ),
    );
    await waitFor(
      "2 messages",
      async () =>
        JSON.parse((await spaces.getText(objects.conversationKey(uuidA, pageA, customer))) ?? "{}").messages?.length ===
        2,
    );
  });
  await control(graph.origin, "message", {
    page: pageA,
    customer,
    mid: "m_missed",
    text: "missed by webhooks",
    timestamp: Date.now(),
  });
  await step("both polls (Cron Triggers through /__scheduled)", async () => {
    for (const cron of ["0+3+*+*+*", "30+3+*+*+*"]) {
      const res = await fetch(`${origin}/__scheduled?cron=${cron}`);
      if (!res.ok) throw new Error(`/__scheduled answered ${res.status}`);
    }
    await waitFor(
      "polls",
      async () =>
        sawLog(`Polled shop ${shopA}: Success`) &&
        sawLog(`Polled conversations for page ${pageA}: Success`) &&
        sawLog(`Polled metadata for page ${pageB}: Success`),
    );
    await waitFor(
      "missed message",
      async () =>
        JSON.parse((await spaces.getText(objects.conversationKey(uuidA, pageA, customer))) ?? "{}").messages?.length ===
        3,
    );
  });

  // ── Spaces objects and log lines
  console.log("\nSpaces objects (exact keys, readable, expected content)");
  const expected: [string, (v: any) => boolean][] = [
    [objects.shopMetadataKey(uuidA, shopA), (v) => v.shop === shopA],
    [objects.shopProductsKey(uuidA, shopA), (v) => v.count === 5],
    [objects.pageMetadataKey(uuidA, pageA), (v) => v.name === "Drill Shoes Renamed"],
    [
      objects.conversationKey(uuidA, pageA, customer),
      // Each message once. Graph's created_time has whole seconds, so a polled message sent within the
      // same second as a webhook's may sort before it: the set is checked, not the order.
      (v) =>
        v.messages
          .map((m: any) => m.mid)
          .sort()
          .join() === "m_after,m_before,m_missed",
    ],
    [objects.shopMetadataKey(uuidB, shopB), (v) => v.shop === shopB],
    [objects.shopProductsKey(uuidB, shopB), (v) => v.count === 3],
    [objects.pageMetadataKey(uuidB, pageB), (v) => v.name === "Drill Hats"],
  ];
  for (const [key, ok] of expected) {
    const text = await spaces.getText(key);
    let good = false;
    try {
      good = text !== null && ok(JSON.parse(text));
    } catch {
      good = false;
    }
    check(key, good);
  }
  if (external) {
    const client = new S3Client({
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: "nyc3",
      credentials: { accessKeyId: spacesKey, secretAccessKey: spacesSecret },
    });
    const backups = [
      ...(await spaces.listKeys("backups/d1/tokens/")).slice(-2),
      ...(await spaces.listKeys("backups/journal/")).slice(-1),
    ];
    for (const key of [...expected.map(([k]) => k), ...backups]) {
      const acl = await client.send(new GetObjectAclCommand({ Bucket: bucket, Key: key }));
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      const anonymous = await fetch(`${s3.endpoint}/${bucket}/${key}`);
      check(
        `${key} is private, application/json`,
        anonymous.status === 403 &&
          !acl.Grants?.some((g) => g.Grantee?.URI?.includes("AllUsers")) &&
          head.ContentType === "application/json",
      );
    }
  } else {
    console.log(
      "  (privacy not checked here: the S3 stand-in has no ACLs; .ci/run runs this drill on radosgw, which does)",
    );
  }
  const contractLines = [
    `Webhook registered for ${shopA}: products/update`,
    `Uploaded data to ${objects.shopMetadataKey(uuidA, shopA)} and ${objects.shopProductsKey(uuidA, shopA)} for ${shopA}`,
    `Webhook subscription for 'name,category,messages' already exists for page ${pageA}`,
    `Uploaded ${objects.pageMetadataKey(uuidA, pageA)} to Spaces`,
    `Received webhook event for page ${pageA}: `,
    `New conversation started for sender ${customer} on page ${pageA}`,
    `Received products/update event from ${shopA}: `,
    `Polled metadata for page ${pageA}: Success`,
    `Polled conversations for page ${pageA}: Success`,
  ];
  console.log("\nLog lines of the contract");
  for (const line of contractLines) check(line, sawLog(line));
  const leaked = [
    secrets.SHOPIFY_API_SECRET!,
    secrets.FACEBOOK_APP_SECRET!,
    secrets.ADMIN_TOKEN!,
    secrets.TOKEN_ENCRYPTION_KEY!,
    cookieA,
  ].filter((s) => logLines.some((l) => l.includes(s)));
  check("no secret or cookie in the worker's log", leaked.length === 0);

  // ── point in time: back to the moment before shopC's uninstall, then forward to the latest again
  console.log(`\nPoint-in-time restore (npm run restore -- --at ${new Date(moment).toISOString()})`);
  const keysNow = await tokenKeys();
  const [dry] = await restore(target, { at: moment, databases: ["tokens"], dryRun: true });
  check(
    "the dry run plans the token keys of that moment",
    JSON.stringify(dry!.tokenKeys) === JSON.stringify(keysAtMoment),
  );
  await step("stop the worker", () => worker.stop());
  await restore(target, { at: moment });
  const keysThen = await tokenKeys();
  check(
    `every token key as at that moment (${shopC} still installed)`,
    JSON.stringify(keysThen) === JSON.stringify(keysAtMoment),
    keysThen.join(", "),
  );
  await restore(target);
  const keysLatest = await tokenKeys();
  check(
    "restoring the latest state again gives today's token keys",
    JSON.stringify(keysLatest) === JSON.stringify(keysNow),
  );
  worker = await step("start the worker again", boot);

  // The operator's remote drill, rehearsed here on the local stack (only its --remote flags differ).
  console.log("\nRehearsal of the remote drill (npm run drill -- --remote) on this stack");
  const remoteFailures = await remoteDrill(target, {
    workerUrl: origin,
    secrets: secrets as any,
    shop: shopA,
    page: pageA,
    psid: customer,
    waitMs: 20_000,
    aroundRestore: {
      before: () => worker.stop(),
      after: async () => {
        worker = await boot();
      },
    },
  });
  for (const f of remoteFailures) failures.push(`remote drill rehearsal: ${f}`);
  return { rto };
}

main()
  .then(async ({ rto }) => {
    for (const close of closers) await close().catch(() => undefined);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`\nRTO (restore start to first webhook answered): ${(rto / 1000).toFixed(1)} s`);
    if (failures.length) {
      console.log(`Verdict: FAILED (${failures.length} checks) in ${seconds} s`);
      for (const f of failures) console.log(`  ✗ ${f}`);
      process.exit(1);
    }
    console.log(`Verdict: PASSED in ${seconds} s`);
    process.exit(0);
  })
  .catch(async (err) => {
    console.error(`\nDrill stopped: ${err instanceof Error ? err.message : String(err)}`);
    const tail = logLines.slice(-15).join("\n");
    if (tail) console.error(`Last worker log lines:\n${tail}`);
    for (const close of closers) await close().catch(() => undefined);
    console.log("Verdict: FAILED");
    process.exit(1);
  });
