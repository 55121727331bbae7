import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { conversationStub, type Conversation } from "../../src/conversations/durable-object";
import type { ConversationMessage } from "../../src/conversations/messages";
import type { Job } from "../../src/jobs/queue-jobs";
import { conversationKey, pageMetadataKey } from "../../src/spaces/keys";
import { TEST_SECRETS } from "../env";
import {
  call,
  control,
  cookieOf,
  databaseSnapshot,
  delivery,
  fakeState,
  logsOfEachTest,
  messageEvent,
  messengerWebhook,
  metaCallback,
  readJson,
  signedRequest,
  spaces,
  spacesSnapshot,
  uniqueId,
  consumeJobs,
  waitFor,
  CONTRACT_PAGE_FIELDS,
} from "../helpers";

const logs = logsOfEachTest();
const ADMIN = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };

/** A Facebook login by this app-scoped user, granting these pages, from this browser (or a fresh one). */
async function login(pageIds: string[], opts: { user?: string; cookie?: string | null; accept?: string } = {}) {
  for (const id of pageIds) await control("graph", "page", { id });
  const start = await call("/facebook/login", { headers: opts.cookie ? { cookie: `__Host-sid=${opts.cookie}` } : {} });
  const cookie = cookieOf(start) ?? opts.cookie!;
  const state = new URL(start.headers.get("location")!).searchParams.get("state")!;
  const { code, user } = await control("graph", "code", { pages: pageIds, user: opts.user ?? uniqueId() });
  const res = await call(`/facebook/callback?code=${code}&state=${state}`, {
    headers: { cookie: `__Host-sid=${cookie}`, ...(opts.accept ? { accept: opts.accept } : {}) },
  });
  // The callback binds the session and rotates its id: the browser keeps the new cookie.
  return {
    res,
    cookie: cookieOf(res) ?? cookie,
    user: user as string,
    body: opts.accept ? null : ((await res.json()) as any),
  };
}

const now = () => Math.floor(Date.now() / 1000);

/** A delivery built and signed by the Graph fake, as Meta sends it; posted to the worker. */
async function fakeDelivery(events: unknown[], entryPerEvent = false) {
  const { body, signature } = await control("graph", "delivery", { events, entryPerEvent });
  return call("/facebook/webhook", {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "x-hub-signature-256": signature },
  });
}

const tokenKeys = async (keys: string[]) =>
  (
    await env.TOKENS_DB.prepare(`SELECT key FROM tokens WHERE key IN (${keys.map(() => "?").join(",")})`)
      .bind(...keys)
      .all<{ key: string }>()
  ).results.map((r) => r.key);

const folder = (uuid: string, page: string) => pageMetadataKey(uuid, page).replace("page_metadata.json", "");

