import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { conversationStub } from "../../src/conversations/durable-object";
import type { ConversationMessage } from "../../src/conversations/messages";
import { DeletionStore } from "../../src/db/facebook-deletions";
import { conversationKey, pageMetadataKey, shopMetadataKey } from "../../src/spaces/keys";
import {
  call,
  delivery,
  installShop,
  loginFacebook,
  logsOfEachTest,
  messageEvent,
  messengerWebhook,
  metaCallback,
  readJson,
  signedRequest,
  spaces,
  uniqueId,
  uniqueShop,
  waitFor,
} from "../helpers";

/**
 * Meta's data deletion and deauthorize callbacks against the identity rules (contract, "User
 * identity", `POST /facebook/data-deletion`, `POST /facebook/deauthorize`): a deletion covers every
 * UUID the person logged in under; a request issued before the person's next login does not undo
 * that login; a conversation merged just after a deletion does not stay.
 */

logsOfEachTest();

const nowSeconds = () => Math.floor(Date.now() / 1000);
const folder = (uuid: string, page: string) => pageMetadataKey(uuid, page).replace("page_metadata.json", "");

const tokenKeys = async (keys: string[]) =>
  (
    await env.TOKENS_DB.prepare(`SELECT key FROM tokens WHERE key IN (${keys.map(() => "?").join(",")}) ORDER BY key`)
      .bind(...keys)
      .all<{ key: string }>()
  ).results.map((r) => r.key);

const request = async (userId: string, issuedAt = nowSeconds()) =>
  signedRequest({ algorithm: "HMAC-SHA256", issued_at: issuedAt, user_id: userId });

/** Asks for a deletion of `userId`'s data and waits until its status page says done; returns the status. */
async function deleteDataOf(userId: string, issuedAt?: number) {
  const res = await metaCallback("/facebook/data-deletion", await request(userId, issuedAt));
  expect(res.status).toBe(200);
  const path = new URL((await res.json<{ url: string }>()).url).pathname;
  await waitFor(async () => expect((await (await call(path)).json<any>()).status).toBe("done"));
  return (await call(path)).json<any>();
}

/** Waits until the clock is in the second after `issuedAt`: a login from now on is later than the request. */
async function afterTheSecondOf(issuedAt: number) {
  const wait = (issuedAt + 1) * 1000 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait + 10));
}

async function conversationHeld(page: string, customer: string) {
  return runInDurableObject(conversationStub(env, page, customer), (_, state) =>
    state.storage.sql.exec("SELECT mid FROM messages").toArray(),
  );
}

