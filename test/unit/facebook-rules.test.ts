import { describe, expect, it } from "vitest";
import { toBase64Url, utf8 } from "../../src/lib/encoding";
import { hmacSha256 } from "../../src/lib/signatures";
import { decideLoginIdentity } from "../../src/identity/login-identity";
import { messagingUpdate } from "../../src/conversations/messages";
import { verifySignedRequest } from "../../src/facebook/signed-request";
import { loggableEntry } from "../../src/facebook/webhooks";

const SECRET = "app-secret-0123456789";
const NOW = 1_800_000_000;

async function sign(payload: unknown, secret = SECRET) {
  const part = toBase64Url(utf8(JSON.stringify(payload)));
  return `${toBase64Url(await hmacSha256(secret, part))}.${part}`;
}

describe("signed_request (Meta's deletion and deauthorize callbacks)", () => {
  const good = { algorithm: "HMAC-SHA256", issued_at: NOW - 10, user_id: "1234567890123" };

  it("accepts a request signed with the app secret and returns the app-scoped user id", async () => {
    expect(await verifySignedRequest(await sign(good), SECRET, NOW)).toEqual({
      ok: true,
      request: { userId: "1234567890123", issuedAt: NOW - 10 },
    });
  });

  it("splits at the first dot only: a payload part with a dot is signed as sent", async () => {
    const signed = await sign(good);
    const [sig, part] = [signed.slice(0, signed.indexOf(".")), signed.slice(signed.indexOf(".") + 1)];
    expect((await verifySignedRequest(`${sig}.${part}.x`, SECRET, NOW)).ok).toBe(false);
  });

  it.each([
    ["another secret", async () => sign(good, "not-the-secret-at-all"), 401],
    [
      "a payload changed after signing",
      async () => {
        const signature = (await sign(good)).split(".")[0];
        return `${signature}.${toBase64Url(utf8(JSON.stringify({ ...good, user_id: "999" })))}`;
      },
      401,
    ],
    ["algorithm none", async () => sign({ ...good, algorithm: "none" }), 401],
    ["issued two days ago", async () => sign({ ...good, issued_at: NOW - 2 * 86400 }), 401],
    ["issued an hour in the future", async () => sign({ ...good, issued_at: NOW + 3600 }), 401],
    ["no dot", async () => "abcdef", 400],
    ["nothing", async () => undefined, 400],
    ["not base64", async () => "@@@.###", 400],
    ["no user id", async () => sign({ algorithm: "HMAC-SHA256", issued_at: NOW }), 400],
    ["a user id that is not numeric", async () => sign({ ...good, user_id: "../x" }), 400],
  ])("refuses %s", async (_name, make, status) => {
    const verdict = await verifySignedRequest(await make(), SECRET, NOW);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.status).toBe(status);
  });
});

describe("decideLoginIdentity: a UUID grows only through a login that proves its merchant", () => {
  const ids = (n: number) => () => `new-${n}`;
  const fresh = { userUuid: null, proven: false };
  const owners = new Map([
    ["a", "alice"],
    ["b", "bob"],
  ]);
  const decide = (session: { userUuid: string | null; proven: boolean }, provenAccounts: string[], items: string[]) =>
    decideLoginIdentity({ session, provenAccounts, items, owners }, ids(1));

  it("the merchant's own Facebook user in a fresh browser: their UUID back, new pages join it", () => {
    expect(decide(fresh, ["alice"], ["a", "n"])).toEqual({
      userUuid: "alice",
      proven: true,
      toLink: ["n"],
      own: ["a"],
      foreign: [],
    });
    // Even with no page of the merchant in this login.
    expect(decide(fresh, ["alice"], ["n"])).toMatchObject({ userUuid: "alice", proven: true, toLink: ["n"] });
  });

  it("an agency in a fresh browser, naming a merchant's page and new ones: a UUID of its own for the new ones", () => {
    expect(decide(fresh, [], ["a", "c1", "c2"])).toEqual({
      userUuid: "new-1",
      proven: true,
      toLink: ["c1", "c2"],
      own: [],
      foreign: ["a"],
    });
  });

  it("a login naming only one merchant's linked items, without proof: that merchant, unproven, nothing linked", () => {
    expect(decide(fresh, [], ["a"])).toEqual({ userUuid: "alice", proven: false, toLink: [], own: ["a"], foreign: [] });
    // Pages of two merchants: neither; a UUID of its own.
    expect(decide(fresh, [], ["b", "a"])).toMatchObject({ userUuid: "new-1", proven: true, foreign: ["b", "a"] });
  });

  it("a browser that saw a UUID without proof links nothing new to it", () => {
    const adopted = { userUuid: "alice", proven: false };
    expect(decide(adopted, [], ["a"])).toMatchObject({ userUuid: "alice", proven: false, toLink: [] });
    expect(decide(adopted, [], ["n"])).toEqual({
      userUuid: "new-1",
      proven: true,
      toLink: ["n"],
      own: [],
      foreign: [],
    });
    // Until the merchant's own Facebook user logs in there.
    expect(decide(adopted, ["alice"], ["n"])).toMatchObject({ userUuid: "alice", proven: true, toLink: ["n"] });
  });

  it("a proven browser keeps its UUID; another merchant's item is not taken", () => {
    expect(decide({ userUuid: "staff", proven: true }, ["alice"], ["a", "n"])).toEqual({
      userUuid: "staff",
      proven: true,
      toLink: ["n"],
      own: [],
      foreign: ["a"],
    });
  });

  it("a Facebook user proving several accounts: the one of this browser, else of this login's pages, else the latest", () => {
    expect(decide({ userUuid: "bob", proven: false }, ["alice", "bob"], ["n"]).userUuid).toBe("bob");
    expect(decide(fresh, ["alice", "bob"], ["b", "n"]).userUuid).toBe("bob");
    expect(decide(fresh, ["alice", "bob"], ["n"]).userUuid).toBe("alice");
  });
});

