import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { conversationKey, pageMetadataKey } from "../../src/spaces/keys";
import {
  call,
  delivery,
  messageEvent,
  logsOfEachTest,
  control,
  databaseSnapshot,
  fakeState,
  installShop,
  loginFacebook,
  messengerWebhook,
  readJson,
  spacesSnapshot,
  uniqueId,
  uniqueShop,
  waitFor,
  CONTRACT_PAGE_FIELDS,
} from "../helpers";

const logs = logsOfEachTest();

describe("Facebook login", () => {
  it("redirects to the dialog with the four page scopes and a Lax cookie", async () => {
    const res = await call("/facebook/login");
    expect(res.status).toBe(302);
    const url = new URL(res.headers.get("location")!);
    expect(`${url.origin}${url.pathname}`).toBe("https://www.facebook.com/v25.0/dialog/oauth");
    expect(url.searchParams.get("client_id")).toBe("1234567890");
    expect(url.searchParams.get("redirect_uri")).toBe("https://worker.test/facebook/callback");
    expect(url.searchParams.get("scope")!.split(",").sort()).toEqual([
      "pages_manage_metadata",
      "pages_messaging",
      "pages_read_engagement",
      "pages_show_list",
    ]);
    expect(url.searchParams.get("state")).toMatch(/^[0-9a-f]{64}$/);
    expect(res.headers.get("set-cookie")).toMatch(/SameSite=Lax/);
  });

  it("links the pages, subscribes them, stores encrypted page tokens and uploads page metadata", async () => {
    const a = uniqueId();
    const b = uniqueId();
    const { res, body } = await loginFacebook([
      { id: a, name: "Acme Shoes" },
      { id: b, name: "Acme Hats" },
    ]);
    expect(res.status).toBe(200);
    expect(body.user_uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.pages.map((p: any) => [p.id, p.name])).toEqual([
      [a, "Acme Shoes"],
      [b, "Acme Hats"],
    ]);
    expect(body.pages[0].category).toBe("Shopping & retail");
    expect((await fakeState("graph", `page=${a}`)).subscribed).toEqual(CONTRACT_PAGE_FIELDS);
    const row = await env.TOKENS_DB.prepare("SELECT value FROM tokens WHERE key = ?1")
      .bind(`facebook:page:${a}`)
      .first<any>();
    expect(row.value).toMatch(/^v1\./);
    expect(row.value).not.toContain("EAA");
    const key = pageMetadataKey(body.user_uuid, a);
    expect(await readJson(key)).toMatchObject({ id: a, name: "Acme Shoes", category: "Shopping & retail" });
    expect(logs.has(`Uploaded ${key} to Spaces`)).toBe(true);
  });

  it("the same page logging in again keeps its UUID and is not subscribed twice", async () => {
    const page = uniqueId();
    const first = await loginFacebook([{ id: page }]);
    const subscribes = (await fakeState("graph", `page=${page}`)).calls.subscribe;
    const again = await loginFacebook([{ id: page }]);
    expect(again.body.user_uuid).toBe(first.body.user_uuid);
    expect((await fakeState("graph", `page=${page}`)).calls.subscribe).toBe(subscribes);
    expect(logs.has(`Webhook subscription for 'name,category,messages' already exists for page ${page}`)).toBe(true);
  });

  it("a Shopify install and a Facebook login in one browser session share one UUID", async () => {
    const shop = await installShop(uniqueShop());
    const fb = await loginFacebook([{ id: uniqueId() }], shop.cookie);
    expect(fb.body.user_uuid).toBe(shop.body.user_uuid);
  });

  describe("failures store nothing", () => {
    async function expectNothingStored(run: () => Promise<Response>, status: number) {
      const db = await databaseSnapshot();
      const objects = await spacesSnapshot();
      const res = await run();
      expect(res.status).toBe(status);
      expect((await res.json<any>()).error.code).toBeTypeOf("string");
      // The state is used up by a callback that passed the state check; nothing else changes.
      const strip = (s: string) => s.replace(/"sessions\.oauth_states":\[.*?\]/, "");
      expect(strip(await databaseSnapshot())).toBe(strip(db));
      expect(await spacesSnapshot()).toBe(objects);
    }

    async function begin(pages: string[]) {
      for (const id of pages) await control("graph", "page", { id });
      const login = await call("/facebook/login");
      const cookie = /sid=([0-9a-f]+)/.exec(login.headers.get("set-cookie")!)![1]!;
      const state = new URL(login.headers.get("location")!).searchParams.get("state")!;
      const { code } = await control("graph", "code", { pages });
      return { cookie, state, code };
    }

    it("a denied permission: 400", async () => {
      const { cookie, state } = await begin([uniqueId()]);
      await expectNothingStored(
        () =>
          call(
            `/facebook/callback?error=access_denied&error_reason=user_denied&error_description=Permissions+error&state=${state}`,
            {
              headers: { cookie: `__Host-sid=${cookie}` },
            },
          ),
        400,
      );
    });

    it("a user with no pages: 400", async () => {
      const { cookie, state, code } = await begin([]);
      await expectNothingStored(
        () => call(`/facebook/callback?code=${code}&state=${state}`, { headers: { cookie: `__Host-sid=${cookie}` } }),
        400,
      );
    });

    it("a Graph error half-way (dead token on the page list): 4xx", async () => {
      const { cookie, state, code } = await begin([uniqueId()]);
      // code exchange and long-lived exchange pass; /me/accounts answers error 190.
      await control("graph", "faults", {
        faults: [
          { kind: "none", times: 2 },
          { kind: "dead-token", times: 1 },
        ],
      });
      await expectNothingStored(
        () => call(`/facebook/callback?code=${code}&state=${state}`, { headers: { cookie: `__Host-sid=${cookie}` } }),
        400,
      );
    });

    it("a bad or foreign state: 403", async () => {
      const { cookie, code } = await begin([uniqueId()]);
      const other = await begin([uniqueId()]);
      await expectNothingStored(
        () =>
          call(`/facebook/callback?code=${code}&state=${other.state}`, { headers: { cookie: `__Host-sid=${cookie}` } }),
        403,
      );
    });
  });
});

