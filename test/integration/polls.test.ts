import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import type { Job } from "../../src/jobs/queue-jobs";
import { SCHEDULE } from "../../src/jobs/schedule";
import { conversationKey, pageMetadataKey, shopProductsKey } from "../../src/spaces/keys";
import wranglerToml from "../../wrangler.toml?raw";
import {
  call,
  delivery,
  messageEvent,
  logsOfEachTest,
  control,
  installShop,
  loginFacebook,
  messengerWebhook,
  readJson,
  uniqueId,
  uniqueShop,
  waitFor,
} from "../helpers";

const logs = logsOfEachTest();

async function runCron(cron: string) {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron, scheduledTime: Date.now() }), env, ctx);
  await waitOnExecutionContext(ctx);
}

async function consume(jobs: Job[], attempts = 1) {
  const batch = createMessageBatch<Job>(
    "jobs",
    jobs.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts, body })),
  );
  // The pool's retry() drops its options: record what the consumer asked for.
  const delays: (number | undefined)[] = [];
  for (const message of batch.messages) {
    const original = message.retry.bind(message);
    message.retry = (opts) => {
      delays.push(opts?.delaySeconds);
      original(opts);
    };
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return { ...(await getQueueResult(batch, ctx)), delays };
}

describe("schedule", () => {
  it("wrangler.toml's crons are exactly the jobs the worker runs", () => {
    const crons = JSON.parse(/crons = (\[.*\])/.exec(wranglerToml)![1]!);
    expect(crons.sort()).toEqual(Object.keys(SCHEDULE).sort());
    expect(Object.values(SCHEDULE).map((s) => s.name)).toEqual([
      "shopify_daily_poll",
      "facebook_daily_poll",
      "d1_backup",
    ]);
  });
});