describe("webhook log lines keep customers' words out", () => {
  it("replaces message texts, attachment URLs and postback titles by their length, keeps ids", () => {
    const entry = {
      id: "42",
      messaging: [
        {
          sender: { id: "7" },
          message: {
            mid: "m_1",
            text: "my address is 1 Main St",
            attachments: [{ type: "image", payload: { url: "https://cdn.example/x.jpg" } }],
          },
        },
        { sender: { id: "7" }, postback: { mid: "m_2", title: "Buy now", payload: "SKU-1" } },
        { sender: { id: "7" }, message_edit: { mid: "m_1", text: "secret edit", num_edit: 1 } },
      ],
    };
    const line = JSON.stringify(loggableEntry(entry));
    expect(line).toContain('"text":"[23 chars]"');
    expect(line).toContain('"url":"[25 chars]"');
    expect(line).toContain('"mid":"m_1"');
    for (const words of ["Main St", "cdn.example", "Buy now", "SKU-1", "secret edit"])
      expect(line).not.toContain(words);
  });
});

describe("Messenger events", () => {
  const page = "100";
  const customer = "200";
  it("an echo is the page's message in the customer's conversation, with its app_id", () => {
    const u = messagingUpdate(page, {
      sender: { id: page },
      recipient: { id: customer },
      timestamp: 5,
      message: { mid: "m_e", text: "Hi!", is_echo: true, app_id: 123 },
    });
    expect(u).toMatchObject({ customerId: customer, message: { from: "page", app_id: "123" } });
  });
  it("a postback is the customer's; an edit names the mid; a delivery changes nothing", () => {
    expect(
      messagingUpdate(page, {
        sender: { id: customer },
        recipient: { id: page },
        timestamp: 5,
        postback: { mid: "m_p", title: "Buy", payload: "BUY" },
      }),
    ).toMatchObject({ message: { from: "customer", postback: { payload: "BUY" } } });
    expect(
      messagingUpdate(page, {
        sender: { id: customer },
        recipient: { id: page },
        timestamp: 5,
        message_edit: { mid: "m_1", text: "new", num_edit: 2 },
      }),
    ).toEqual({ pageId: page, customerId: customer, edit: { mid: "m_1", text: "new", numEdit: 2 } });
    expect(
      messagingUpdate(page, {
        sender: { id: customer },
        recipient: { id: page },
        timestamp: 5,
        delivery: { mids: ["m_1"], watermark: 1 },
      }),
    ).toBeNull();
  });
  it("reads, reactions, referrals and handovers are what they say, for the customer's conversation", () => {
    const base = { sender: { id: customer }, recipient: { id: page }, timestamp: 7 };
    expect(messagingUpdate(page, { ...base, read: { watermark: 6 } })).toEqual({
      pageId: page,
      customerId: customer,
      readWatermark: 6,
    });
    expect(messagingUpdate(page, { ...base, reaction: { mid: "m_1", action: "unreact" } })?.reaction).toEqual({
      mid: "m_1",
      timestamp: 7,
      action: "unreact",
      reaction: null,
      emoji: null,
    });
    const ad = {
      ref: "SHOE-42",
      source: "ADS",
      type: "OPEN_THREAD",
      ad_id: 6045,
      ads_context_data: { product_id: "9" },
    };
    expect(messagingUpdate(page, { ...base, referral: ad })?.referral).toMatchObject({
      via: "referral",
      ad_id: "6045",
      ads_context_data: { product_id: "9" },
    });
    // Get Started of a new thread: a postback without a mid still carries the referral.
    const started = messagingUpdate(page, { ...base, postback: { title: "Get Started", payload: "GO", referral: ad } });
    expect(started?.message).toBeUndefined();
    expect(started?.referral).toMatchObject({ via: "postback", ref: "SHOE-42" });
    // Beside a message (a click-to-Messenger ad's first message), and inside one.
    const beside = messagingUpdate(page, { ...base, message: { mid: "m_ad", text: "hi" }, referral: ad });
    expect([beside?.message?.mid, beside?.referral?.via]).toEqual(["m_ad", "message"]);
    const inside = messagingUpdate(page, { ...base, message: { mid: "m_ad2", text: "hi", referral: ad } });
    expect(inside?.referral?.via).toBe("message");
    expect(
      messagingUpdate(page, {
        ...base,
        pass_thread_control: { previous_owner_app_id: 1, new_owner_app_id: "263902037430900", metadata: "human" },
      })?.handover,
    ).toEqual({
      timestamp: 7,
      event: "pass_thread_control",
      previous_owner_app_id: "1",
      new_owner_app_id: "263902037430900",
      requested_owner_app_id: null,
      metadata: "human",
    });
    // A message on `standby` says so.
    expect(messagingUpdate(page, { ...base, message: { mid: "m_s", text: "x" } }, true)?.message?.standby).toBe(true);
  });
});
