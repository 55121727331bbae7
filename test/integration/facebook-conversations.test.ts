import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { toBase64Url, toHex, utf8 } from "../../src/lib/encoding";
import { hmacSha256 } from "../../src/lib/signatures";
import { conversationFolder, conversationKey, pageMetadataKey } from "../../src/spaces/keys";
import { STANDARD_WINDOW_MS } from "../../src/conversations/durable-object";
import { TEST_BUCKET, TEST_SECRETS } from "../env";
import {
  call,
  consumeJobs,
  control,
  cookieOf,
  fakeState,
  logsOfEachTest,
  readJson,
  spaces,
  uniqueId,
  waitFor,
} from "../helpers";

/** What a sales bot reads in a conversation file beyond the messages, and the files beside it. */

const logs = logsOfEachTest();
const ADMIN = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const APP_ID = TEST_SECRETS.FACEBOOK_APP_ID;
const PAGE_INBOX = "263902037430900";
/** A conversation file, read again if it was caught while being written (the S3 stand-in is not atomic). */
const readFile = (key: string) => vi.waitFor(() => readJson(key), { timeout: 5000, interval: 50 });

/** A Facebook login by a new app-scoped user granting this page. */
async function login(pageId: string, pageOpts: Record<string, unknown> = {}) {
  await control("graph", "page", { id: pageId, ...pageOpts });
  const start = await call("/facebook/login");
  const cookie = cookieOf(start)!;
  const state = new URL(start.headers.get("location")!).searchParams.get("state")!;
  const { code, user } = await control("graph", "code", { pages: [pageId], user: uniqueId() });
  const res = await call(`/facebook/callback?code=${code}&state=${state}`, {
    headers: { cookie: `__Host-sid=${cookie}` },
  });
  expect(res.status).toBe(200);
  return { uuid: ((await res.json()) as any).user_uuid as string, user: user as string };
}

/** A delivery built and signed by the Graph fake, as Meta sends it; posted to the worker. */
async function deliver(events: Record<string, unknown>[]) {
  const { body, signature } = await control("graph", "delivery", { events });
  const res = await call("/facebook/webhook", {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "x-hub-signature-256": signature },
  });
  expect(res.status).toBe(200);
  return res.json<any>();
}

/** An object's bytes and content type as a client of the bucket reads them. */
async function rawObject(key: string) {
  const res = await fetch(`${env.FAKE_SPACES}/${TEST_BUCKET}/${key.split("/").map(encodeURIComponent).join("/")}`);
  return { status: res.status, type: res.headers.get("content-type"), bytes: new Uint8Array(await res.arrayBuffer()) };
}

const sha256 = async (bytes: Uint8Array) => toHex(await crypto.subtle.digest("SHA-256", bytes));