describe("daily polls", () => {
  it("the Shopify cron forgets webhook ids older than a week and keeps the recent ones", async () => {
    const shop = uniqueShop();
    const day = 24 * 60 * 60 * 1000;
    const ages = { old: 8 * day, recent: 6 * day, now: 0 };
    for (const [name, age] of Object.entries(ages)) {
      await env.TOKENS_DB.prepare(
        "INSERT INTO webhook_deliveries (id, topic, shop, received_at) VALUES (?1, 'products/update', ?2, ?3)",
      )
        .bind(`${shop}-${name}`, shop, Date.now() - age)
        .run();
    }
    await runCron("0 3 * * *");
    const { results } = await env.TOKENS_DB.prepare("SELECT id FROM webhook_deliveries WHERE shop = ?1 ORDER BY id")
      .bind(shop)
      .all<{ id: string }>();
    expect(results.map((r) => r.id)).toEqual([`${shop}-now`, `${shop}-recent`]);
    expect(logs.lines.some((l) => /Forgot [1-9]\d* Shopify webhook ids older than a week/.test(l))).toBe(true);
  });

  it("the Shopify cron enqueues every installed shop, and the consumer uploads what changed", async () => {
    const shops = [uniqueShop(), uniqueShop()];
    const installed = await Promise.all(shops.map((s) => installShop(s, { products: 1 })));
    for (const shop of shops) await control("shopify", "shop", { shop, products: 2, revision: 3 });
    const sent = vi.spyOn(env.JOBS, "sendBatch");
    await runCron("0 3 * * *");
    const jobs = sent.mock.calls.flatMap(([messages]) => [...messages].map((m) => m.body as Job));
    for (const shop of shops) expect(jobs).toContainEqual({ type: "shopify.sync", shop, reason: "poll" });
    sent.mockRestore();
    for (const [i, shop] of shops.entries()) {
      await waitFor(async () =>
        expect((await readJson(shopProductsKey(installed[i]!.body.user_uuid, shop)))?.count).toBe(2),
      );
      await waitFor(() => expect(logs.has(`Polled shop ${shop}: Success`)).toBe(true));
    }
  });

  it("the Facebook poll refreshes metadata and adds exactly the messages webhooks missed", async () => {
    const page = uniqueId();
    const customer = uniqueId();
    const { body } = await loginFacebook([{ id: page, name: "Poll Page" }]);
    const t0 = Date.parse("2026-11-20T10:00:00Z");
    const send = (mid: string, text: string, at: number, fromPage = false) =>
      control("graph", "message", { page, customer, mid, text, timestamp: at, fromPage });
    // Three messages at Meta; the webhook delivered only the first.
    await send("m_a", "hello", t0);
    await send("m_b", "anyone there?", t0 + 60_000);
    await send("m_c", "Yes, hi!", t0 + 120_000, true);
    await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_a", "hello", t0)]));
    await control("graph", "page", { id: page, name: "Poll Page Renamed" });

    const result = await consume([{ type: "facebook.poll", pageId: page }]);
    expect(result.explicitAcks).toEqual(["m0"]);
    expect(logs.has(`Polled metadata for page ${page}: Success`)).toBe(true);
    expect(logs.has(`Polled conversations for page ${page}: Success`)).toBe(true);
    expect(logs.has(`Uploaded ${pageMetadataKey(body.user_uuid, page)} to Spaces`)).toBe(true);
    const key = conversationKey(body.user_uuid, page, customer);
    await waitFor(async () => expect((await readJson(key))?.messages).toHaveLength(3));
    const file = await readJson(key);
    expect(file.messages.map((m: any) => [m.mid, m.from])).toEqual([
      ["m_a", "customer"],
      ["m_b", "customer"],
      ["m_c", "page"],
    ]);
    expect((await readJson(pageMetadataKey(body.user_uuid, page))).name).toBe("Poll Page Renamed");
  });

  it("a poll racing webhooks for the same conversation loses neither", async () => {
    const page = uniqueId();
    const customer = uniqueId();
    const { body } = await loginFacebook([{ id: page }]);
    const t0 = Date.parse("2026-11-21T10:00:00Z");
    for (let i = 0; i < 10; i++)
      await control("graph", "message", { page, customer, mid: `p_${i}`, text: `p${i}`, timestamp: t0 + i * 1000 });
    const webhooks = Array.from({ length: 10 }, (_, i) =>
      messengerWebhook(delivery(page, [messageEvent(page, customer, `w_${i}`, `w${i}`, t0 + i * 1000 + 500)])),
    );
    await Promise.all([consume([{ type: "facebook.poll", pageId: page }]), ...webhooks]);
    const key = conversationKey(body.user_uuid, page, customer);
    await waitFor(async () => expect((await readJson(key))?.messages).toHaveLength(20));
    const mids = (await readJson(key)).messages.map((m: any) => m.mid);
    expect(mids).toEqual(Array.from({ length: 10 }, (_, i) => [`p_${i}`, `w_${i}`]).flat());
  });

  it("the Facebook cron enqueues every linked page", async () => {
    const pages = [uniqueId(), uniqueId()];
    await loginFacebook(pages.map((id) => ({ id })));
    const sent = vi.spyOn(env.JOBS, "sendBatch");
    await runCron("30 3 * * *");
    const jobs = sent.mock.calls.flatMap(([messages]) => [...messages].map((m) => m.body as Job));
    sent.mockRestore();
    for (const pageId of pages) expect(jobs).toContainEqual({ type: "facebook.poll", pageId });
    for (const pageId of pages)
      await waitFor(() => expect(logs.has(`Polled conversations for page ${pageId}: Success`)).toBe(true));
  });
});

