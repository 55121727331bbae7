import { describe, expect, it } from "vitest";
import { toBase64Url, utf8 } from "../../src/lib/encoding";
import { hmacSha256 } from "../../src/lib/signatures";
import { choosePageOwners } from "../../src/identity/facebook-login";
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

describe("choosePageOwners: a linked page never moves", () => {
  const ids = (n: number) => () => `new-${n}`;
  it("a fresh browser of the one merchant who owns the linked pages: their UUID, unlinked pages join it", () => {
    const plan = choosePageOwners(null, ["1", "2"], new Map([["1", "alice"]]), ids(1));
    expect(plan).toEqual({ userUuid: "alice", toLink: ["2"], own: ["1"], foreign: [] });
  });

  it("an agency with pages of two merchants, in either order: a new UUID, both pages stay with their owners", () => {
    const owners = new Map([
      ["a", "alice"],
      ["b", "bob"],
    ]);
    for (const order of [
      ["a", "b", "c"],
      ["c", "b", "a"],
    ]) {
      const plan = choosePageOwners(null, order, owners, ids(2));
      expect(plan.userUuid).toBe("new-2");
      expect(plan.toLink).toEqual(["c"]);
      expect(plan.foreign.sort()).toEqual(["a", "b"]);
    }
  });

  it("a browser already bound to a UUID keeps it; another merchant's page is not taken", () => {
    const plan = choosePageOwners("staff", ["a", "n"], new Map([["a", "alice"]]), ids(3));
    expect(plan).toEqual({ userUuid: "staff", toLink: ["n"], own: [], foreign: ["a"] });
  });

  it("nothing linked and no session: a new UUID for all", () => {
    expect(choosePageOwners(null, ["1"], new Map(), ids(4))).toEqual({
      userUuid: "new-4",
      toLink: ["1"],
      own: [],
      foreign: [],
    });
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
