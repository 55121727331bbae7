import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
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
  waitFor,
} from "../helpers";

/**
 * Two merchants (Alice, Bob) and an agency with roles on both, in several orders of installs and
 * logins from fresh and old browsers, and a Shopify staff member whose browser has its own UUID.
 * Contract, "User identity": no link changes owner, nothing is written under a UUID that does not
 * own it, no browser is bound to another merchant.
 */

const logs = logsOfEachTest();

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
    const aliceUser = uniqueId();
    created.pages.add(alicePage).add(bobPage);
    const alice = await loginFacebook([{ id: alicePage, name: "Alice Shoes" }], null, aliceUser);
    const bob = await loginFacebook([{ id: bobPage, name: "Bob Bikes" }]);
    expect(alice.body.user_uuid).not.toBe(bob.body.user_uuid);
    return { alicePage, bobPage, aliceUser, alice, bob };
  }

  for (const order of ["alice first", "bob first"] as const) {
    it(`an agency with roles on both merchants' pages logs in from a fresh browser (${order})`, async () => {
      const { alicePage, bobPage, alice, bob } = await merchants();
      const pages = order === "alice first" ? [alicePage, bobPage] : [bobPage, alicePage];
      const agency = await loginFacebook(
        pages.map((id) => ({ id })),
        null,
        uniqueId(),
      );
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

  it("an agency in a fresh browser with a merchant's page and its clients' pages: the clients' pages are not the merchant's", async () => {
    const { alicePage, aliceUser, alice } = await merchants();
    const aliceUuid = alice.body.user_uuid;
    const [clientPage1, clientPage2, customer] = [uniqueId(), uniqueId(), uniqueId()];
    created.pages.add(clientPage1).add(clientPage2);
    const agencyUser = uniqueId();
    const agency = await loginFacebook([{ id: alicePage }, { id: clientPage1 }, { id: clientPage2 }], null, agencyUser);
    expect(agency.res.status).toBe(200);
    const agencyUuid = agency.body.user_uuid;
    expect(agencyUuid).not.toBe(aliceUuid);
    // The answer says which pages went where.
    expect(agency.body.pages_of_other_accounts).toEqual([alicePage]);
    expect(JSON.stringify(agency.body)).not.toContain(aliceUuid);
    for (const page of [clientPage1, clientPage2])
      expect((await pageOwner(env.TOKENS_DB, page))?.userUuid).toBe(agencyUuid);
    expect((await pageOwner(env.TOKENS_DB, alicePage))?.userUuid).toBe(aliceUuid);
    // Each Facebook user keeps a token of their own: the agency's did not replace Alice's.
    const userTokens = await env.TOKENS_DB.prepare("SELECT key FROM tokens WHERE key IN (?1, ?2) ORDER BY key")
      .bind(`facebook:user:${aliceUser}`, `facebook:user:${agencyUser}`)
      .all<{ key: string }>();
    expect(userTokens.results.map((r) => r.key).sort()).toEqual(
      [`facebook:user:${aliceUser}`, `facebook:user:${agencyUser}`].sort(),
    );

    // The client's customers are written under the agency's UUID, never under Alice's.
    await messengerWebhook(delivery(clientPage1, [messageEvent(clientPage1, customer, `m_${customer}`, "Hi C")]));
    await waitFor(async () =>
      expect(await readJson(conversationKey(agencyUuid, clientPage1, customer))).not.toBeNull(),
    );
    expect(await spaces().listKeys(`users/${aliceUuid}/facebook/${clientPage1}/`)).toEqual([]);
    expect(await readJson(pageMetadataKey(aliceUuid, clientPage2))).toBeNull();

    // A shop installed later in that browser is not Alice's either.
    const shop = uniqueShop("agency");
    created.shops.add(shop);
    const install = await installShop(shop, { cookie: agency.cookie });
    expect(install.body.user_uuid).toBe(agencyUuid);
    expect((await shopOwner(env.TOKENS_DB, shop))?.userUuid).toBe(agencyUuid);
    await expectEveryObjectUnderItsOwner();
  });

  it("a browser that saw a merchant's UUID only through a linked page links nothing new to it", async () => {
    const { alicePage, alice } = await merchants();
    const aliceUuid = alice.body.user_uuid;
    // A staffer's login naming only Alice's page: the browser sees Alice, without proof.
    const staff = await loginFacebook([{ id: alicePage }], null, uniqueId());
    expect(staff.body).toMatchObject({ user_uuid: aliceUuid, pages_of_other_accounts: [] });
    // Their next login in that browser brings a page of someone else: another UUID, and the
    // answer lists Alice's page as another account's.
    const clientPage = uniqueId();
    created.pages.add(clientPage);
    const next = await loginFacebook([{ id: alicePage }, { id: clientPage }], staff.cookie, uniqueId());
    const otherUuid = next.body.user_uuid;
    expect(otherUuid).not.toBe(aliceUuid);
    expect(next.body.pages_of_other_accounts).toEqual([alicePage]);
    expect((await pageOwner(env.TOKENS_DB, clientPage))?.userUuid).toBe(otherUuid);
    expect(await readJson(pageMetadataKey(otherUuid, clientPage))).not.toBeNull();
    expect(await readJson(pageMetadataKey(aliceUuid, clientPage))).toBeNull();
    // From then on the browser is that other account's.
    expect(await browserUuid(next.cookie)).toBe(otherUuid);
    await expectEveryObjectUnderItsOwner();
  });

  it("Alice's old browser logs in with Bob's page too: Bob's page stays Bob's, Alice stays Alice", async () => {
    const { alicePage, bobPage, aliceUser, alice, bob } = await merchants();
    const again = await loginFacebook([{ id: alicePage }, { id: bobPage }], alice.cookie, aliceUser);
    expect(again.body.user_uuid).toBe(alice.body.user_uuid);
    expect(again.body.pages_of_other_accounts).toEqual([bobPage]);
    expect((await pageOwner(env.TOKENS_DB, bobPage))?.userUuid).toBe(bob.body.user_uuid);
    await expectEveryObjectUnderItsOwner();
  });

  it("the merchant's own Facebook user from a new browser gets the merchant back, with the new pages", async () => {
    const { aliceUser, alice } = await merchants();
    const aliceUuid = alice.body.user_uuid;
    const newPage = uniqueId();
    created.pages.add(newPage);
    // A new browser, and a login that names only a page nobody linked yet.
    const fresh = await loginFacebook([{ id: newPage, name: "Alice Hats" }], null, aliceUser);
    expect(fresh.body).toMatchObject({ user_uuid: aliceUuid, pages_of_other_accounts: [] });
    expect((await pageOwner(env.TOKENS_DB, newPage))?.userUuid).toBe(aliceUuid);
    expect(await readJson(pageMetadataKey(aliceUuid, newPage))).toMatchObject({ name: "Alice Hats" });
    // The browser is Alice's, proven: a shop installed in it is hers.
    expect(await browserUuid(fresh.cookie)).toBe(aliceUuid);
    await expectEveryObjectUnderItsOwner();
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

describe("a reinstall from a new browser proves nothing", () => {
  it("the merchant's shop reinstalled in a new browser, then another person's login there: their pages are not the merchant's", async () => {
    const shop = uniqueShop("merchant");
    created.shops.add(shop);
    const merchant = await installShop(shop);
    const merchantUuid = merchant.body.user_uuid;
    // A new browser reinstalls the shop: it sees the shop's owner (the shop is theirs to refresh).
    const reinstall = await installShop(shop);
    expect(reinstall.body).toMatchObject({ user_uuid: merchantUuid, other_account: false });
    expect((await shopOwner(env.TOKENS_DB, shop))?.userUuid).toBe(merchantUuid);

    // Another person logs in with Facebook in that browser.
    const [theirPage, customer] = [uniqueId(), uniqueId()];
    created.pages.add(theirPage);
    const login = await loginFacebook([{ id: theirPage, name: "Someone Else" }], reinstall.cookie, uniqueId());
    expect(login.res.status).toBe(200);
    const theirUuid = login.body.user_uuid;
    expect(theirUuid).not.toBe(merchantUuid);
    expect((await pageOwner(env.TOKENS_DB, theirPage))?.userUuid).toBe(theirUuid);
    expect(await readJson(pageMetadataKey(theirUuid, theirPage))).toMatchObject({ name: "Someone Else" });
    await messengerWebhook(delivery(theirPage, [messageEvent(theirPage, customer, `m_${customer}`, "Hello")]));
    await waitFor(async () => expect(await readJson(conversationKey(theirUuid, theirPage, customer))).not.toBeNull());
    expect(await spaces().listKeys(`users/${merchantUuid}/facebook/`)).toEqual([]);

    // A new shop installed from a browser that reinstalled the merchant's shop is not theirs either.
    const adopted = await installShop(shop);
    expect(adopted.body.user_uuid).toBe(merchantUuid);
    const newShop = uniqueShop("third");
    created.shops.add(newShop);
    const second = await installShop(newShop, { cookie: adopted.cookie });
    expect(second.body.user_uuid).not.toBe(merchantUuid);
    expect((await shopOwner(env.TOKENS_DB, newShop))?.userUuid).toBe(second.body.user_uuid);
    // The merchant's own browser still grows their account.
    expect(await browserUuid(merchant.cookie)).toBe(merchantUuid);
    await expectEveryObjectUnderItsOwner();
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
