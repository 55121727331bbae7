import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { backupAuth } from "../../src/backup/auth";
import { JOURNAL_PREFIX, keyText, parseJournal, type RowChange } from "../../src/backup/journal";
import { deletionStore, facebookUserStore, linkStore, shopLifecycle, tokenStore } from "../../src/services";
import { DeletionStore } from "../../src/db/facebook-deletions";
import { FacebookUserStore } from "../../src/db/facebook-users";
import { ShopLifecycle } from "../../src/db/shop-lifecycle";
import { LinkStore } from "../../src/db/links";
import { TokenStore, facebookUserTokenKey, pageTokenKey, shopTokenKey } from "../../src/db/tokens";
import { spaces, uniqueId, uniqueShop } from "../helpers";

/**
 * Every write method of the token, link, shop-lifecycle, Facebook user and deletion stores lands in
 * the backup journal by itself: a caller cannot forget it. The list of methods is read from the
 * classes, so a new write method without a case here fails this test.
 */

declare global {
  interface ImportMeta {
    /** Vite's glob import: here, every source file's text by path. */
    glob(pattern: string, opts: { query: "?raw"; import: "default"; eager: true }): Record<string, string>;
  }
}

const SOURCES = import.meta.glob("../../src/**/*.ts", { query: "?raw", import: "default", eager: true });

/** The stores that write the Meta tables (each write in a method of its class, journaled). */
const META_STORES: Record<string, string> = {
  "../../src/db/facebook-users.ts": "export class FacebookUserStore",
  "../../src/db/facebook-deletions.ts": "export class DeletionStore",
};

const READERS = new Set(["constructor", "get", "sealedValues", "shopOwner", "pageOwner"]);

/** Journal changes written since `since` (keys sort by time). */
async function journalSince(since: string): Promise<RowChange[]> {
  const store = spaces();
  const keys = (await store.listKeys(JOURNAL_PREFIX)).filter((k) => k > since).sort();
  const changes: RowChange[] = [];
  for (const key of keys)
    changes.push(...(await parseJournal(key, (await store.getText(key))!, await backupAuth(env))).changes);
  return changes;
}

const now = () => `${JOURNAL_PREFIX}${new Date(Date.now() - 1).toISOString().replace(/[-:.]/g, "")}`;

