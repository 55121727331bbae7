import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { JOURNAL_PREFIX, parseJournal, type RowChange } from "../../src/backup/journal";
import { linkStore, shopLifecycle, tokenStore } from "../../src/services";
import { ShopLifecycle } from "../../src/storage/shop-lifecycle";
import { LinkStore } from "../../src/storage/links";
import { TokenStore, facebookUserTokenKey, pageTokenKey, shopTokenKey } from "../../src/storage/tokens";
import { spaces, uniqueId, uniqueShop } from "../helpers";

/**
 * Every write method of the token, link and shop-lifecycle stores lands in the backup journal by itself: a caller
 * cannot forget it. The list of methods is read from the classes, so a new write method without a
 * case here fails this test.
 */

const READERS = new Set(["constructor", "get", "shopOwner", "pageOwner"]);

/** Journal changes written since `since` (keys sort by time). */
async function journalSince(since: string): Promise<RowChange[]> {
  const store = spaces();
  const keys = (await store.listKeys(JOURNAL_PREFIX)).filter((k) => k > since).sort();
  const changes: RowChange[] = [];
  for (const key of keys) changes.push(...parseJournal((await store.getText(key))!).changes);
  return changes;
}

const now = () => `${JOURNAL_PREFIX}${new Date(Date.now() - 1).toISOString().replace(/[-:.]/g, "")}`;

describe("the stores journal every write they make", () => {
  it("each write method of TokenStore and LinkStore puts its rows in the journal", async () => {
    const tokens = await tokenStore(env);
    const links = await linkStore(env);
    const lifecycle = shopLifecycle(env);
    const shop = uniqueShop("journal");
    const page = uniqueId();
    const uuid = crypto.randomUUID();
    const other = crypto.randomUUID();

    type Case = () => Promise<
      { table: RowChange["table"]; key: string; row: Partial<Record<string, unknown>> | null }[]
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
      "TokenStore.markNeedsReauth": async () => {
        await tokens.markNeedsReauth(shopTokenKey(shop));
        return [{ table: "tokens", key: shopTokenKey(shop), row: { status: "needs_reauth" } }];
      },
      "TokenStore.delete": async () => {
        await tokens.delete(facebookUserTokenKey(uuid));
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
          accessToken: "EAAjournaluser1",
        });
        expect(out).toEqual({ owners: { [page]: uuid }, ownedByOthers: [] });
        return [
          { table: "tokens", key: facebookUserTokenKey(uuid), row: { status: "active" } },
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
    ].filter((m) => !READERS.has(m.split(".")[1]!) && !["putStatement", "decode", "relink"].includes(m.split(".")[1]!));
    expect(methods.sort()).toEqual(Object.keys(cases).sort());

    for (const [name, run] of Object.entries(cases)) {
      const since = now();
      const expected = await run();
      const journaled = await journalSince(since);
      for (const want of expected) {
        const change = journaled.filter((c) => c.table === want.table && c.key === want.key).at(-1);
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