describe("where the customer came from, who holds the thread, reads and reactions", () => {
  it("an ad referral then a message, an m.me Get Started, a handover to the Page Inbox and back, a read and a reaction", async () => {
    const [page, ada, ben] = [uniqueId(), uniqueId(), uniqueId()];
    const { uuid } = await login(page);
    const t0 = Date.now() - 60_000;
    const ad = {
      ref: "board-42",
      source: "ADS",
      type: "OPEN_THREAD",
      ad_id: "6045123456",
      ads_context_data: { ad_title: "Summer boards", photo_url: "https://scontent.example/ad.jpg", product_id: "8812" },
    };
    // Ada clicks the ad in a thread she already has, then writes.
    await deliver([
      { page, customer: ada, kind: "referral", referral: ad, timestamp: t0 },
      { page, customer: ada, kind: "message", mid: "m_ada_1", text: "Is the board still there?", timestamp: t0 + 1000 },
      { page, customer: ada, kind: "echo", mid: "m_ada_2", text: "Yes! Size?", timestamp: t0 + 2000 },
    ]);
    // Ben opens the m.me link with a ref: a new thread, its referral inside the Get Started postback.
    const link = { ref: "spring-sale", source: "SHORTLINK", type: "OPEN_THREAD" };
    await deliver([
      {
        page,
        customer: ben,
        kind: "postback",
        mid: "m_ben_1",
        title: "Get Started",
        payload: "GET_STARTED",
        referral: link,
        timestamp: t0 + 3000,
      },
    ]);
    // The bot hands Ada to a person in the Page Inbox; her next message arrives on standby, the
    // person answers, and the thread comes back to the bot.
    await deliver([
      {
        page,
        customer: ada,
        kind: "pass_thread_control",
        appId: PAGE_INBOX,
        metadata: "asked for a human",
        timestamp: t0 + 4000,
      },
      { page, customer: ada, kind: "message", mid: "m_ada_3", text: "Can I pay in two parts?", timestamp: t0 + 5000 },
      { page, customer: ada, kind: "echo", mid: "m_ada_4", text: "Sure", appId: null, timestamp: t0 + 6000 },
    ]);
    let key = conversationKey(uuid, page, ada);
    await waitFor(async () => expect((await readJson(key))?.thread?.owner_app_id).toBe(PAGE_INBOX));
    expect((await fakeState("graph", `page=${page}&customer=${ada}`)).thread_owner).toBe(PAGE_INBOX);
    await deliver([
      { page, customer: ada, kind: "take_thread_control", appId: APP_ID, timestamp: t0 + 7000 },
      { page, customer: ada, kind: "read", watermark: t0 + 6000, timestamp: t0 + 8000 },
      { page, customer: ada, kind: "reaction", mid: "m_ada_4", emoji: "👍", reaction: "like", timestamp: t0 + 9000 },
    ]);

    await waitFor(async () => expect((await readJson(key))?.reactions).toHaveLength(1));
    const file = await readFile(key);
    expect(file.referrals).toEqual([
      {
        timestamp: t0,
        via: "referral",
        source: "ADS",
        type: "OPEN_THREAD",
        ref: "board-42",
        ad_id: "6045123456",
        ads_context_data: ad.ads_context_data,
        referer_uri: null,
      },
    ]);
    expect(file.thread).toEqual({ owner_app_id: APP_ID, changed_at: t0 + 7000, event: "take_thread_control" });
    expect(file.handovers.map((h: any) => [h.event, h.previous_owner_app_id, h.new_owner_app_id, h.timestamp])).toEqual(
      [
        ["pass_thread_control", APP_ID, PAGE_INBOX, t0 + 4000],
        ["take_thread_control", PAGE_INBOX, APP_ID, t0 + 7000],
      ],
    );
    expect(file.handovers[0].metadata).toBe("asked for a human");
    expect(file.read_watermark).toBe(t0 + 6000);
    expect(file.reactions).toEqual([
      { mid: "m_ada_4", timestamp: t0 + 9000, action: "react", reaction: "like", emoji: "👍" },
    ]);
    expect(file.messaging_window).toEqual({
      last_customer_message_at: t0 + 5000,
      standard_window_ends_at: t0 + 5000 + STANDARD_WINDOW_MS,
    });
    expect(file.messages.map((m: any) => [m.mid, m.from, m.standby ?? false, m.app_id ?? null])).toEqual([
      ["m_ada_1", "customer", false, null],
      ["m_ada_2", "page", false, APP_ID],
      ["m_ada_3", "customer", true, null],
      ["m_ada_4", "page", true, null],
    ]);

    key = conversationKey(uuid, page, ben);
    await waitFor(async () => expect((await readJson(key))?.referrals).toHaveLength(1));
    const started = await readFile(key);
    expect(started.referrals[0]).toMatchObject({
      via: "postback",
      source: "SHORTLINK",
      ref: "spring-sale",
      ad_id: null,
    });
    expect(started.messages[0]).toMatchObject({ mid: "m_ben_1", postback: { payload: "GET_STARTED" } });
    expect(started.thread).toBeNull();

    // Meta redelivering the lot changes nothing; an unreact replaces the reaction.
    const again = await deliver([
      { page, customer: ada, kind: "referral", referral: ad, timestamp: t0 },
      { page, customer: ada, kind: "take_thread_control", appId: APP_ID, timestamp: t0 + 7000 },
      { page, customer: ada, kind: "reaction", mid: "m_ada_4", emoji: "👍", reaction: "like", timestamp: t0 + 9000 },
    ]);
    expect(again.events_recorded).toBe(0);
    await deliver([
      { page, customer: ada, kind: "reaction", mid: "m_ada_4", action: "unreact", timestamp: t0 + 10_000 },
    ]);
    key = conversationKey(uuid, page, ada);
    await waitFor(async () => expect((await readJson(key))?.reactions[0]?.action).toBe("unreact"));
    // The ad's photo URL stays out of the log lines.
    expect(logs.lines.join("\n")).not.toContain("scontent.example");
  });

  it("the messaging window follows the customer's latest message, not the page's", async () => {
    const [page, ada] = [uniqueId(), uniqueId()];
    const { uuid } = await login(page);
    const key = conversationKey(uuid, page, ada);
    const t0 = Date.now() - 60_000;
    const windowOf = async () => (await readJson(key))?.messaging_window?.last_customer_message_at;
    await deliver([{ page, customer: ada, kind: "message", mid: `m_${ada}_1`, text: "hi", timestamp: t0 }]);
    await waitFor(async () => expect(await windowOf()).toBe(t0));
    await deliver([{ page, customer: ada, kind: "echo", mid: `m_${ada}_2`, text: "hello", timestamp: t0 + 1000 }]);
    await waitFor(async () => expect((await readJson(key))?.messages).toHaveLength(2));
    expect(await windowOf()).toBe(t0);
    await deliver([{ page, customer: ada, kind: "message", mid: `m_${ada}_3`, text: "M?", timestamp: t0 + 2000 }]);
    await waitFor(async () => expect(await windowOf()).toBe(t0 + 2000));
    expect((await readFile(key)).messaging_window.standard_window_ends_at).toBe(t0 + 2000 + STANDARD_WINDOW_MS);
  });

  it("the login subscribes every field; a page subscribed before gets the new ones from the daily poll", async () => {
    const page = uniqueId();
    const old = ["name", "category", "messages", "message_echoes", "messaging_postbacks", "message_edits"];
    const added = ["messaging_referrals", "messaging_handovers", "standby", "message_reads", "message_reactions"];
    await login(page, { subscribed: ["name", "category", "messages"] });
    expect(logs.has(`Webhook subscription for 'name,category,messages' already exists for page ${page}`)).toBe(true);
    expect((await fakeState("graph", `page=${page}`)).subscribed).toEqual([...old, ...added]);
    // As a page linked before these fields existed has it.
    await control("graph", "unsubscribe", { page, fields: added });
    expect((await consumeJobs([{ type: "facebook.poll", pageId: page }])).explicitAcks).toEqual(["m0"]);
    expect((await fakeState("graph", `page=${page}`)).subscribed).toEqual([...old, ...added]);
    expect(logs.has(`Webhook subscription for page ${page} repaired: subscribed again to '${added.join(",")}'`)).toBe(
      true,
    );
  });
});