describe("Data Deletion Request callback", () => {
  it("deletes a merchant's two pages through the queue; the status says done; the pages are not written again", async () => {
    const [a, b, customer] = [uniqueId(), uniqueId(), uniqueId()];
    const { body, user } = await login([a, b]);
    const uuid = body.user_uuid;
    for (const page of [a, b]) {
      expect(
        (await messengerWebhook(delivery(page, [messageEvent(page, customer, `m_${page}`, "hello")]))).status,
      ).toBe(200);
    }
    for (const page of [a, b])
      await waitFor(async () => expect(await readJson(conversationKey(uuid, page, customer))).not.toBeNull());

    const signed = await signedRequest({ algorithm: "HMAC-SHA256", issued_at: now(), user_id: user });
    const res = await metaCallback("/facebook/data-deletion", signed);
    expect(res.status).toBe(200);
    const answer = await res.json<{ url: string; confirmation_code: string }>();
    expect(answer.confirmation_code).toMatch(/^[0-9a-f]{32}$/);
    expect(answer.url).toBe(`https://worker.test/facebook/data-deletion/${answer.confirmation_code}`);
    // Meta sending the same request again: the same code, one deletion.
    const again = await (await metaCallback("/facebook/data-deletion", signed)).json<{ confirmation_code: string }>();
    expect(again.confirmation_code).toBe(answer.confirmation_code);

    const statusPath = new URL(answer.url).pathname;
    await waitFor(async () => expect((await (await call(statusPath)).json<any>()).status).toBe("done"));
    const status = await (await call(statusPath)).json<any>();
    expect(status.deleted).toEqual({ pages: 2, tokens: 3, conversations: 2, objects: 4 });
    expect(await tokenKeys([`facebook:page:${a}`, `facebook:page:${b}`, `facebook:user:${user}`])).toEqual([]);
    for (const page of [a, b]) expect(await spaces().listKeys(folder(uuid, page))).toEqual([]);
    const html = await call(statusPath, { headers: { accept: "text/html" } });
    expect(html.headers.get("content-type")).toMatch(/text\/html/);
    const text = await html.text();
    expect(text).toContain("Done");
    expect(text).toContain(answer.confirmation_code);
    expect(text).not.toContain("hello");

    // Further messages to those pages write nothing.
    const later = await messengerWebhook(delivery(a, [messageEvent(a, customer, "m_after", "still there?")]));
    expect((await later.json<any>()).unlinked).toBe(1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await spaces().listKeys(folder(uuid, a))).toEqual([]);
    expect(logs.lines.filter((l) => l.includes(`Data deletion request ${answer.confirmation_code} done`))).toHaveLength(
      1,
    );
  });

  it("forgets a conversation held only in its Durable Object (no file yet); a later upload writes nothing", async () => {
    const [page, customer] = [uniqueId(), uniqueId()];
    const { body, user } = await login([page]);
    const stub = conversationStub(env, page, customer);
    // Merged as a webhook does, with the upload not yet run: the message is only in the object.
    await runInDurableObject(stub, async (conversation: Conversation, state) => {
      const message: ConversationMessage = {
        ...{ mid: "m_unsent", timestamp: Date.now(), from: "customer", text: "not uploaded yet" },
        ...{ attachments: null, quick_reply: null, reply_to: null, postback: null },
      };
      await conversation.merge({ pageId: page, customerId: customer, messages: [message] });
      await state.storage.deleteAlarm();
    });
    expect(await readJson(conversationKey(body.user_uuid, page, customer))).toBeNull();

    const signed = await signedRequest({ algorithm: "HMAC-SHA256", issued_at: now(), user_id: user });
    const { confirmation_code: code } = await (await metaCallback("/facebook/data-deletion", signed)).json<any>();
    await waitFor(async () =>
      expect((await (await call(`/facebook/data-deletion/${code}`)).json<any>()).status).toBe("done"),
    );
    const status = await (await call(`/facebook/data-deletion/${code}`)).json<any>();
    expect(status.deleted).toMatchObject({ pages: 1, conversations: 1 });
    expect(
      await runInDurableObject(stub, (_, state) => state.storage.sql.exec("SELECT * FROM messages").toArray()),
    ).toEqual([]);
    // Nothing left to upload, even once the page is linked again and an upload is run anyway.
    expect(await runDurableObjectAlarm(stub)).toBe(false);
    const again = await login([page]);
    await runInDurableObject(stub, (conversation: Conversation) => conversation.alarm());
    for (const uuid of [body.user_uuid, again.body.user_uuid])
      expect(await readJson(conversationKey(uuid, page, customer))).toBeNull();
  });

  it("a queued deletion whose record was lost (D1 restored to before it) is still carried out", async () => {
    const page = uniqueId();
    const { body, user } = await login([page]);
    const code = "ab".repeat(16);
    const job: Job = {
      type: "facebook.data_deletion",
      code,
      facebookUserId: user,
      issuedAt: now(),
      userUuid: body.user_uuid,
    };
    expect((await consumeJobs([job])).explicitAcks).toEqual(["m0"]);
    expect(await tokenKeys([`facebook:page:${page}`])).toEqual([]);
    expect(await spaces().listKeys(folder(body.user_uuid, page))).toEqual([]);
    expect((await (await call(`/facebook/data-deletion/${code}`)).json<any>()).status).toBe("done");
  });

  it("a user the app never saw still gets a code, with nothing deleted", async () => {
    const res = await metaCallback(
      "/facebook/data-deletion",
      await signedRequest({ algorithm: "HMAC-SHA256", issued_at: now(), user_id: uniqueId() }),
    );
    expect(res.status).toBe(200);
    const { url } = await res.json<{ url: string }>();
    const status = await (await call(new URL(url).pathname, { headers: { accept: "application/json" } })).json<any>();
    expect(status).toMatchObject({ status: "done", deleted: { pages: 0, tokens: 0, conversations: 0, objects: 0 } });
  });

  it("an unknown or malformed code is 404", async () => {
    for (const code of ["0".repeat(32), "nope", "..%2F..%2Fadmin"]) {
      const res = await call(`/facebook/data-deletion/${code}`);
      expect(res.status).toBe(404);
      expect((await res.json<any>()).error.code).toBe("not_found");
    }
  });

  it("a forged, expired or malformed signed_request gets 4xx and changes nothing", async () => {
    const page = uniqueId();
    const { user } = await login([page]);
    const good = { algorithm: "HMAC-SHA256", issued_at: now(), user_id: user };
    const db = await databaseSnapshot();
    const objects = await spacesSnapshot();
    for (const path of ["/facebook/data-deletion", "/facebook/deauthorize"] as const) {
      for (const [signed, status] of [
        [await signedRequest(good, "someone-elses-app-secret"), 401],
        [await signedRequest({ ...good, issued_at: now() - 3 * 86400 }), 401],
        [await signedRequest({ ...good, algorithm: "HMAC-MD5" }), 401],
        ["not-a-signed-request", 400],
        ["", 400],
      ] as const) {
        const res = await metaCallback(path, signed);
        expect(res.status, `${path} ${signed}`).toBe(status);
        expect((await res.json<any>()).error.code).toBe(status === 401 ? "unauthorized" : "bad_request");
      }
    }
    expect(await databaseSnapshot()).toBe(db);
    expect(await spacesSnapshot()).toBe(objects);
  });
});

