import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { conversationKey, pageMetadataKey, shopMetadataKey } from "../../src/spaces/keys";
import { pageOwner, shopOwner } from "../../src/db/links";
import {
  call,
  cookieOf,
  delivery,
  installShop,
  loginFacebook,
  logsOfEachTest,
  messageEvent,
  messengerWebhook,
  readJson,
  spaces,
  uniqueId,
  uniqueShop,
} from "../helpers";

/**
 * Two merchants (Alice, Bob) and an agency with roles on both, in several orders of installs and
 * logins from fresh and old browsers, and a Shopify staff member whose browser has its own UUID.
 * Contract, "User identity": no link changes owner, nothing is written under a UUID that does not
 * own it, no browser is bound to another merchant.
 */

const logs = logsOfEachTest();

const waitFor = (check: () => Promise<void>, timeout = 20_000) => vi.waitFor(check, { timeout, interval: 100 });

/** The UUID a browser's cookie is bound to, as the worker sees it: what a new shop gets linked to. */
async function browserUuid(cookie: string): Promise<string> {
  const shop = uniqueShop("probe");
  const { body } = await installShop(shop, { cookie, products: 1 });
  created.shops.add(shop);
  return body.user_uuid;
}

const created = { shops: new Set<string>(), pages: new Set<string>() };

/** Every object under `users/` of this file's shops and pages lives under its owner's UUID. */
async function expectEveryObjectUnderItsOwner() {
  const keys = (await spaces().listKeys("users/")).filter((key) => {
    const m = /^users\/[^/]+\/(shopify|facebook)\/([^/]+)\//.exec(key);
    return m && (m[1] === "shopify" ? created.shops.has(m[2]!) : created.pages.has(m[2]!));
  });
  expect(keys.length).toBeGreaterThan(0);
  for (const key of keys) {
    const [, uuid, platform, id] = /^users\/([^/]+)\/(shopify|facebook)\/([^/]+)\//.exec(key)!;
    const owner =
      platform === "shopify"
        ? (await shopOwner(env.TOKENS_DB, id!))?.userUuid
        : (await pageOwner(env.TOKENS_DB, id!))?.userUuid;
    expect({ key, owner }).toEqual({ key, owner: uuid });
  }
}

describe("Shopify installs never move a shop", () => {
  it("staff whose browser has its own UUID re-installs the merchant's shop: token refreshed, link and files stay", async () => {
    const aliceShop = uniqueShop("alice");
    created.shops.add(aliceShop);
    const alice = await installShop(aliceShop);
    const aliceUuid = alice.body.user_uuid;
    const tokenBefore = await env.TOKENS_DB.prepare("SELECT updated_at FROM tokens WHERE key = ?1")
      .bind(`shopify:${aliceShop}`)
      .first<{ updated_at: number }>();

    // The staff member has an account of their own (their own shop, their own browser).
    const staffShop = uniqueShop("staff");
    created.shops.add(staffShop);
    const staff = await installShop(staffShop);
    const staffUuid = staff.body.user_uuid;
    expect(staffUuid).not.toBe(aliceUuid);

    const again = await installShop(aliceShop, { cookie: staff.cookie });
    expect(again.res.status).toBe(200);
    expect(again.body).toMatchObject({
      user_uuid: staffUuid,
      shop: aliceShop,
      other_account: true,
      shops_of_other_accounts: [aliceShop],
    });
    // Alice's UUID is not shown to the staff member, not even in file keys.
    expect(JSON.stringify(again.body)).not.toContain(aliceUuid);
    expect((await shopOwner(env.TOKENS_DB, aliceShop))?.userUuid).toBe(aliceUuid);
    const tokenAfter = await env.TOKENS_DB.prepare("SELECT updated_at FROM tokens WHERE key = ?1")
      .bind(`shopify:${aliceShop}`)
      .first<{ updated_at: number }>();
    expect(tokenAfter!.updated_at).toBeGreaterThanOrEqual(tokenBefore!.updated_at);
    expect(await readJson(shopMetadataKey(aliceUuid, aliceShop))).not.toBeNull();
    expect(await readJson(shopMetadataKey(staffUuid, aliceShop))).toBeNull();
    expect(logs.has(`Shop ${aliceShop} belongs to another account: token refreshed, link kept`)).toBe(true);

    // The staff browser stays the staff member's; Alice's browser stays Alice's.
    expect(await browserUuid(again.cookie)).toBe(staffUuid);
    expect(await browserUuid(alice.cookie)).toBe(aliceUuid);
    await expectEveryObjectUnderItsOwner();
  });

  it("a fresh browser gets the shop's owner; an old browser keeps its own; the link never moves", async () => {
    const shop = uniqueShop("bob");
    created.shops.add(shop);
    const first = await installShop(shop);
    const bob = first.body.user_uuid;
    const fresh = await installShop(shop);
    expect(fresh.body).toMatchObject({ user_uuid: bob, other_account: false });
    const old = await installShop(shop, { cookie: first.cookie });
    expect(old.body).toMatchObject({ user_uuid: bob, other_account: false });
    expect((await shopOwner(env.TOKENS_DB, shop))?.userUuid).toBe(bob);
  });
});

