import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { exportViaApi } from "../../src/backup/d1-export-api";
import { databaseOfDump, dumpD1, readDump } from "../../src/backup/dump";
import { JOURNAL_PREFIX, parseJournal, replaySql, type JournalEntry } from "../../src/backup/journal";
import { checkDump, manifestKey, parseManifest, planRetention, stampOf } from "../../src/backup/manifest";
import { restoreSql } from "../../src/backup/restore-plan";
import { applyRetention, backupOne } from "../../src/backup/run";
import { sha256Hex } from "../../src/lib/signatures";
import {
  call,
  logsOfEachTest,
  control,
  installShop,
  loginFacebook,
  shopifyWebhook,
  spaces,
  uniqueId,
  uniqueShop,
} from "../helpers";

const logs = logsOfEachTest();
afterEach(() => {
  vi.restoreAllMocks();
});

const ADMIN = { authorization: "Bearer test-admin-token-0123456789" };

async function allRows(db: D1Database) {
  const out: Record<string, unknown[]> = {};
  for (const table of ["tokens", "shops", "pages", "webhook_deliveries", "sessions", "oauth_states"]) {
    const exists = await db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
      .bind(table)
      .first();
    if (exists) out[table] = (await db.prepare(`SELECT * FROM ${table} ORDER BY 1`).all()).results;
  }
  return out;
}

async function liveTables(db: D1Database) {
  const { results } = await db
    .prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
    )
    .all<{ name: string }>();
  return results.map((r) => r.name);
}

/** Runs an SQL script as `wrangler d1 execute --file` does: statement by statement. */
async function execScript(db: D1Database, sql: string) {
  const statements: string[] = [];
  let current = "";
  let quoted = false;
  for (const ch of sql) {
    current += ch;
    if (ch === "'") quoted = !quoted;
    if (ch === ";" && !quoted) {
      if (current.trim() !== ";") statements.push(current.trim());
      current = "";
    }
  }
  if (current.trim()) statements.push(current.trim());
  await db.batch(statements.map((s) => db.prepare(s)));
}

async function collect(source: AsyncIterable<string>) {
  let text = "";
  for await (const chunk of source) text += chunk;
  return text;
}