describe("Messenger webhooks", () => {
  it("GET: the verify handshake echoes the challenge, else 403", async () => {
    const ok = await call(
      "/facebook/webhook?hub.mode=subscribe&hub.verify_token=test-verify-token-0123456789&hub.challenge=1158201444",
    );
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("1158201444");
    const bad = await call("/facebook/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1");
    expect(bad.status).toBe(403);
    const mode = await call(
      "/facebook/webhook?hub.mode=unsubscribe&hub.verify_token=test-verify-token-0123456789&hub.challenge=1",
    );
    expect(mode.status).toBe(403);
  });

  it("a message starts a conversation file; an echo and a redelivery land once each, in order", async () => {
    const page = uniqueId();
    const customer = uniqueId();
    const { body } = await loginFacebook([{ id: page }]);
    const t = Date.now();
    const first = await messengerWebhook(
      delivery(page, [messageEvent(page, customer, "m_1", "Hi, do you have red shoes?", t)]),
    );
    expect(first.status).toBe(200);
    expect(logs.has(`New conversation started for sender ${customer} on page ${page}`)).toBe(true);
    expect(logs.has(`Received webhook event for page ${page}:`)).toBe(true);
    await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_2", "Yes! Size?", t + 1000, true)]));
    await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_1", "Hi, do you have red shoes?", t)]));
    const key = conversationKey(body.user_uuid, page, customer);
    await waitFor(async () => expect((await readJson(key))?.messages).toHaveLength(2));
    const file = await readJson(key);
    expect(file.messages.map((m: any) => [m.mid, m.from, m.text])).toEqual([
      ["m_1", "customer", "Hi, do you have red shoes?"],
      ["m_2", "page", "Yes! Size?"],
    ]);
    expect(logs.lines.filter((l) => l.includes("New conversation started"))).toHaveLength(1);
    expect(logs.has(`Uploaded ${key} to Spaces`)).toBe(true);
  });

  it("verifies the raw bytes: non-ASCII text and escaped slashes", async () => {
    const page = uniqueId();
    const customer = uniqueId();
    const { body } = await loginFacebook([{ id: page }]);
    const raw = `{"object":"page","entry":[{"id":"${page}","time":1,"messaging":[{"sender":{"id":"${customer}"},"recipient":{"id":"${page}"},"timestamp":1700000000000,"message":{"mid":"m_u","text":"\\u00e4\\u00f6\\u00e5 https:\\/\\/shop.example\\/x \u00e9"}}]}]}`;
    const res = await messengerWebhook(null, { raw });
    expect(res.status).toBe(200);
    await waitFor(async () =>
      expect((await readJson(conversationKey(body.user_uuid, page, customer)))?.messages[0].text).toBe(
        "äöå https://shop.example/x é",
      ),
    );
  });

  it.each([
    ["no header", {}],
    ["sha1", { "x-hub-signature": "sha1=0000000000000000000000000000000000000000", "x-hub-signature-256": "sha1=00" }],
    ["wrong secret", "wrong"],
  ])("a bad signature (%s): 401 and nothing stored", async (_name, variant) => {
    const page = uniqueId();
    await loginFacebook([{ id: page }]);
    const payload = JSON.stringify(delivery(page, [messageEvent(page, uniqueId(), "m_x", "x")]));
    const db = await databaseSnapshot();
    const res =
      typeof variant === "string"
        ? await messengerWebhook(null, { raw: payload, secret: variant })
        : await call("/facebook/webhook", {
            method: "POST",
            body: payload,
            headers: variant as Record<string, string>,
          });
    expect(res.status).toBe(401);
    expect(await databaseSnapshot()).toBe(db);
  });

  it("a name change refetches the page metadata and uploads it", async () => {
    const page = uniqueId();
    const { body } = await loginFacebook([{ id: page, name: "Old Name" }]);
    await control("graph", "page", { id: page, name: "New Name" });
    const res = await messengerWebhook({
      object: "page",
      entry: [{ id: page, time: 1, changes: [{ field: "name", value: "New Name" }] }],
    });
    expect(res.status).toBe(200);
    await waitFor(async () =>
      expect((await readJson(pageMetadataKey(body.user_uuid, page))).name).toBe("New Name"),
    ).catch((err) => {
      console.error("DIAG", logs.lines.filter((l) => /Job|metadata|Uploaded|page_metadata/.test(l)).join("\n"));
      throw err;
    });
  });

  it("events for a page nobody linked are answered 200 and not stored", async () => {
    const objects = await spacesSnapshot();
    const page = uniqueId();
    const res = await messengerWebhook(delivery(page, [messageEvent(page, uniqueId(), "m_n", "hello")]));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ unlinked: 1, messages_added: 0 });
    expect(await spacesSnapshot()).toBe(objects);
  });

  it("100 messages of one conversation at once, plus duplicates, end up as exactly 100 in order", async () => {
    const page = uniqueId();
    const customer = uniqueId();
    const { body } = await loginFacebook([{ id: page }]);
    const t0 = Date.now();
    const events = Array.from({ length: 100 }, (_, i) =>
      messageEvent(page, customer, `m_${i}`, `message ${i}`, t0 + i),
    );
    const deliveries = [...events, ...events.slice(0, 30)].sort(() => Math.random() - 0.5);
    const answers = await Promise.all(deliveries.map((e) => messengerWebhook(delivery(page, [e]))));
    expect(answers.every((r) => r.status === 200)).toBe(true);
    const key = conversationKey(body.user_uuid, page, customer);
    await waitFor(async () => expect((await readJson(key))?.messages).toHaveLength(100));
    expect((await readJson(key)).messages.map((m: any) => m.mid)).toEqual(events.map((e) => e.message.mid));
  });

  it("a busy conversation is written at most once a second while it goes on, and a quiet one is written again", async () => {
    const page = uniqueId();
    const customer = uniqueId();
    const { body } = await loginFacebook([{ id: page }]);
    const key = conversationKey(body.user_uuid, page, customer);
    const uploads = () => logs.lines.filter((l) => l.includes(`Uploaded ${key} to Spaces`)).length;
    // A customer chatting for 3 s, one message every 100 ms: 30 messages.
    const t0 = Date.now();
    for (let i = 0; i < 30; i++) {
      const res = await messengerWebhook(delivery(page, [messageEvent(page, customer, `m_${i}`, `msg ${i}`, t0 + i)]));
      expect(res.status).toBe(200);
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(async () => expect((await readJson(key))?.messages).toHaveLength(30));
    const elapsed = (Date.now() - t0) / 1000;
    expect(uploads()).toBeGreaterThanOrEqual(2); // it was written while the chat went on, not only at the end
    expect(uploads()).toBeLessThanOrEqual(Math.ceil(elapsed) + 1);
    // Quiet again: the next message is written too (how soon is the bench's lag figure, not a test's).
    await new Promise((r) => setTimeout(r, 1100));
    await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_late", "still there?", t0 + 100)]));
    await waitFor(async () => expect((await readJson(key))?.messages).toHaveLength(31));
  });

  it("Spaces down during a burst loses nothing once it is back", async () => {
    const page = uniqueId();
    const customer = uniqueId();
    const { body } = await loginFacebook([{ id: page }]);
    await control("spaces", "mode", { mode: "down" });
    const t0 = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        messengerWebhook(delivery(page, [messageEvent(page, customer, `d_${i}`, `m${i}`, t0 + i)])),
      ),
    );
    expect(answers.every((r) => r.status === 200)).toBe(true);
    await waitFor(async () => expect(logs.has(`Upload of conversation ${customer} on page ${page} failed`)).toBe(true));
    await control("spaces", "mode", { mode: "up" });
    await waitFor(
      async () => expect((await readJson(conversationKey(body.user_uuid, page, customer)))?.messages).toHaveLength(20),
      20_000,
    );
  });
});