describe("the customer's name and picture", () => {
  it("fetched once on the first message, the picture copied; a person without a profile is asked once", async () => {
    const [page, ada, ben] = [uniqueId(), uniqueId(), uniqueId()];
    const { uuid } = await login(page);
    const { picture } = await control("graph", "customer", {
      page,
      id: ada,
      first_name: "Ada",
      last_name: "Lovelace",
      picture: { size: 4096, seed: ada, content_type: "image/jpeg" },
    });
    await control("graph", "customer", { page, id: ben, profile: false });
    const before = (await fakeState("graph", `page=${page}`)).calls.profiles;
    await deliver([
      { page, customer: ada, mid: `m_${ada}_1`, text: "hi" },
      { page, customer: ben, mid: `m_${ben}_1`, text: "hello" },
    ]);
    const adaKey = conversationKey(uuid, page, ada);
    await waitFor(async () => expect((await readJson(adaKey))?.customer?.first_name).toBe("Ada"));
    const customer = (await readFile(adaKey)).customer;
    expect(customer).toMatchObject({ first_name: "Ada", last_name: "Lovelace", profile: "available" });
    expect(customer.picture_key).toBe(`${conversationFolder(uuid, page, ada)}profile.jpg`);
    // The picture is ours once copied: readable after Meta's URL expired.
    await control("graph", "expire-media", { url: picture });
    expect((await fetch(picture)).status).toBe(403);
    const stored = await rawObject(customer.picture_key);
    expect(stored.type).toBe("image/jpeg");
    expect(stored.bytes.byteLength).toBe(4096);

    const benKey = conversationKey(uuid, page, ben);
    await waitFor(async () => expect((await readJson(benKey))?.customer?.profile).toBe("unavailable"));
    expect((await readFile(benKey)).customer).toMatchObject({ first_name: null, last_name: null, picture_key: null });
    // More messages within the week ask nobody again: no retry storm for a person without a profile.
    await deliver([
      { page, customer: ada, mid: `m_${ada}_2`, text: "still there?" },
      { page, customer: ben, mid: `m_${ben}_2`, text: "?" },
    ]);
    await waitFor(async () => expect((await readJson(benKey))?.messages).toHaveLength(2));
    await new Promise((r) => setTimeout(r, 1000));
    expect((await fakeState("graph", `page=${page}`)).calls.profiles - before).toBe(2);
    expect(logs.lines.some((l) => l.includes(`Profile of sender ${ben} on page ${page} failed`))).toBe(false);
  });

  it("a profile call that fails is tried again until the name lands, the message first", async () => {
    const [page, ada] = [uniqueId(), uniqueId()];
    const { uuid } = await login(page);
    await control("graph", "customer", { page, id: ada, first_name: "Ada", last_name: "Lovelace" });
    // Meta failing three times in a row: more than one call's own retries.
    await control("graph", "faults", { faults: [{ kind: "500", times: 3 }] });
    await deliver([{ page, customer: ada, mid: `m_${ada}_1`, text: "hi" }]);
    const key = conversationKey(uuid, page, ada);
    await waitFor(async () => expect((await readJson(key))?.messages).toHaveLength(1));
    await waitFor(async () => expect((await readJson(key))?.customer?.first_name).toBe("Ada"));
    expect(logs.has(`Profile of sender ${ada} on page ${page} failed (attempt 1), retrying in`)).toBe(true);
    expect(logs.has(`Profile of sender ${ada} on page ${page}: available`)).toBe(true);
  });
});

