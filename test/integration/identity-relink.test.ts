import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { backupAuth } from "../../src/backup/auth";
import { JOURNAL_PREFIX, parseJournal } from "../../src/backup/journal";
import { conversationKey, pageMetadataKey, shopMetadataKey, shopProductsKey } from "../../src/spaces/keys";
import { pageOwner, shopOwner } from "../../src/db/links";
import {
  call,
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

const logs = logsOfEachTest();

const relink = (body: unknown, token: string = env.ADMIN_TOKEN) =>
  call("/admin/relink", {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

/** The journal entries that recorded this row of `table`, oldest first. */
async function journalRowsOf(table: string, key: string) {
  const store = spaces();
  const out = [];
  for (const k of (await store.listKeys(JOURNAL_PREFIX)).sort()) {
    // Spaces is shared by every test file; entries other files signed with other keys are not ours.
    const entry = await parseJournal(k, (await store.getText(k))!, await backupAuth(env)).catch(() => null);
    if (!entry) continue;
    for (const change of entry.changes) if (change.table === table && change.key === key) out.push(change.row);
  }
  return out;
}

describe("npm run relink (POST /admin/relink): the one way a link changes owner", () => {
  it("moves a page with its files; the next message lands in the new folder", async () => {
    const page = uniqueId();
    const customer = uniqueId();
    const alice = await loginFacebook([{ id: page, name: "Moving Page" }]);
    const from = alice.body.user_uuid;
    await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_before", "Before the move")]));
    const oldConversation = conversationKey(from, page, customer);
    await waitFor(async () => expect((await readJson(oldConversation))?.messages).toHaveLength(1));
    // The customer's profile (none, here) is asked once and written too: the file is settled after it.
    await waitFor(async () => expect((await readJson(oldConversation))?.customer).not.toBeNull());
    const oldBytes = await spaces().getText(oldConversation);

    const to = crypto.randomUUID();
    const res = await relink({ page, to });
    expect(res.status).toBe(200);
    const outcome = await res.json<any>();
    expect(outcome).toMatchObject({ kind: "page", id: page, from, to, linkChanged: true, kept: [] });
    expect([...outcome.moved].sort()).toEqual([conversationKey(to, page, customer), pageMetadataKey(to, page)].sort());

    expect((await pageOwner(env.TOKENS_DB, page))?.userUuid).toBe(to);
    expect(await spaces().listKeys(`users/${from}/facebook/${page}/`)).toEqual([]);
    expect(await spaces().getText(conversationKey(to, page, customer))).toBe(oldBytes);
    expect((await journalRowsOf("pages", page)).at(-1)).toMatchObject({ page_id: page, user_uuid: to });
    expect(logs.has(`Relinked page ${page} from ${from} to ${to}: 2 objects moved, 0 kept`)).toBe(true);

    await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_after", "After the move")]));
    await waitFor(async () =>
      expect((await readJson(conversationKey(to, page, customer)))?.messages.map((m: any) => m.mid)).toEqual([
        "m_before",
        "m_after",
      ]),
    );
    expect(await spaces().listKeys(`users/${from}/facebook/${page}/`)).toEqual([]);
  });

  it("moves a shop with its two files; a later sync writes under the new owner", async () => {
    const shop = uniqueShop("moving");
    const install = await installShop(shop);
    const from = install.body.user_uuid;
    const to = crypto.randomUUID();
    const res = await relink({ shop, to });
    expect(res.status).toBe(200);
    expect((await res.json<any>()).moved.sort()).toEqual([shopMetadataKey(to, shop), shopProductsKey(to, shop)].sort());
    expect((await shopOwner(env.TOKENS_DB, shop))?.userUuid).toBe(to);
    expect(await spaces().listKeys(`users/${from}/shopify/${shop}/`)).toEqual([]);
    // The merchant's old browser re-installs: the shop stays with its new owner.
    const again = await installShop(shop, { cookie: install.cookie });
    expect(again.body.other_account).toBe(true);
    expect((await shopOwner(env.TOKENS_DB, shop))?.userUuid).toBe(to);
    expect(await spaces().listKeys(`users/${from}/shopify/${shop}/`)).toEqual([]);
  });

  it("refuses bad input and a wrong token, changing nothing", async () => {
    const page = uniqueId();
    const alice = await loginFacebook([{ id: page }]);
    expect((await relink({ page, to: crypto.randomUUID() }, "x".repeat(32))).status).toBe(401);
    expect((await relink({ page, to: "not-a-uuid" })).status).toBe(400);
    expect((await relink({ page: "../x", to: crypto.randomUUID() })).status).toBe(400);
    expect((await relink({ shop: "evil.com", to: crypto.randomUUID() })).status).toBe(400);
    expect((await relink({ page: uniqueId(), to: crypto.randomUUID() })).status).toBe(404);
    expect((await relink({ to: crypto.randomUUID() })).status).toBe(400);
    const post = (body: string, contentType?: string) =>
      call("/admin/relink", {
        method: "POST",
        headers: {
          authorization: `Bearer ${env.ADMIN_TOKEN}`,
          ...(contentType ? { "content-type": contentType } : {}),
        },
        body,
      });
    for (const res of [await post("{not json", "application/json"), await post("{not json"), await post("")]) {
      expect(res.status).toBe(400);
      const body = await res.json<{ error: { code: string; message: string } }>();
      expect(Object.keys(body)).toEqual(["error"]);
      expect(body.error.code).toBe("bad_request");
    }
    // The same body unlabelled (as `curl -d` sends it) is read as JSON all the same.
    const other = crypto.randomUUID();
    const moved = await post(JSON.stringify({ page, to: other }), "application/x-www-form-urlencoded");
    expect(moved.status).toBe(200);
    expect((await pageOwner(env.TOKENS_DB, page))?.userUuid).toBe(other);
    expect((await relink({ page, to: alice.body.user_uuid })).status).toBe(200);
    expect((await pageOwner(env.TOKENS_DB, page))?.userUuid).toBe(alice.body.user_uuid);
  });
});