describe("deauthorize callback", () => {
  it("removes the user's tokens; the page stops being written; its files stay", async () => {
    const [page, customer] = [uniqueId(), uniqueId()];
    const { body, user } = await login([page]);
    const key = conversationKey(body.user_uuid, page, customer);
    await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_1", "hi")]));
    await waitFor(async () => expect((await readJson(key))?.messages).toHaveLength(1));

    const res = await metaCallback(
      "/facebook/deauthorize",
      await signedRequest({ algorithm: "HMAC-SHA256", issued_at: now(), user_id: user }),
    );
    expect(res.status).toBe(200);
    expect(await res.json<any>()).toEqual({ ok: true, pages: 1, tokens_removed: 2 });
    expect(await tokenKeys([`facebook:page:${page}`, `facebook:user:${user}`])).toEqual([]);
    const later = await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_2", "hello?")]));
    expect((await later.json<any>()).unlinked).toBe(1);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await readJson(key)).messages.map((m: any) => m.mid)).toEqual(["m_1"]);
    expect(await readJson(pageMetadataKey(body.user_uuid, page))).not.toBeNull();
    // The poll leaves the page alone too.
    const before = (await fakeState("graph", `page=${page}`)).page_calls;
    await consumeJobs([{ type: "facebook.poll", pageId: page }]);
    expect((await fakeState("graph", `page=${page}`)).page_calls).toBe(before);

    // Logging in again brings the page back, under the same UUID.
    const back = await login([page], { user });
    expect(back.body.user_uuid).toBe(body.user_uuid);
  });
});