describe("attachments that last", () => {
  it("an image is copied when it arrives and is readable byte for byte after its URL expired", async () => {
    const [page, customer] = [uniqueId(), uniqueId()];
    const { uuid } = await login(page);
    // A slow CDN: the webhook's answer does not wait for the copy.
    const media = await control("graph", "media", {
      size: 300_000,
      seed: customer,
      content_type: "image/png",
      delay_ms: 1500,
    });
    const started = Date.now();
    await deliver([
      {
        page,
        customer,
        mid: "m_img",
        attachments: [{ type: "image", payload: { url: media.url } }],
      },
    ]);
    expect(Date.now() - started).toBeLessThan(1500);
    const key = conversationKey(uuid, page, customer);
    await waitFor(async () => expect((await readJson(key))?.messages[0]?.attachments[0]?.copy?.status).toBe("stored"));
    const attachment = (await readFile(key)).messages[0].attachments[0];
    expect(attachment).toMatchObject({
      type: "image",
      payload: { url: media.url },
      copy: { status: "stored", content_type: "image/png", size: 300_000 },
    });
    expect(attachment.copy.key).toMatch(
      new RegExp(`^${conversationFolder(uuid, page, customer)}attachments/[0-9a-f]{32}-0\\.png$`),
    );
    await control("graph", "expire-media", { url: media.url });
    expect((await fetch(media.url)).status).toBe(403);
    const stored = await rawObject(attachment.copy.key);
    expect(stored.type).toBe("image/png");
    expect(await sha256(stored.bytes)).toBe(media.sha256);
    // The message's URL never reached a log line.
    expect(logs.lines.join("\n")).not.toContain(new URL(media.url).pathname);
  });

  it("an expired URL and one over 25 MB are recorded as such; a file, audio and video are copied", async () => {
    const [page, customer] = [uniqueId(), uniqueId()];
    const { uuid } = await login(page);
    const expired = await control("graph", "media", { size: 100, content_type: "image/jpeg", ttl_ms: 0 });
    const big = await control("graph", "media", { size: 25 * 1024 * 1024 + 1, content_type: "video/mp4" });
    const kinds = [
      ["file", "application/pdf"],
      ["audio", "audio/mpeg"],
      ["video", "video/mp4"],
    ] as const;
    const others: { url: string; sha256: string }[] = [];
    for (const [, type] of kinds) others.push(await control("graph", "media", { size: 2000, content_type: type }));
    await deliver([
      {
        page,
        customer,
        mid: "m_many",
        attachments: [
          { type: "image", payload: { url: expired.url } },
          { type: "video", payload: { url: big.url } },
          ...kinds.map(([kind], i) => ({ type: kind, payload: { url: others[i]!.url } })),
          { type: "location", payload: { coordinates: { lat: 1, long: 2 } } },
        ],
      },
    ]);
    const key = conversationKey(uuid, page, customer);
    await waitFor(async () => {
      const copies = (await readJson(key))?.messages[0]?.attachments.map((a: any) => a.copy?.status ?? null);
      expect(copies).toEqual(["expired", "too_large", "stored", "stored", "stored", null]);
    }, 30_000);
    const attachments = (await readFile(key)).messages[0].attachments;
    expect(attachments[1].copy).toEqual({ status: "too_large", size: 25 * 1024 * 1024 + 1 });
    for (let i = 0; i < kinds.length; i++) {
      const stored = await rawObject(attachments[2 + i].copy.key);
      expect(stored.type).toBe(kinds[i]![1]);
      expect(await sha256(stored.bytes)).toBe(others[i]!.sha256);
    }
    // Only the three copies are there (nothing for the expired or the big one).
    expect((await spaces().listKeys(conversationFolder(uuid, page, customer))).length).toBe(3);
  });

  it("a copy that fails while Spaces is down is retried until it lands", async () => {
    const [page, customer] = [uniqueId(), uniqueId()];
    const { uuid } = await login(page);
    const media = await control("graph", "media", { size: 5000, seed: "retry", content_type: "image/gif" });
    await control("spaces", "mode", { mode: "down" });
    await deliver([{ page, customer, mid: "m_down", attachments: [{ type: "image", payload: { url: media.url } }] }]);
    await waitFor(() => expect(logs.has("facebook.attachment_copy")).toBe(true));
    await control("spaces", "mode", { mode: "up" });
    const key = conversationKey(uuid, page, customer);
    await waitFor(
      async () => expect((await readJson(key))?.messages[0]?.attachments[0]?.copy?.status).toBe("stored"),
      60_000,
    );
    const stored = await rawObject((await readFile(key)).messages[0].attachments[0].copy.key);
    expect(await sha256(stored.bytes)).toBe(media.sha256);
  }, 90_000);
});