describe("the stores journal every write they make", () => {
  it("each write method of the stores puts its rows in the journal", async () => {
    const tokens = await tokenStore(env);
    const links = await linkStore(env);
    const lifecycle = shopLifecycle(env);
    const shop = uniqueShop("journal");
    const page = uniqueId();
    const uuid = crypto.randomUUID();
    const other = crypto.randomUUID();

    const facebookUsers = facebookUserStore(env);
    const deletions = deletionStore(env);
    const fbUser = uniqueId();
    const agency = uniqueId();
    const otherPage = uniqueId();
    const code = crypto.randomUUID().replace(/-/g, "");

    type Case = () => Promise<
      { table: RowChange["table"]; key: string | string[]; row: Partial<Record<string, unknown>> | null }[]
    >;
    const cases: Record<string, Case> = {
      "TokenStore.commit": async () => {
        await tokens.commit({ put: [{ key: facebookUserTokenKey(uuid), accessToken: "EAAjournalcommit1" }] });
        return [{ table: "tokens", key: facebookUserTokenKey(uuid), row: { status: "active" } }];
      },
      "TokenStore.put": async () => {
        await tokens.put({ key: shopTokenKey(shop), accessToken: "shpua_journal1", refreshToken: "shprt_journal1" });
        return [{ table: "tokens", key: shopTokenKey(shop), row: { status: "active" } }];
      },
      "TokenStore.replaceAfterRefresh": async () => {
        const current = (await tokens.get(shopTokenKey(shop)))!;
        const ok = await tokens.replaceAfterRefresh(current, {
          key: shopTokenKey(shop),
          accessToken: "shpua_journal2",
          refreshToken: "shprt_journal2",
        });
        expect(ok).toBe(true);
        return [{ table: "tokens", key: shopTokenKey(shop), row: { status: "active" } }];
      },
      "TokenStore.updateScope": async () => {
        expect(await tokens.updateScope(shopTokenKey(shop), "read_products,read_inventory", Date.now() + 1000)).toBe(
          true,
        );
        return [{ table: "tokens", key: shopTokenKey(shop), row: { scope: "read_products,read_inventory" } }];
      },
      "TokenStore.markNeedsReauth": async () => {
        await tokens.markNeedsReauth(shopTokenKey(shop));
        return [{ table: "tokens", key: shopTokenKey(shop), row: { status: "needs_reauth" } }];
      },
      "TokenStore.delete": async () => {
        await tokens.delete(facebookUserTokenKey(uuid));
        return [{ table: "tokens", key: facebookUserTokenKey(uuid), row: null }];
      },
      "TokenStore.deleteUnchanged": async () => {
        await tokens.put({ key: facebookUserTokenKey(uuid), accessToken: "EAAjournaldelete1" });
        expect(await tokens.deleteUnchanged(await tokens.sealedValues([facebookUserTokenKey(uuid)]))).toBe(1);
        return [{ table: "tokens", key: facebookUserTokenKey(uuid), row: null }];
      },
      "LinkStore.installShop": async () => {
        expect(await links.installShop(shop, { accessToken: "shpua_journal3" }, uuid)).toBe(uuid);
        return [
          { table: "tokens", key: shopTokenKey(shop), row: { status: "active" } },
          { table: "shops", key: shop, row: { user_uuid: uuid, uninstalled_at: null } },
        ];
      },
      "LinkStore.linkPages": async () => {
        const out = await links.linkPages([{ id: page, name: "Journal page", accessToken: "EAAjournalpage1" }], uuid, {
          facebookUserId: fbUser,
          accessToken: "EAAjournaluser1",
        });
        expect(out).toEqual({ owners: { [page]: uuid }, ownedByOthers: [] });
        return [
          { table: "tokens", key: facebookUserTokenKey(fbUser), row: { status: "active" } },
          { table: "tokens", key: pageTokenKey(page), row: { status: "active" } },
          { table: "pages", key: page, row: { user_uuid: uuid, name: "Journal page" } },
        ];
      },
      "LinkStore.setPageName": async () => {
        await links.setPageName(page, "Renamed page");
        return [{ table: "pages", key: page, row: { name: "Renamed page", user_uuid: uuid } }];
      },
      "LinkStore.relinkPage": async () => {
        expect(await links.relinkPage(page, other)).toBe(uuid);
        return [{ table: "pages", key: page, row: { user_uuid: other } }];
      },
      "LinkStore.relinkShop": async () => {
        expect(await links.relinkShop(shop, other)).toBe(uuid);
        return [{ table: "shops", key: shop, row: { user_uuid: other } }];
      },
      "ShopLifecycle.redactToken": async () => {
        await links.installShop(shop, { accessToken: "shpua_journal6" }, other);
        expect(await lifecycle.redactToken(shop, Date.now() + 1000)).toBe(true);
        return [{ table: "tokens", key: shopTokenKey(shop), row: null }];
      },
      "FacebookUserStore.recordLogin": async () => {
        await facebookUsers.recordLogin(fbUser, uuid, [
          { pageId: page, linksNow: true, own: true },
          { pageId: otherPage, linksNow: false, own: false },
        ]);
        // A login under a second UUID adds it; the first stays.
        await facebookUsers.recordLogin(fbUser, other, []);
        return [
          { table: "facebook_users", key: fbUser, row: { user_uuid: uuid, deauthorized_at: null } },
          { table: "facebook_user_accounts", key: [fbUser, uuid], row: { user_uuid: uuid } },
          { table: "facebook_user_accounts", key: [fbUser, other], row: { user_uuid: other } },
          { table: "facebook_page_grants", key: [page, fbUser], row: { linked: 1 } },
          { table: "facebook_page_grants", key: [otherPage, fbUser], row: { linked: 0 } },
        ];
      },
      "FacebookUserStore.markDeauthorized": async () => {
        await facebookUsers.markDeauthorized(fbUser, Date.now() + 1000);
        return [
          { table: "facebook_users", key: fbUser, row: { user_uuid: uuid, deauthorized_at: expect.any(Number) } },
        ];
      },
      "FacebookUserStore.forget": async () => {
        // Another Facebook user's grant of the same page stays.
        await facebookUsers.recordLogin(agency, other, [{ pageId: page, linksNow: false, own: false }]);
        await facebookUsers.forget(fbUser, Date.now() + 1000);
        const since = now();
        await facebookUsers.forget(agency, Date.now() + 1000);
        const agencyRows = await journalSince(since);
        expect(agencyRows.map((c) => [c.table, keyText(c.key), c.row])).toEqual([
          ["facebook_page_grants", keyText([page, agency]), null],
          ["facebook_user_accounts", keyText([agency, other]), null],
          ["facebook_users", agency, null],
        ]);
        return [
          { table: "facebook_page_grants", key: [page, fbUser], row: null },
          { table: "facebook_page_grants", key: [otherPage, fbUser], row: null },
          { table: "facebook_user_accounts", key: [fbUser, uuid], row: null },
          { table: "facebook_user_accounts", key: [fbUser, other], row: null },
          { table: "facebook_users", key: fbUser, row: null },
        ];
      },
      "DeletionStore.record": async () => {
        const first = await deletions.record(fbUser, 1_700_000_000, uuid, { code });
        expect(first).toMatchObject({ created: true, deletion: { code, status: "received" } });
        return [{ table: "facebook_deletions", key: code, row: { status: "received", user_uuid: uuid } }];
      },
      "DeletionStore.update": async () => {
        await deletions.update(code, "done", { pages: 1, tokens: 2 });
        return [{ table: "facebook_deletions", key: code, row: { status: "done", pages: 1, tokens_deleted: 2 } }];
      },
      "ShopLifecycle.uninstall": async () => {
        await links.installShop(shop, { accessToken: "shpua_journal7" }, other);
        expect(await lifecycle.uninstall(shop, Date.now() + 1000)).toBe(true);
        return [
          { table: "tokens", key: shopTokenKey(shop), row: null },
          { table: "shops", key: shop, row: { user_uuid: other, uninstalled_at: expect.any(Number) } },
        ];
      },
    };

    const methods = [
      ...Object.getOwnPropertyNames(TokenStore.prototype).map((m) => `TokenStore.${m}`),
      ...Object.getOwnPropertyNames(LinkStore.prototype).map((m) => `LinkStore.${m}`),
      ...Object.getOwnPropertyNames(ShopLifecycle.prototype).map((m) => `ShopLifecycle.${m}`),
      ...Object.getOwnPropertyNames(FacebookUserStore.prototype).map((m) => `FacebookUserStore.${m}`),
      ...Object.getOwnPropertyNames(DeletionStore.prototype).map((m) => `DeletionStore.${m}`),
    ].filter((m) => !READERS.has(m.split(".")[1]!) && !["putStatement", "decode", "relink"].includes(m.split(".")[1]!));
    expect(methods.sort()).toEqual(Object.keys(cases).sort());

    for (const [name, run] of Object.entries(cases)) {
      const since = now();
      const expected = await run();
      const journaled = await journalSince(since);
      for (const want of expected) {
        const change = journaled.filter((c) => c.table === want.table && keyText(c.key) === keyText(want.key)).at(-1);
        expect({ name, change: change ?? null }).toMatchObject({
          name,
          change: {
            table: want.table,
            key: want.key,
            row: want.row === null ? null : expect.objectContaining(want.row),
          },
        });
      }
    }
  });

  it("no code but the Meta stores' methods writes facebook_users, facebook_user_accounts, facebook_page_grants or facebook_deletions", () => {
    const write =
      /\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(facebook_users|facebook_user_accounts|facebook_page_grants|facebook_deletions)\b/i;
    const writes = new RegExp(write.source, "gi");
    expect(Object.keys(SOURCES).length).toBeGreaterThan(50);
    const outside: string[] = [];
    for (const [path, text] of Object.entries(SOURCES)) {
      const classAt = META_STORES[path] ? text.indexOf(META_STORES[path]) : -1;
      for (const m of text.matchAll(writes)) if (classAt === -1 || m.index < classAt) outside.push(`${path}: ${m[0]}`);
    }
    expect(outside).toEqual([]);
    // Each store has its writes (the check above would pass on an empty file).
    for (const [path, start] of Object.entries(META_STORES))
      expect(SOURCES[path]!.slice(SOURCES[path]!.indexOf(start))).toMatch(write);
  });

  it("an install that meets a linked shop journals the row as it is: the owner unchanged", async () => {
    const links = await linkStore(env);
    const shop = uniqueShop("journal-owned");
    const alice = crypto.randomUUID();
    const staff = crypto.randomUUID();
    expect(await links.installShop(shop, { accessToken: "shpua_journal4" }, alice)).toBe(alice);
    const since = now();
    expect(await links.installShop(shop, { accessToken: "shpua_journal5" }, staff)).toBe(alice);
    const rows = (await journalSince(since)).filter((c) => c.table === "shops" && c.key === shop);
    expect(rows.at(-1)?.row).toMatchObject({ user_uuid: alice });
  });
});