describe("Meta's callbacks while Spaces hangs", () => {
  it("deauthorize and a deletion request answer in time; their journal entries are queued and land later", async () => {
    const [page, otherPage] = [uniqueId(), uniqueId()];
    const { user } = await login([page]);
    const { user: other } = await login([otherPage]);
    await control("spaces", "mode", { mode: "slow", delayMs: 4000 });
    try {
      let started = Date.now();
      const res = await metaCallback(
        "/facebook/deauthorize",
        await signedRequest({ algorithm: "HMAC-SHA256", issued_at: now(), user_id: user }),
      );
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2500);
      expect(await res.json<any>()).toMatchObject({ tokens_removed: 2 });
      started = Date.now();
      const deletion = await metaCallback(
        "/facebook/data-deletion",
        await signedRequest({ algorithm: "HMAC-SHA256", issued_at: now(), user_id: other }),
      );
      expect(deletion.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2500);
      expect(logs.has("Journal write failed, queued")).toBe(true);
    } finally {
      await control("spaces", "mode", { mode: "up" });
    }
    await waitFor(async () => {
      const keys = await spaces().listKeys("backups/journal/tokens/");
      const texts = await Promise.all(keys.map((k) => spaces().getText(k)));
      expect(texts.some((t) => t!.includes(`"key":"facebook:page:${page}","row":null`))).toBe(true);
      expect(texts.some((t) => t!.includes(`"table":"facebook_deletions"`) && t!.includes(other))).toBe(true);
    }, 20_000);
  });
});

describe("one customer's conversation forgotten on the merchant's word", () => {
  it("DELETE /admin/facebook/pages/:page/conversations/:sender removes it from the Durable Object and Spaces", async () => {
    const [page, alice, bob] = [uniqueId(), uniqueId(), uniqueId()];
    const { body } = await login([page]);
    await messengerWebhook(
      delivery(page, [messageEvent(page, alice, "m_a1", "a1"), messageEvent(page, bob, "m_b1", "b1")]),
    );
    const aliceKey = conversationKey(body.user_uuid, page, alice);
    const bobKey = conversationKey(body.user_uuid, page, bob);
    await waitFor(async () => expect(await readJson(aliceKey)).not.toBeNull());
    await waitFor(async () => expect(await readJson(bobKey)).not.toBeNull());
    const path = `/admin/facebook/pages/${page}/conversations/${alice}`;

    expect((await call(path, { method: "DELETE" })).status).toBe(401);
    expect(
      (await call(`/admin/facebook/pages/${page}/conversations/abc`, { method: "DELETE", headers: ADMIN })).status,
    ).toBe(400);
    const res = await call(path, { method: "DELETE", headers: ADMIN });
    expect(res.status).toBe(200);
    expect(await res.json<any>()).toEqual({
      page_id: page,
      sender_id: alice,
      messages_deleted: 1,
      file_deleted: true,
      attachments_deleted: 0,
    });
    expect(await readJson(aliceKey)).toBeNull();
    expect((await readJson(bobKey)).messages).toHaveLength(1);
    // The object forgot too: a new message starts a new conversation with only itself.
    await messengerWebhook(delivery(page, [messageEvent(page, alice, "m_a2", "a2")]));
    await waitFor(async () => expect((await readJson(aliceKey))?.messages.map((m: any) => m.mid)).toEqual(["m_a2"]));
  });
});