describe("deletions cover the customer's folder", () => {
  async function conversationWithFiles(page: string, customer: string, uuid: string) {
    await control("graph", "customer", { page, id: customer, picture: { size: 1000, content_type: "image/jpeg" } });
    const media = await control("graph", "media", { size: 3000, content_type: "image/jpeg" });
    await deliver([
      { page, customer, mid: `m_${customer}`, attachments: [{ type: "image", payload: { url: media.url } }] },
    ]);
    const folder = conversationFolder(uuid, page, customer);
    await waitFor(async () => expect(await spaces().listKeys(folder)).toHaveLength(2));
    await waitFor(async () =>
      expect((await readJson(conversationKey(uuid, page, customer)))?.messages[0]?.attachments[0]?.copy?.status).toBe(
        "stored",
      ),
    );
    return folder;
  }

  it("a data deletion leaves no attachment or picture behind", async () => {
    const [page, customer] = [uniqueId(), uniqueId()];
    const { uuid, user } = await login(page);
    const folder = await conversationWithFiles(page, customer, uuid);
    const part = toBase64Url(
      utf8(JSON.stringify({ algorithm: "HMAC-SHA256", issued_at: Math.floor(Date.now() / 1000), user_id: user })),
    );
    const signed = `${toBase64Url(await hmacSha256(TEST_SECRETS.FACEBOOK_APP_SECRET, part))}.${part}`;
    const res = await call("/facebook/data-deletion", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ signed_request: signed }).toString(),
    });
    const { url } = await res.json<{ url: string }>();
    await waitFor(async () => expect((await (await call(new URL(url).pathname)).json<any>()).status).toBe("done"));
    const status = await (await call(new URL(url).pathname)).json<any>();
    // The page's metadata, the conversation file, the picture and the attachment.
    expect(status.deleted).toMatchObject({ pages: 1, conversations: 1, objects: 4 });
    expect(await spaces().listKeys(folder)).toEqual([]);
    expect(await spaces().listKeys(pageMetadataKey(uuid, page).replace("page_metadata.json", ""))).toEqual([]);
  });

  it("forgetting one conversation removes its attachments and picture, and no other customer's", async () => {
    const [page, ada, ben] = [uniqueId(), uniqueId(), uniqueId()];
    const { uuid } = await login(page);
    const adaFolder = await conversationWithFiles(page, ada, uuid);
    const benFolder = await conversationWithFiles(page, ben, uuid);
    const res = await call(`/admin/facebook/pages/${page}/conversations/${ada}`, { method: "DELETE", headers: ADMIN });
    expect(await res.json<any>()).toEqual({
      page_id: page,
      sender_id: ada,
      messages_deleted: 1,
      file_deleted: true,
      attachments_deleted: 2,
    });
    expect(await spaces().listKeys(adaFolder)).toEqual([]);
    expect(await spaces().listKeys(benFolder)).toHaveLength(2);
  });

  it("a relink moves the attachments byte for byte and the file names their new keys", async () => {
    const [page, customer] = [uniqueId(), uniqueId()];
    const { uuid } = await login(page);
    const folder = await conversationWithFiles(page, customer, uuid);
    const before = (await readFile(conversationKey(uuid, page, customer))).messages[0].attachments[0].copy;
    const original = await rawObject(before.key);
    const to = crypto.randomUUID();
    const res = await call("/admin/relink", {
      method: "POST",
      headers: { ...ADMIN, "content-type": "application/json" },
      body: JSON.stringify({ page, to }),
    });
    expect(res.status).toBe(200);
    expect(await spaces().listKeys(folder)).toEqual([]);
    const key = conversationKey(to, page, customer);
    await waitFor(async () =>
      expect((await readJson(key))?.messages[0]?.attachments[0]?.copy?.key).toBe(
        before.key.replace(`users/${uuid}/`, `users/${to}/`),
      ),
    );
    const file = await readFile(key);
    expect(file.customer.picture_key.startsWith(conversationFolder(to, page, customer))).toBe(true);
    const moved = await rawObject(file.messages[0].attachments[0].copy.key);
    expect(moved.type).toBe(original.type);
    expect(await sha256(moved.bytes)).toBe(await sha256(original.bytes));
  });
});