describe("backups", () => {
  it("POST /admin/backup writes both dumps with manifests; no token in the clear", async () => {
    const shop = uniqueShop();
    await installShop(shop);
    await loginFacebook([{ id: uniqueId() }]);
    const res = await call("/admin/backup", { method: "POST", headers: ADMIN });
    expect(res.status).toBe(200);
    const { backups } = await res.json<any>();
    expect(backups.map((b: any) => b.database)).toEqual(["tokens", "sessions"]);
    for (const b of backups) {
      expect(b.key).toMatch(new RegExp(`^backups/d1/${b.database}/\\d{8}T\\d{9}Z\\.sql$`));
      const manifest = parseManifest((await spaces().getText(b.key.replace(/\.sql$/, ".manifest.json")))!);
      const dump = (await spaces().getText(b.key))!;
      const bytes = new TextEncoder().encode(dump);
      expect(checkDump(manifest, bytes, await sha256Hex(bytes), b.database)).toEqual([]);
      expect(dump).not.toMatch(/shpua_|shprt_|EAA[A-Za-z0-9]{8}/);
    }
    const tokensManifest = parseManifest((await spaces().getText(backups[0].key.replace(/\.sql$/, ".manifest.json")))!);
    const counted = await env.TOKENS_DB.prepare("SELECT COUNT(*) AS n FROM tokens").first<{ n: number }>();
    expect(tokensManifest.tables.tokens).toBe(counted!.n);
    expect(logs.has(`Backup of tokens written to ${backups[0].key}`)).toBe(true);
  });

  it("round trip: dump, restore into a database that still has other data, same rows; twice is the same", async () => {
    await installShop(uniqueShop());
    await loginFacebook([{ id: uniqueId() }]);
    await shopifyWebhook(uniqueShop(), "customers/redact", {}); // a webhook_deliveries row
    for (const db of [env.TOKENS_DB, env.SESSIONS_DB]) {
      const dump = await collect(dumpD1(db));
      const facts = readDump(dump);
      expect(databaseOfDump(facts)).not.toBeNull();
      await execScript(env.RESTORE_DB, "CREATE TABLE IF NOT EXISTS leftover (x); INSERT INTO leftover VALUES (1);");
      for (let i = 0; i < 2; i++) {
        await execScript(env.RESTORE_DB, restoreSql(dump, await liveTables(env.RESTORE_DB)));
        expect(await allRows(env.RESTORE_DB)).toEqual(await allRows(db));
        expect(await liveTables(env.RESTORE_DB)).not.toContain("leftover");
      }
      const restoredFacts = readDump(await collect(dumpD1(env.RESTORE_DB)));
      expect(restoredFacts.tables).toEqual(facts.tables);
    }
  });

  it("refuses a corrupt, truncated or foreign dump", async () => {
    const store = spaces();
    const tokens = await backupOne(store, "tokens", dumpD1(env.TOKENS_DB), "test");
    const sessions = await backupOne(store, "sessions", dumpD1(env.SESSIONS_DB), "test");
    const dump = new TextEncoder().encode((await store.getText(tokens.dump_key))!);
    const sha = await sha256Hex(dump);
    expect(checkDump(tokens, dump, sha, "tokens")).toEqual([]);
    const truncated = dump.slice(0, dump.length - 40);
    expect(checkDump(tokens, truncated, await sha256Hex(truncated), "tokens").join("; ")).toMatch(/truncated/);
    const corrupt = dump.slice();
    corrupt[Math.floor(corrupt.length / 2)]! ^= 1;
    expect(checkDump(tokens, corrupt, await sha256Hex(corrupt), "tokens").join("; ")).toMatch(/SHA-256/);
    const foreign = new TextEncoder().encode((await store.getText(sessions.dump_key))!);
    expect(checkDump(sessions, foreign, await sha256Hex(foreign), "tokens").join("; ")).toMatch(/not tokens/);
  });

  it("journals every token and link change at once, encrypted, and replays it after the dump", async () => {
    const before = new Set(await spaces().listKeys(JOURNAL_PREFIX));
    const dumpBefore = await collect(dumpD1(env.TOKENS_DB));
    const shop = uniqueShop();
    const { body } = await installShop(shop);
    const newKeys = (await spaces().listKeys(JOURNAL_PREFIX)).filter((k) => !before.has(k));
    const entries: JournalEntry[] = [];
    for (const key of newKeys) entries.push(parseJournal((await spaces().getText(key))!));
    const changes = entries.flatMap((e) => e.changes);
    expect(changes.find((c) => c.table === "shops" && c.key === shop)?.row?.user_uuid).toBe(body.user_uuid);
    const tokenRow = changes.find((c) => c.table === "tokens" && c.key === `shopify:${shop}`)!.row!;
    expect(String(tokenRow.value)).toMatch(/^v1\./);
    for (const key of newKeys) expect(await spaces().getText(key)).not.toMatch(/shpua_|shprt_/);

    // A dump without the install, plus the journal, gives the rows as they are now.
    await execScript(env.RESTORE_DB, restoreSql(dumpBefore, await liveTables(env.RESTORE_DB), entries));
    const restored = await env.RESTORE_DB.prepare("SELECT * FROM shops WHERE shop = ?1").bind(shop).first();
    expect(restored).toEqual(await env.TOKENS_DB.prepare("SELECT * FROM shops WHERE shop = ?1").bind(shop).first());
    const token = await env.RESTORE_DB.prepare("SELECT * FROM tokens WHERE key = ?1").bind(`shopify:${shop}`).first();
    expect(token).toEqual(
      await env.TOKENS_DB.prepare("SELECT * FROM tokens WHERE key = ?1").bind(`shopify:${shop}`).first(),
    );

    // A removal is journaled as a deletion (through the queue: the webhook does not wait on Spaces).
    await shopifyWebhook(shop, "app/uninstalled", { domain: shop, myshopify_domain: shop });
    const last = await vi.waitFor(
      async () => {
        const all = await spaces().listKeys(JOURNAL_PREFIX);
        const entry = parseJournal((await spaces().getText(all.sort().at(-1)!))!);
        expect(entry.changes).toContainEqual({ table: "tokens", key: `shopify:${shop}`, row: null });
        return entry;
      },
      { timeout: 20_000, interval: 200 },
    );
    expect(replaySql([last])).toContain(`DELETE FROM tokens WHERE key = 'shopify:${shop}';`);
  });

  it("a journal write during a Spaces outage is queued and lands later", async () => {
    await control("spaces", "mode", { mode: "down" });
    const shop = uniqueShop();
    const install = installShop(shop);
    await vi.waitFor(() => expect(logs.has("Journal write failed, queued")).toBe(true), { timeout: 20_000 });
    await control("spaces", "mode", { mode: "up" });
    await install;
    await vi.waitFor(
      async () => {
        const keys = await spaces().listKeys(JOURNAL_PREFIX);
        const texts = await Promise.all(keys.slice(-20).map((k) => spaces().getText(k)));
        expect(texts.some((t) => t?.includes(`"shops","key":"${shop}"`) || t?.includes(`"key":"${shop}"`))).toBe(true);
      },
      { timeout: 20_000, interval: 250 },
    );
  });

  it("retention keeps the newest N of each database, never fewer than one", async () => {
    const keys = ["20260101T000000000Z", "20260102T000000000Z", "20260103T000000000Z"].flatMap((s) => [
      manifestKey("tokens", s),
      manifestKey("sessions", s),
    ]);
    expect(planRetention(keys, 2).sort()).toEqual([
      manifestKey("sessions", "20260101T000000000Z"),
      manifestKey("tokens", "20260101T000000000Z"),
    ]);
    expect(planRetention(keys, 0)).toHaveLength(4);
    expect(planRetention(keys, 0)).not.toContain(manifestKey("tokens", "20260103T000000000Z"));

    const store = spaces();
    for (let i = 0; i < 3; i++) await backupOne(store, "sessions", dumpD1(env.SESSIONS_DB), "test");
    await applyRetention(store, 1);
    const left = (await store.listKeys("backups/d1/sessions/")).filter((k) => k.endsWith(".manifest.json"));
    expect(left).toHaveLength(1);
    expect(left[0]! >= manifestKey("sessions", stampOf(Date.now() - 60_000))).toBe(true);
  });

  it("uses the D1 export REST API when configured: polls until complete, streams the signed URL", async () => {
    const dump = await collect(dumpD1(env.TOKENS_DB));
    const calls: any[] = [];
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.startsWith("https://api.cf.test/client/v4/accounts/acc1/d1/database/db1/export")) {
        const body = JSON.parse(String(init?.body));
        calls.push({ auth: (init?.headers as Record<string, string>).authorization, body });
        const done = calls.length >= 2;
        return Response.json({
          success: true,
          errors: [],
          messages: [],
          result: done
            ? {
                success: true,
                type: "export",
                at_bookmark: "b2",
                status: "complete",
                messages: ["Uploaded part 1"],
                result: { filename: "db1.sql", signed_url: "https://signed.cf.test/db1.sql" },
              }
            : { success: true, type: "export", at_bookmark: "b1", status: "active", messages: [] },
        });
      }
      if (url === "https://signed.cf.test/db1.sql") return new Response(dump);
      return realFetch(input, init);
    });
    const manifest = await backupOne(
      spaces(),
      "tokens",
      exportViaApi({
        origin: "https://api.cf.test",
        accountId: "acc1",
        apiToken: "cf-token-123456",
        databaseId: "db1",
        pollMs: 1,
      }),
      "d1 export api",
    );
    vi.restoreAllMocks();
    expect(calls.map((c) => c.body)).toEqual([
      { output_format: "polling" },
      { output_format: "polling", current_bookmark: "b1" },
    ]);
    expect(calls[0].auth).toBe("Bearer cf-token-123456");
    expect(await spaces().getText(manifest.dump_key)).toBe(dump);
    expect(manifest.tables).toEqual(readDump(dump).tables);
  });
});