describe("both sides of the conversation, through webhooks alone", () => {
  it("a message, an echo, a postback and an edit land in the file in order, each once", async () => {
    const [page, customer] = [uniqueId(), uniqueId()];
    const { body } = await login([page]);
    const t0 = Date.now();
    const events = [
      { page, customer, kind: "message", mid: "m_1", text: "Do you have size 42?", timestamp: t0 },
      { page, customer, kind: "echo", mid: "m_2", text: "Yes! Want to order?", timestamp: t0 + 1000 },
      { page, customer, kind: "postback", mid: "m_3", title: "Order now", payload: "ORDER_42", timestamp: t0 + 2000 },
      { page, customer, kind: "edit", mid: "m_1", text: "Do you have size 43?", num_edit: 1, timestamp: t0 + 3000 },
      { page, customer, kind: "reaction", mid: "m_2", timestamp: t0 + 4000 },
      { page, customer, kind: "read", timestamp: t0 + 5000 },
      { page, customer, kind: "delivery", mid: "m_2", timestamp: t0 + 6000 },
    ];
    for (const e of events) expect((await fakeDelivery([e])).status).toBe(200);
    // Meta redelivers the echo and the postback.
    expect((await fakeDelivery([events[1], events[2]])).status).toBe(200);
    const key = conversationKey(body.user_uuid, page, customer);
    await waitFor(async () => expect((await readJson(key))?.messages[0]?.text).toBe("Do you have size 43?"));
    const file = await readJson(key);
    expect(file.messages.map((m: any) => [m.mid, m.from, m.text])).toEqual([
      ["m_1", "customer", "Do you have size 43?"],
      ["m_2", "page", "Yes! Want to order?"],
      ["m_3", "customer", "Order now"],
    ]);
    expect(file.messages[0].num_edit).toBe(1);
    expect(file.messages[1].app_id).toBe(TEST_SECRETS.FACEBOOK_APP_ID);
    expect(file.messages[2].postback).toEqual({ title: "Order now", payload: "ORDER_42" });
    // The log line of each entry shows lengths, never the words.
    const received = logs.lines.filter((l) => l.includes(`Received webhook event for page ${page}`));
    expect(received.length).toBeGreaterThanOrEqual(events.length);
    expect(received.join("\n")).toContain('\\"text\\":\\"[20 chars]\\"');
    for (const words of ["size 42", "size 43", "Want to order", "ORDER_42"]) {
      expect(logs.lines.join("\n")).not.toContain(words);
    }
  });

  it("an edit that arrives before its message is applied when the message comes", async () => {
    const [page, customer] = [uniqueId(), uniqueId()];
    const { body } = await login([page]);
    await messengerWebhook({
      object: "page",
      entry: [
        {
          id: page,
          time: Date.now(),
          messaging: [
            {
              sender: { id: customer },
              recipient: { id: page },
              timestamp: Date.now(),
              message_edit: { mid: "m_x", text: "edited", num_edit: 2 },
            },
          ],
        },
      ],
    });
    await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_x", "original")]));
    const key = conversationKey(body.user_uuid, page, customer);
    await waitFor(async () => expect((await readJson(key))?.messages[0]?.text).toBe("edited"));
  });

  it("standby events (another app has the thread) are stored like messaging", async () => {
    const [page, customer] = [uniqueId(), uniqueId()];
    const { body } = await login([page]);
    const event = messageEvent(page, customer, "m_standby", "hello from standby");
    const res = await messengerWebhook({ object: "page", entry: [{ id: page, time: Date.now(), standby: [event] }] });
    expect(res.status).toBe(200);
    const key = conversationKey(body.user_uuid, page, customer);
    await waitFor(async () => expect((await readJson(key))?.messages.map((m: any) => m.mid)).toEqual(["m_standby"]));
  });
});

describe("batches at Meta's size", () => {
  it("a signed delivery of 1,000 entries (about 7 MiB) is accepted and every message stored once", async () => {
    const pages = [uniqueId(), uniqueId()];
    const customers = Array.from({ length: 5 }, () => uniqueId());
    const { body } = await login(pages);
    const t0 = Date.now();
    const filler = "x".repeat(7500);
    const events = Array.from({ length: 1000 }, (_, i) => ({
      page: pages[i % 2],
      customer: customers[i % 5],
      kind: "message",
      mid: `m_batch_${i}`,
      text: `${i} ${filler}`,
      timestamp: t0 + i,
    }));
    const { body: raw, signature } = await control("graph", "delivery", { events, entryPerEvent: true });
    expect(raw.length).toBeGreaterThan(7 * 1024 * 1024);
    expect(JSON.parse(raw).entry).toHaveLength(1000);
    const post = () =>
      call("/facebook/webhook", {
        method: "POST",
        body: raw,
        headers: { "content-type": "application/json", "x-hub-signature-256": signature },
      });
    const res = await post();
    expect(res.status).toBe(200);
    expect(await res.json<any>()).toMatchObject({ entries: 1000, messages_added: 1000, unlinked: 0 });
    // Meta retrying the whole batch adds nothing.
    expect(await (await post()).json<any>()).toMatchObject({ entries: 1000, messages_added: 0 });
    let stored = 0;
    for (const page of pages) {
      for (const customer of customers) {
        const key = conversationKey(body.user_uuid, page, customer);
        const expected = events.filter((e) => e.page === page && e.customer === customer).length;
        if (!expected) continue;
        await waitFor(async () => expect((await readJson(key))?.messages).toHaveLength(expected), 60_000);
        stored += expected;
      }
    }
    expect(stored).toBe(1000);
  }, 120_000);
});