describe("queue consumer decisions", () => {
  it("success is acked; a 429 is retried after Retry-After; a 5xx is retried with backoff", async () => {
    const shop = uniqueShop();
    await installShop(shop, { products: 1 });
    expect((await consume([{ type: "shopify.sync", shop, reason: "poll" }])).explicitAcks).toEqual(["m0"]);

    await control("shopify", "faults", { faults: [{ kind: "429", times: 10, retryAfter: "30" }] });
    const throttled = await consume([{ type: "shopify.sync", shop, reason: "poll" }]);
    expect(throttled.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(["m0"]);
    expect(throttled.delays).toEqual([30]);
    expect(logs.has(`Polled shop ${shop}: Failed (PlatformError: Admin API answered 429)`)).toBe(true);

    await control("shopify", "faults", { faults: [{ kind: "500", times: 10 }] });
    const failing = await consume([{ type: "shopify.sync", shop, reason: "poll" }], 3);
    expect(failing.retryMessages).toHaveLength(1);
    expect(failing.delays[0]).toBeGreaterThanOrEqual(8);
  });

  it("a Retry-After longer than Queues allows is waited as the 12 hours it does allow", async () => {
    const shop = uniqueShop();
    await installShop(shop, { products: 1 });
    await control("shopify", "faults", { faults: [{ kind: "429", times: 10, retryAfter: "86400" }] });
    const throttled = await consume([{ type: "shopify.sync", shop, reason: "poll" }]);
    expect(throttled.retryMessages).toHaveLength(1);
    expect(throttled.delays).toEqual([43_200]);
    await control("shopify", "faults", { faults: [] });
  });

  it("a dead token ends the retries and marks the shop as needing a new install", async () => {
    const shop = uniqueShop();
    await installShop(shop, { products: 1 });
    await control("shopify", "expire-tokens", { shop });
    await env.TOKENS_DB.prepare("UPDATE tokens SET refresh_token = NULL WHERE key = ?1").bind(`shopify:${shop}`).run();
    const result = await consume([{ type: "shopify.sync", shop, reason: "poll" }]);
    expect(result.explicitAcks).toEqual(["m0"]);
    expect(result.retryMessages).toEqual([]);
    const row = await env.TOKENS_DB.prepare("SELECT status FROM tokens WHERE key = ?1")
      .bind(`shopify:${shop}`)
      .first<any>();
    expect(row.status).toBe("needs_reauth");
    const marked = `Token for ${shop} needs a new install`;
    expect(logs.lines.filter((l) => l.includes(marked))).toHaveLength(1);
    // The next poll stops cleanly, without calling Shopify: the token is already marked, nothing new to say.
    expect((await consume([{ type: "shopify.sync", shop, reason: "poll" }])).explicitAcks).toEqual(["m0"]);
    expect(logs.lines.filter((l) => l.includes(marked))).toHaveLength(1);
    expect(logs.has(`Polled shop ${shop}: Failed (PlatformError: token for ${shop} needs a new install)`)).toBe(true);
  });

  it("Meta token error 190 marks the page, throttling codes back off", async () => {
    const page = uniqueId();
    await loginFacebook([{ id: page }]);
    await control("graph", "faults", { faults: [{ kind: "throttle", times: 1 }] });
    const throttled = await consume([{ type: "facebook.poll", pageId: page }]);
    expect(throttled.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(["m0"]);
    expect(throttled.delays).toEqual([60]);
    await control("graph", "faults", { faults: [{ kind: "dead-token", times: 1 }] });
    const dead = await consume([{ type: "facebook.poll", pageId: page }]);
    expect(dead.explicitAcks).toEqual(["m0"]);
    const row = await env.TOKENS_DB.prepare("SELECT status FROM tokens WHERE key = ?1")
      .bind(`facebook:page:${page}`)
      .first<any>();
    expect(row.status).toBe("needs_reauth");
    expect(logs.has(`Polled metadata for page ${page}: Failed`)).toBe(true);
  });
});

describe("admin routes", () => {
  it.each([
    ["no token", {}],
    ["a wrong token", { authorization: "Bearer not-the-admin-token-at-all" }],
    ["a Basic header", { authorization: `Basic ${btoa("admin:test-admin-token-0123456789")}` }],
  ])("refuse %s with 401", async (_name, headers) => {
    for (const path of ["/admin/poll/shopify", "/admin/poll/facebook", "/admin/backup"]) {
      const res = await call(path, { method: "POST", headers });
      expect(res.status).toBe(401);
      expect((await res.json<any>()).error.code).toBe("unauthorized");
    }
  });

  it("run the poll fan-out on demand", async () => {
    const shop = uniqueShop();
    await installShop(shop);
    const res = await call("/admin/poll/shopify", {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token-0123456789" },
    });
    expect(res.status).toBe(202);
    expect((await res.json<any>()).enqueued).toBeGreaterThanOrEqual(1);
    await waitFor(() => expect(logs.has(`Polled shop ${shop}: Success`)).toBe(true));
  });
});