describe("Facebook logins never move a page", () => {
  async function merchants() {
    const alicePage = uniqueId();
    const bobPage = uniqueId();
    created.pages.add(alicePage).add(bobPage);
    const alice = await loginFacebook([{ id: alicePage, name: "Alice Shoes" }]);
    const bob = await loginFacebook([{ id: bobPage, name: "Bob Bikes" }]);
    expect(alice.body.user_uuid).not.toBe(bob.body.user_uuid);
    return { alicePage, bobPage, alice, bob };
  }

  for (const order of ["alice first", "bob first"] as const) {
    it(`an agency with roles on both merchants' pages logs in from a fresh browser (${order})`, async () => {
      const { alicePage, bobPage, alice, bob } = await merchants();
      const pages = order === "alice first" ? [alicePage, bobPage] : [bobPage, alicePage];
      const agency = await loginFacebook(pages.map((id) => ({ id })));
      expect(agency.res.status).toBe(200);
      const agencyUuid = agency.body.user_uuid;
      // Neither merchant's UUID: the agency's browser is bound to an account of its own.
      expect([alice.body.user_uuid, bob.body.user_uuid]).not.toContain(agencyUuid);
      expect([...agency.body.pages_of_other_accounts].sort()).toEqual([alicePage, bobPage].sort());
      expect((await pageOwner(env.TOKENS_DB, alicePage))?.userUuid).toBe(alice.body.user_uuid);
      expect((await pageOwner(env.TOKENS_DB, bobPage))?.userUuid).toBe(bob.body.user_uuid);

      // The next message on Bob's page goes to Bob's folder, never to Alice's or the agency's.
      const customer = uniqueId();
      await messengerWebhook(delivery(bobPage, [messageEvent(bobPage, customer, `m_${customer}`, "Hello Bob")]));
      await waitFor(async () =>
        expect(await readJson(conversationKey(bob.body.user_uuid, bobPage, customer))).not.toBeNull(),
      );
      expect(await readJson(conversationKey(alice.body.user_uuid, bobPage, customer))).toBeNull();
      expect(await readJson(conversationKey(agencyUuid, bobPage, customer))).toBeNull();
      expect(await readJson(pageMetadataKey(agencyUuid, bobPage))).toBeNull();
      expect(await readJson(pageMetadataKey(alice.body.user_uuid, bobPage))).toBeNull();
      await expectEveryObjectUnderItsOwner();
    });
  }

  it("Alice's old browser logs in with Bob's page too: Bob's page stays Bob's, Alice stays Alice", async () => {
    const { alicePage, bobPage, alice, bob } = await merchants();
    const again = await loginFacebook([{ id: alicePage }, { id: bobPage }], alice.cookie);
    expect(again.body.user_uuid).toBe(alice.body.user_uuid);
    expect(again.body.pages_of_other_accounts).toEqual([bobPage]);
    expect((await pageOwner(env.TOKENS_DB, bobPage))?.userUuid).toBe(bob.body.user_uuid);
    await expectEveryObjectUnderItsOwner();
  });

  it("a fresh browser with only Alice's pages gets Alice's UUID; a new page of that login goes to her", async () => {
    const { alicePage, alice } = await merchants();
    const newPage = uniqueId();
    created.pages.add(newPage);
    const fresh = await loginFacebook([{ id: alicePage }, { id: newPage }]);
    expect(fresh.body.user_uuid).toBe(alice.body.user_uuid);
    expect(fresh.body.pages_of_other_accounts).toEqual([]);
    expect((await pageOwner(env.TOKENS_DB, newPage))?.userUuid).toBe(alice.body.user_uuid);
  });

  it("a Shopify install and a Facebook login in one browser share one UUID (through the rotated cookie)", async () => {
    const shop = uniqueShop("both");
    const page = uniqueId();
    created.shops.add(shop);
    created.pages.add(page);
    const install = await installShop(shop);
    const login = await loginFacebook([{ id: page }], install.cookie);
    expect(login.body.user_uuid).toBe(install.body.user_uuid);
    expect(cookieOf(login.res)).not.toBe(install.cookie);
  });
});

describe("the session cookie", () => {
  it("is __Host- prefixed, Secure, HttpOnly, SameSite=Lax, Path=/, with no Domain", async () => {
    const res = await call(`/shopify/${uniqueShop()}/login`);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^__Host-sid=[0-9a-f]{64};/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).not.toMatch(/Domain=/i);
    // A cookie without the prefix (what a sibling subdomain could set) is not a session.
    const plain = await call(`/shopify/${uniqueShop()}/login`, { headers: { cookie: `sid=${cookieOf(res)}` } });
    expect(cookieOf(plain)).not.toBeNull();
  });

  it("a planted id is not honoured after a callback: the id changes and the old one is dead", async () => {
    // The attacker's own session, planted in the victim's browser.
    const attacker = await installShop(uniqueShop("attacker"));
    const planted = attacker.cookie;
    const victimShop = uniqueShop("victim");
    const victim = await installShop(victimShop, { cookie: planted });
    const rotated = cookieOf(victim.res);
    expect(rotated).toMatch(/^[0-9a-f]{64}$/);
    expect(rotated).not.toBe(planted);
    // The planted id is worth nothing now: the worker treats it as no session at all.
    const replay = await call(`/shopify/${uniqueShop()}/login`, { headers: { cookie: `__Host-sid=${planted}` } });
    expect(cookieOf(replay)).not.toBeNull();
    const kept = await call(`/shopify/${uniqueShop()}/login`, { headers: { cookie: `__Host-sid=${rotated}` } });
    expect(cookieOf(kept)).toBeNull();
    // Facebook's callback rotates too.
    const fb = await loginFacebook([{ id: uniqueId() }], rotated);
    expect(fb.cookie).not.toBe(rotated);
    const dead = await call("/facebook/login", { headers: { cookie: `__Host-sid=${rotated}` } });
    expect(cookieOf(dead)).not.toBeNull();
  });
});