describe("subscriptions that heal", () => {
  it("fields Meta removed are subscribed again by the daily poll, with a log line", async () => {
    const page = uniqueId();
    await login([page]);
    await control("graph", "unsubscribe", { page, fields: ["message_echoes", "messaging_postbacks"] });
    expect((await consumeJobs([{ type: "facebook.poll", pageId: page }])).explicitAcks).toEqual(["m0"]);
    expect((await fakeState("graph", `page=${page}`)).subscribed).toEqual(
      // The seed's fields and the three the repair adds back: the contract's first six.
      expect.arrayContaining(CONTRACT_PAGE_FIELDS.slice(0, 6)),
    );
    expect(
      logs.has(
        `Webhook subscription for page ${page} repaired: subscribed again to 'message_echoes,messaging_postbacks'`,
      ),
    ).toBe(true);
    // The whole app removed from the page: back after one poll too.
    await control("graph", "unsubscribe", { page });
    await consumeJobs([{ type: "facebook.poll", pageId: page }]);
    expect((await fakeState("graph", `page=${page}`)).subscribed).toEqual(
      expect.arrayContaining(["name", "category", "messages", "message_echoes"]),
    );
    const status = await (await call("/admin/facebook/pages", { headers: ADMIN })).json<any>();
    expect(status.pages.find((p: any) => p.pageId === page)).toMatchObject({
      subscriptionHealth: expect.stringMatching(/^repaired/),
      lastPollResult: "Success",
      tokenState: "active",
    });
  });

  it("a page token that died (190) is marked for the operator and not retried", async () => {
    const page = uniqueId();
    await login([page]);
    await control("graph", "kill-token", { page, subcode: 460 });
    const result = await consumeJobs([{ type: "facebook.poll", pageId: page }]);
    expect(result.explicitAcks).toEqual(["m0"]);
    expect(result.retryMessages).toEqual([]);
    const status = await (await call("/admin/facebook/pages", { headers: ADMIN })).json<any>();
    expect(status.pages.find((p: any) => p.pageId === page)).toMatchObject({ tokenState: "dead" });
    const calls = (await fakeState("graph", `page=${page}`)).page_calls;
    await consumeJobs([{ type: "facebook.poll", pageId: page }]);
    expect((await fakeState("graph", `page=${page}`)).page_calls).toBe(calls);
  });
});

describe("bounded polls", () => {
  it("a page with 10,000 messages in its history is polled in bounded jobs, without dead letters", async () => {
    const [page, customer] = [uniqueId(), uniqueId()];
    const { body } = await login([page]);
    expect((await control("graph", "history", { page, customer, count: 10_000 })).messages).toBe(10_000);
    await env.JOBS.send({ type: "facebook.poll", pageId: page } satisfies Job, { contentType: "json" });
    await waitFor(() => expect(logs.has(`Polled conversations for page ${page}: Success`)).toBe(true), 120_000);
    expect(logs.lines.some((l) => l.includes("Job gave up"))).toBe(false);
    const status = (await (await call("/admin/facebook/pages", { headers: ADMIN })).json<any>()).pages.find(
      (p: any) => p.pageId === page,
    );
    expect(status.lastPollJobs).toBeGreaterThanOrEqual(3);
    expect(status.lastPollCalls).toBeLessThanOrEqual(status.lastPollJobs * 50);
    expect(status.lastPollCalls).toBeGreaterThanOrEqual(100);
    const key = conversationKey(body.user_uuid, page, customer);
    await waitFor(async () => expect((await readJson(key))?.messages).toHaveLength(10_000), 60_000);
  }, 180_000);

  it("the poll stores attachments", async () => {
    const [page, customer] = [uniqueId(), uniqueId()];
    const { body } = await login([page]);
    const attachment = {
      id: "att_1",
      mime_type: "image/jpeg",
      name: "shoe.jpg",
      size: 1234,
      image_data: { width: 10 },
    };
    await control("graph", "message", {
      page,
      customer,
      mid: "m_att",
      text: "",
      timestamp: Date.now(),
      attachments: [attachment],
    });
    await consumeJobs([{ type: "facebook.poll", pageId: page }]);
    const key = conversationKey(body.user_uuid, page, customer);
    await waitFor(async () => expect((await readJson(key))?.messages[0]?.attachments).toEqual([attachment]));
  });
});