describe("a data deletion covers every UUID the person logged in under", () => {
  it("pages under two UUIDs (the person's own account and a merchant's browser): both deleted, the counts true", async () => {
    const person = uniqueId();
    const [ownPage, merchantsPage, merchantPage, customer] = [uniqueId(), uniqueId(), uniqueId(), uniqueId()];
    // The person's own account: a shop, then their page, in one browser.
    const shop = uniqueShop("person");
    const own = await installShop(shop);
    const ownUuid = own.body.user_uuid;
    expect((await loginFacebook([{ id: ownPage }], own.cookie, person)).body.user_uuid).toBe(ownUuid);
    // A merchant's browser (the merchant's own login made it), where the person links a page for them.
    const merchant = await loginFacebook([{ id: merchantPage }], null, uniqueId());
    const merchantUuid = merchant.body.user_uuid;
    const there = await loginFacebook([{ id: merchantsPage }], merchant.cookie, person);
    expect(there.body.user_uuid).toBe(merchantUuid);
    for (const [page, uuid] of [
      [ownPage, ownUuid],
      [merchantsPage, merchantUuid],
      [merchantPage, merchantUuid],
    ] as const) {
      await messengerWebhook(delivery(page, [messageEvent(page, customer, `m_${page}`, "hello")]));
      await waitFor(async () => expect(await readJson(conversationKey(uuid, page, customer))).not.toBeNull());
    }

    const status = await deleteDataOf(person);
    // Two pages (one under each UUID), three tokens (two pages, the person's user token), two
    // conversations, four objects (each page's metadata and conversation).
    expect(status.deleted).toEqual({ pages: 2, tokens: 3, conversations: 2, objects: 4 });
    expect(
      await tokenKeys([`facebook:page:${ownPage}`, `facebook:page:${merchantsPage}`, `facebook:user:${person}`]),
    ).toEqual([]);
    expect(await spaces().listKeys(folder(ownUuid, ownPage))).toEqual([]);
    expect(await spaces().listKeys(folder(merchantUuid, merchantsPage))).toEqual([]);
    expect(await conversationHeld(ownPage, customer)).toEqual([]);
    // What the merchant linked, and the person's shop, stay.
    expect(await tokenKeys([`facebook:page:${merchantPage}`])).toEqual([`facebook:page:${merchantPage}`]);
    expect(await readJson(conversationKey(merchantUuid, merchantPage, customer))).not.toBeNull();
    expect(await readJson(shopMetadataKey(ownUuid, shop))).not.toBeNull();
    // The record that tied the person to both UUIDs is gone with it.
    for (const table of ["facebook_users", "facebook_user_accounts", "facebook_page_grants"]) {
      const row = await env.TOKENS_DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE facebook_user_id = ?1`)
        .bind(person)
        .first<number>("n");
      expect({ table, row }).toEqual({ table, row: 0 });
    }
  });
});

describe("a request issued before the person's next login does not undo that login", () => {
  it("a stale deauthorize removes only what earlier logins granted", async () => {
    const person = uniqueId();
    const [kept, dropped, customer] = [uniqueId(), uniqueId(), uniqueId()];
    const first = await loginFacebook([{ id: kept }, { id: dropped }], null, person);
    const uuid = first.body.user_uuid;
    // The person removes the app; Meta's callback is late, and meanwhile they log in again with one page.
    const issuedAt = nowSeconds();
    await afterTheSecondOf(issuedAt);
    expect((await loginFacebook([{ id: kept }], null, person)).body.user_uuid).toBe(uuid);

    const res = await metaCallback("/facebook/deauthorize", await request(person, issuedAt));
    expect(res.status).toBe(200);
    expect(await res.json<any>()).toEqual({ ok: true, pages: 1, tokens_removed: 1 });
    expect(await tokenKeys([`facebook:page:${kept}`, `facebook:page:${dropped}`, `facebook:user:${person}`])).toEqual(
      [`facebook:page:${kept}`, `facebook:user:${person}`].sort(),
    );
    const user = await env.TOKENS_DB.prepare("SELECT deauthorized_at FROM facebook_users WHERE facebook_user_id = ?1")
      .bind(person)
      .first<{ deauthorized_at: number | null }>();
    expect(user).toEqual({ deauthorized_at: null });
    // The page of the later login is written; the other one is stopped.
    await messengerWebhook(delivery(kept, [messageEvent(kept, customer, "m_kept", "still here")]));
    await waitFor(async () => expect(await readJson(conversationKey(uuid, kept, customer))).not.toBeNull());
    const stopped = await messengerWebhook(delivery(dropped, [messageEvent(dropped, customer, "m_dropped", "hi")]));
    expect((await stopped.json<any>()).unlinked).toBe(1);

    // A deauthorize issued after that login stops both pages and removes the rest.
    const later = await metaCallback("/facebook/deauthorize", await request(person));
    expect(await later.json<any>()).toEqual({ ok: true, pages: 2, tokens_removed: 2 });
    expect(await tokenKeys([`facebook:page:${kept}`, `facebook:user:${person}`])).toEqual([]);
  });

  it("a stale deletion request deletes what earlier logins granted and leaves the later login's page", async () => {
    const person = uniqueId();
    const [kept, dropped, customer] = [uniqueId(), uniqueId(), uniqueId()];
    const first = await loginFacebook([{ id: kept }, { id: dropped }], null, person);
    const uuid = first.body.user_uuid;
    for (const page of [kept, dropped]) {
      await messengerWebhook(delivery(page, [messageEvent(page, customer, `m_${page}`, "hello")]));
      await waitFor(async () => expect(await readJson(conversationKey(uuid, page, customer))).not.toBeNull());
    }
    const issuedAt = nowSeconds();
    await afterTheSecondOf(issuedAt);
    await loginFacebook([{ id: kept }], null, person);

    const status = await deleteDataOf(person, issuedAt);
    expect(status.deleted).toEqual({ pages: 1, tokens: 1, conversations: 1, objects: 2 });
    expect(await tokenKeys([`facebook:page:${kept}`, `facebook:page:${dropped}`, `facebook:user:${person}`])).toEqual(
      [`facebook:page:${kept}`, `facebook:user:${person}`].sort(),
    );
    expect(await spaces().listKeys(folder(uuid, dropped))).toEqual([]);
    expect(await readJson(conversationKey(uuid, kept, customer))).not.toBeNull();

    // The later login stays on record: a request issued after it finds the page.
    const again = await deleteDataOf(person);
    expect(again.deleted).toMatchObject({ pages: 1, tokens: 2 });
    expect(await spaces().listKeys(folder(uuid, kept))).toEqual([]);
  });
});

describe("a login that lands while a deletion runs keeps what it granted", () => {
  it("the page a login links again between the deletion's choice of pages and its removal of tokens keeps its token and files", async () => {
    const person = uniqueId();
    const [page, customer] = [uniqueId(), uniqueId()];
    const { body } = await loginFacebook([{ id: page }], null, person);
    const uuid = body.user_uuid;
    await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_before", "hello")]));
    await waitFor(async () => expect(await readJson(conversationKey(uuid, page, customer))).not.toBeNull());
    const issuedAt = nowSeconds();
    // The job has chosen the pages when it records their count; the person logs in again right then.
    const update = DeletionStore.prototype.update;
    let relogged = false;
    const spy = vi.spyOn(DeletionStore.prototype, "update").mockImplementation(async function (
      this: DeletionStore,
      ...args: Parameters<DeletionStore["update"]>
    ) {
      if (!relogged && args[1] === "in_progress" && args[2]?.pages !== undefined) {
        relogged = true;
        await afterTheSecondOf(issuedAt);
        expect((await loginFacebook([{ id: page }], null, person)).body.user_uuid).toBe(uuid);
      }
      return update.apply(this, args);
    });
    try {
      const status = await deleteDataOf(person, issuedAt);
      expect(relogged).toBe(true);
      expect(status.deleted).toMatchObject({ pages: 1, tokens: 0 });
    } finally {
      spy.mockRestore();
    }
    // The new login's tokens stay, and the page is still written, under the same UUID.
    expect(await tokenKeys([`facebook:page:${page}`, `facebook:user:${person}`])).toEqual(
      [`facebook:page:${page}`, `facebook:user:${person}`].sort(),
    );
    await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_after", "still here")]));
    await waitFor(async () =>
      expect((await readJson(conversationKey(uuid, page, customer)))?.messages.map((m: any) => m.mid)).toContain(
        "m_after",
      ),
    );
  });
});

describe("a conversation merged just after a deletion does not stay", () => {
  const message = (mid: string): ConversationMessage => ({
    ...{ mid, timestamp: Date.now(), from: "customer", text: "sent during the deletion" },
    ...{ attachments: null, quick_reply: null, reply_to: null, postback: null },
  });

  it("a webhook that checked the page before the deletion merges after it: nothing is kept, nothing uploaded", async () => {
    const person = uniqueId();
    const [page, known, newcomer] = [uniqueId(), uniqueId(), uniqueId()];
    const { body } = await loginFacebook([{ id: page }], null, person);
    const uuid = body.user_uuid;
    await messengerWebhook(delivery(page, [messageEvent(page, known, "m_before", "hello")]));
    await waitFor(async () => expect(await readJson(conversationKey(uuid, page, known))).not.toBeNull());
    await deleteDataOf(person);

    // Another isolate still held the page as written: its merges reach the objects now.
    for (const customer of [known, newcomer]) {
      const merged = await conversationStub(env, page, customer).merge({
        pageId: page,
        customerId: customer,
        messages: [message(`m_late_${customer}`)],
      });
      expect(merged).toMatchObject({ added: 0 });
      expect(await conversationHeld(page, customer)).toEqual([]);
      expect(await runDurableObjectAlarm(conversationStub(env, page, customer))).toBe(false);
    }
    expect(await spaces().listKeys(folder(uuid, page))).toEqual([]);

    // Once a login links the page again, its conversations are written again, from scratch.
    const back = await loginFacebook([{ id: page }], null, uniqueId());
    await messengerWebhook(delivery(page, [messageEvent(page, newcomer, "m_after", "back again")]));
    await waitFor(async () =>
      expect(
        (await readJson(conversationKey(back.body.user_uuid, page, newcomer)))?.messages.map((m: any) => m.mid),
      ).toEqual(["m_after"]),
    );
  });
});