describe("the Facebook callback never moves a linked page", () => {
  it("an agency with roles on two merchants' pages: both stay, the agency gets its own UUID, the answer says so", async () => {
    const [alicePage, bobPage, agencyPage, customer] = [uniqueId(), uniqueId(), uniqueId(), uniqueId()];
    const alice = await login([alicePage]);
    const bob = await login([bobPage]);
    const before = await env.TOKENS_DB.prepare("SELECT updated_at FROM tokens WHERE key = ?1")
      .bind(`facebook:page:${alicePage}`)
      .first<number>("updated_at");
    await new Promise((r) => setTimeout(r, 5));
    const agency = await login([alicePage, bobPage, agencyPage]);
    expect(agency.res.status).toBe(200);
    expect([alice.body.user_uuid, bob.body.user_uuid]).not.toContain(agency.body.user_uuid);
    expect(agency.body.pages_of_other_accounts.sort()).toEqual([alicePage, bobPage].sort());
    expect(agency.body.pages.find((p: any) => p.id === agencyPage).owned_by_another_account).toBe(false);
    const owners = await env.TOKENS_DB.prepare("SELECT page_id, user_uuid FROM pages WHERE page_id IN (?1, ?2, ?3)")
      .bind(alicePage, bobPage, agencyPage)
      .all<{ page_id: string; user_uuid: string }>();
    expect(Object.fromEntries(owners.results.map((r) => [r.page_id, r.user_uuid]))).toEqual({
      [alicePage]: alice.body.user_uuid,
      [bobPage]: bob.body.user_uuid,
      [agencyPage]: agency.body.user_uuid,
    });
    // The token was refreshed; the next message on Bob's page lands in Bob's folder.
    const after = await env.TOKENS_DB.prepare("SELECT updated_at FROM tokens WHERE key = ?1")
      .bind(`facebook:page:${alicePage}`)
      .first<number>("updated_at");
    expect(after).toBeGreaterThan(before!);
    await messengerWebhook(delivery(bobPage, [messageEvent(bobPage, customer, "m_bob", "hi")]));
    await waitFor(async () =>
      expect(await readJson(conversationKey(bob.body.user_uuid, bobPage, customer))).not.toBeNull(),
    );
    expect(await spaces().listKeys(`users/${agency.body.user_uuid}/facebook/${bobPage}/`)).toEqual([]);
    // The agency's browser is bound to its own UUID, not to Alice's or Bob's.
    const next = await login([agencyPage], { cookie: agency.cookie });
    expect(next.body.user_uuid).toBe(agency.body.user_uuid);
    // A browser gets a page naming the pages of other accounts.
    const html = await login([alicePage, agencyPage], { accept: "text/html" });
    const text = await html.res.text();
    expect(html.res.headers.get("content-type")).toMatch(/text\/html/);
    expect(text).toMatch(/belongs to another account/i);
  });

  it("a data deletion by another Facebook user of the same account deletes only the pages that user linked", async () => {
    const [merchantPage, agencyPage] = [uniqueId(), uniqueId()];
    const merchant = await login([merchantPage]);
    const agency = await login([merchantPage, agencyPage]);
    const res = await metaCallback(
      "/facebook/data-deletion",
      await signedRequest({ algorithm: "HMAC-SHA256", issued_at: now(), user_id: agency.user }),
    );
    const { url } = await res.json<{ url: string }>();
    await waitFor(async () => expect((await (await call(new URL(url).pathname)).json<any>()).status).toBe("done"));
    expect(await tokenKeys([`facebook:page:${merchantPage}`])).toEqual([`facebook:page:${merchantPage}`]);
    expect(await readJson(pageMetadataKey(merchant.body.user_uuid, merchantPage))).not.toBeNull();
    expect(await spaces().listKeys(folder(agency.body.user_uuid, agencyPage))).toEqual([]);
  });
});
