import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { backupAuth, BackupAuth } from "../../src/backup/auth";
import { exportViaApi } from "../../src/backup/d1-export-api";
import { dumpD1, readDump, type DatabaseName } from "../../src/backup/dump";
import { BackupRefused, parseDump } from "../../src/backup/dump-parse";
import { JOURNAL_PREFIX, parseJournal, writeJournal, type JournalEntry } from "../../src/backup/journal";
import { checkDump, manifestKey, readManifest, signedJson, stampOf, verificationKey } from "../../src/backup/manifest";
import { planRestore, type RestoreChoice } from "../../src/backup/pitr";
import { keptBackups, type StoredBackup } from "../../src/backup/retention";
import { stateFacts, stateSql } from "../../src/backup/restore-plan";
import { applyRetention, backupOne } from "../../src/backup/run";
import { splitStatements } from "../../src/backup/sql-text";
import { recoveryStatus } from "../../src/backup/status";
import { toBase64Url, utf8 } from "../../src/lib/encoding";
import { hmacSha256, sha256Hex } from "../../src/lib/signatures";
import { linkStore } from "../../src/services";
import { deletionByCode } from "../../src/db/facebook-deletions";
import { accountsOf, facebookUser, pagesGrantedBy } from "../../src/db/facebook-users";
import { TEST_SECRETS } from "../env";
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
const migrations = () => ({ tokens: env.TEST_MIGRATIONS_TOKENS, sessions: env.TEST_MIGRATIONS_SESSIONS });
const auth = () => backupAuth(env);

async function rowsOf(db: D1Database, tables: string[]) {
  const out: Record<string, unknown[]> = {};
  for (const table of tables) {
    const exists = await db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
      .bind(table)
      .first();
    if (exists) out[table] = (await db.prepare(`SELECT * FROM ${table} ORDER BY 1`).all()).results;
  }
  return out;
}
const allRows = (db: D1Database) =>
  rowsOf(db, ["tokens", "shops", "pages", "webhook_deliveries", "sessions", "oauth_states"]);

/** The link state a point-in-time restore must give back (sync bookkeeping columns left out). */
async function linkState(db: D1Database) {
  const tokens = (await db.prepare("SELECT * FROM tokens ORDER BY key").all()).results;
  const shops = (
    await db.prepare("SELECT shop, user_uuid, installed_at, uninstalled_at FROM shops ORDER BY shop").all()
  ).results;
  const pages = (await db.prepare("SELECT * FROM pages ORDER BY page_id").all()).results;
  return { tokens, shops, pages };
}

async function liveTables(db: D1Database) {
  const { results } = await db
    .prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
    )
    .all<{ name: string }>();
  return results.map((r) => r.name);
}

/** Runs an SQL script as `wrangler d1 execute --file` does: statement by statement, in one batch. */
async function execScript(db: D1Database, sql: string) {
  await db.batch(splitStatements(sql).map((s) => db.prepare(s)));
}

/** What `npm run restore` does, with RESTORE_DB as the live database: plan (checks) first, then write. */
async function restoreInto(db: D1Database, database: DatabaseName, choice: RestoreChoice = {}) {
  const [plan] = await planRestore(spaces(), await auth(), migrations(), { ...choice, databases: [database] });
  await execScript(db, stateSql(plan!.state, await liveTables(db)));
  return plan!;
}

async function collect(source: AsyncIterable<string>) {
  let text = "";
  for await (const chunk of source) text += chunk;
  return text;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Meta's Data Deletion Request for this app-scoped user, signed as Meta signs it. */
async function dataDeletionRequest(facebookUserId: string) {
  const part = toBase64Url(
    utf8(
      JSON.stringify({ algorithm: "HMAC-SHA256", issued_at: Math.floor(Date.now() / 1000), user_id: facebookUserId }),
    ),
  );
  const signed = `${toBase64Url(await hmacSha256(TEST_SECRETS.FACEBOOK_APP_SECRET, part))}.${part}`;
  const res = await call("/facebook/data-deletion", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ signed_request: signed }).toString(),
  });
  expect(res.status).toBe(200);
  return (await res.json<{ confirmation_code: string }>()).confirmation_code;
}

/**
 * Deletes the journal other test files left in the shared bucket: a restore replays entries from
 * JOURNAL_OVERLAP_MS before its dump, and theirs name rows of their own databases, not this one's.
 */
async function emptySharedJournal() {
  const store = spaces();
  for (const key of await store.listKeys(JOURNAL_PREFIX)) await store.delete(key);
}

const grantOf = (db: D1Database, pageId: string) =>
  db.prepare("SELECT * FROM facebook_page_grants WHERE page_id = ?1").bind(pageId).first<Record<string, unknown>>();

describe("backups", () => {
  it("POST /admin/backup writes both dumps with signed manifests; no token in the clear", async () => {
    const shop = uniqueShop();
    await installShop(shop);
    await loginFacebook([{ id: uniqueId() }]);
    const res = await call("/admin/backup", { method: "POST", headers: ADMIN });
    expect(res.status).toBe(200);
    const { backups } = await res.json<any>();
    expect(backups.map((b: any) => b.database)).toEqual(["tokens", "sessions"]);
    for (const b of backups) {
      expect(b.key).toMatch(new RegExp(`^backups/d1/${b.database}/\\d{8}T\\d{9}Z\\.sql$`));
      const key = b.key.replace(/\.sql$/, ".manifest.json");
      const text = (await spaces().getText(key))!;
      expect(JSON.parse(text).auth.hmac).toMatch(/^[0-9a-f]{64}$/);
      const manifest = await readManifest(key, text, await auth());
      const dump = (await spaces().getText(b.key))!;
      const bytes = new TextEncoder().encode(dump);
      expect(checkDump(manifest, bytes, await sha256Hex(bytes), b.database)).toEqual([]);
      expect(dump).not.toMatch(/shpua_|shprt_|EAA[A-Za-z0-9]{8}/);
    }
    const tokensKey = backups[0].key.replace(/\.sql$/, ".manifest.json");
    const tokensManifest = await readManifest(tokensKey, await spaces().getText(tokensKey), await auth());
    const counted = await env.TOKENS_DB.prepare("SELECT COUNT(*) AS n FROM tokens").first<{ n: number }>();
    expect(tokensManifest.tables.tokens).toBe(counted!.n);
    expect(logs.has(`Backup of tokens written to ${backups[0].key}`)).toBe(true);
  });

  it("round trip: a parsed dump restored into a database that still has other data, same rows; twice is the same", async () => {
    await installShop(uniqueShop());
    await loginFacebook([{ id: uniqueId() }]);
    await shopifyWebhook(uniqueShop(), "customers/redact", {}); // a webhook_deliveries row
    for (const [database, db] of [
      ["tokens", env.TOKENS_DB],
      ["sessions", env.SESSIONS_DB],
    ] as const) {
      const dump = await collect(dumpD1(db));
      const state = parseDump(dump, database, migrations()[database], "test dump");
      await execScript(env.RESTORE_DB, "CREATE TABLE IF NOT EXISTS leftover (x); INSERT INTO leftover VALUES (1);");
      for (let i = 0; i < 2; i++) {
        await execScript(env.RESTORE_DB, stateSql(state, await liveTables(env.RESTORE_DB)));
        expect(await allRows(env.RESTORE_DB)).toEqual(await allRows(db));
        expect(await liveTables(env.RESTORE_DB)).not.toContain("leftover");
      }
      const again = readDump(await collect(dumpD1(env.RESTORE_DB)));
      expect(again.tables).toEqual(readDump(dump).tables);
      const facts = await stateFacts(
        parseDump(await collect(dumpD1(env.RESTORE_DB)), database, migrations()[database], "x"),
      );
      expect(facts.hashes).toEqual((await stateFacts(state)).hashes);
    }
  });

  it("refuses a corrupt, truncated or foreign dump", async () => {
    const store = spaces();
    const tokens = await backupOne(store, await auth(), "tokens", dumpD1(env.TOKENS_DB), "test");
    const sessions = await backupOne(store, await auth(), "sessions", dumpD1(env.SESSIONS_DB), "test");
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

  it("a forged dump with a recomputed sha256 is refused, naming the object; live data unchanged", async () => {
    const store = spaces();
    await installShop(uniqueShop());
    const real = await backupOne(store, await auth(), "tokens", dumpD1(env.TOKENS_DB), "test");
    await restoreInto(env.RESTORE_DB, "tokens", { from: real.dump_key });
    const before = await allRows(env.RESTORE_DB);

    // Someone with the Spaces key re-links every shop to their UUID and fixes up the manifest.
    const dump = (await store.getText(real.dump_key))!;
    const forged = dump.replace(
      /^(INSERT INTO "shops" VALUES\('[^']+',)'[^']+'/gm,
      "$1'00000000-0000-4000-8000-00000000beef'",
    );
    expect(forged).not.toBe(dump);
    const bytes = new TextEncoder().encode(forged);
    const key = manifestKey("tokens", stampOf(real.exported_at));
    const original = JSON.parse((await store.getText(key))!);
    await store.put(real.dump_key, forged);
    await store.put(key, JSON.stringify({ ...original, sha256: await sha256Hex(bytes), bytes: bytes.length }));
    const refused = await restoreInto(env.RESTORE_DB, "tokens", { from: real.dump_key }).catch((e) => e);
    expect(refused).toBeInstanceOf(BackupRefused);
    expect(refused.message).toBe(`refusing ${key}: its HMAC does not match (altered, or moved from another key)`);

    // Without any auth, or signed with a key the worker does not have: refused too.
    const { auth: _drop, ...unsigned } = original;
    await store.put(key, JSON.stringify(unsigned));
    await expect(restoreInto(env.RESTORE_DB, "tokens", { from: real.dump_key })).rejects.toThrow(
      `refusing ${key}: it is not authenticated (no HMAC)`,
    );
    const stranger = await BackupAuth.create(btoa(String.fromCharCode(...new Uint8Array(32).fill(7))));
    await store.put(key, await signedJson(stranger, key, { ...unsigned, sha256: await sha256Hex(bytes) }));
    await expect(restoreInto(env.RESTORE_DB, "tokens", { from: real.dump_key })).rejects.toThrow(
      /which is neither TOKEN_ENCRYPTION_KEY nor a previous key/,
    );
    // A genuine manifest copied beside another dump names the wrong backup.
    const other = await backupOne(store, await auth(), "tokens", dumpD1(env.TOKENS_DB), "test");
    const otherKey = manifestKey("tokens", stampOf(other.exported_at));
    await store.put(key, (await store.getText(otherKey))!);
    await expect(restoreInto(env.RESTORE_DB, "tokens", { from: real.dump_key })).rejects.toThrow(
      `refusing ${key}: its HMAC does not match`,
    );
    expect(await allRows(env.RESTORE_DB)).toEqual(before);
  });

  it("accepts only the statement shapes a dump of our schema has", async () => {
    const dump = await collect(dumpD1(env.TOKENS_DB));
    const parse = (text: string) => () => parseDump(text, "tokens", migrations().tokens, "backups/d1/tokens/x.sql");
    expect(parse(dump)).not.toThrow();
    const hostile: [string, RegExp][] = [
      [
        `${dump}CREATE TRIGGER relink AFTER INSERT ON shops BEGIN UPDATE shops SET user_uuid = 'x'; END;\n`,
        /not a statement a dump of our schema has|unexpected character/,
      ],
      [`${dump}UPDATE shops SET user_uuid = 'x';\n`, /UPDATE shops.*not a statement a dump of our schema has/],
      [`${dump}CREATE VIEW v AS SELECT * FROM tokens;\n`, /not a statement a dump of our schema has/],
      [`${dump}INSERT INTO "shops" SELECT * FROM pages;\n`, /not rows of literal values/],
      [`${dump}INSERT INTO "shops" VALUES(lower('A'),'u',1,NULL,NULL,0);\n`, /not rows of literal values/],
      [`${dump}CREATE TABLE evil (x);\n`, /a table that is not in our schema/],
      [
        dump.replace("value TEXT NOT NULL,", "value TEXT NOT NULL DEFAULT (hex(randomblob(8))),"),
        /not defined as our migrations define it/,
      ],
      [
        dump.replace("CREATE INDEX shops_user ON shops (user_uuid)", "CREATE INDEX shops_user ON shops (shop)"),
        /an index that is not in our schema/,
      ],
      [
        `${dump}INSERT INTO "d1_migrations" VALUES(99,'9999_evil.sql','2026-01-01');\n`,
        /9999_evil.sql, which is not one of ours/,
      ],
      [`${dump}PRAGMA writable_schema=ON;\n`, /only PRAGMA defer_foreign_keys=TRUE/],
      [`${dump}INSERT INTO "tokens" VALUES('k','v');\n`, /2 values for the 8 columns of tokens/],
    ];
    for (const [text, reason] of hostile) {
      const error = (() => {
        try {
          parse(text)();
          return null;
        } catch (e) {
          return e as Error;
        }
      })();
      expect(error, String(reason)).toBeInstanceOf(BackupRefused);
      expect(error!.message).toMatch(/^refusing backups\/d1\/tokens\/x\.sql: /);
      expect(error!.message).toMatch(reason);
    }
  });

  it("journals every token and link change at once, signed, and replays it after the dump", async () => {
    const store = spaces();
    const backup = await backupOne(store, await auth(), "tokens", dumpD1(env.TOKENS_DB), "test");
    const before = new Set(await store.listKeys(JOURNAL_PREFIX));
    await sleep(5);
    const shop = uniqueShop();
    const { body } = await installShop(shop);
    const newKeys = (await store.listKeys(JOURNAL_PREFIX)).filter((k) => !before.has(k));
    const entries: JournalEntry[] = [];
    for (const key of newKeys) entries.push(await parseJournal(key, (await store.getText(key))!, await auth()));
    const changes = entries.flatMap((e) => e.changes);
    expect(changes.find((c) => c.table === "shops" && c.key === shop)?.row?.user_uuid).toBe(body.user_uuid);
    const tokenRow = changes.find((c) => c.table === "tokens" && c.key === `shopify:${shop}`)!.row!;
    expect(String(tokenRow.value)).toMatch(/^v1\./);
    for (const key of newKeys) expect(await store.getText(key)).not.toMatch(/shpua_|shprt_/);

    // The dump without the install, plus the journal, gives the rows as they are now.
    const plan = await restoreInto(env.RESTORE_DB, "tokens", { from: backup.dump_key });
    expect(plan.journalEntries).toBeGreaterThan(0);
    expect(await env.RESTORE_DB.prepare("SELECT * FROM shops WHERE shop = ?1").bind(shop).first()).toEqual(
      await env.TOKENS_DB.prepare("SELECT * FROM shops WHERE shop = ?1").bind(shop).first(),
    );
    const token = `shopify:${shop}`;
    expect(await env.RESTORE_DB.prepare("SELECT * FROM tokens WHERE key = ?1").bind(token).first()).toEqual(
      await env.TOKENS_DB.prepare("SELECT * FROM tokens WHERE key = ?1").bind(token).first(),
    );
    expect(plan.facts.tokenKeys).toContain(token);

    // A removal is journaled as a deletion (through the queue: the webhook does not wait on Spaces).
    await shopifyWebhook(shop, "app/uninstalled", { domain: shop, myshopify_domain: shop });
    await vi.waitFor(
      async () => {
        const all = (await store.listKeys(JOURNAL_PREFIX)).sort();
        const last = all.at(-1)!;
        const entry = await parseJournal(last, (await store.getText(last))!, await auth());
        expect(entry.changes).toContainEqual({ table: "tokens", key: token, row: null });
      },
      { timeout: 20_000, interval: 200 },
    );
    const after = await restoreInto(env.RESTORE_DB, "tokens", { from: backup.dump_key });
    expect(after.facts.tokenKeys).not.toContain(token);
    expect(await env.RESTORE_DB.prepare("SELECT key FROM tokens WHERE key = ?1").bind(token).first()).toBeNull();
  });

  it("refuses a hostile or unsigned journal entry, naming it; live data unchanged", async () => {
    const store = spaces();
    const backup = await backupOne(store, await auth(), "tokens", dumpD1(env.TOKENS_DB), "test");
    await restoreInto(env.RESTORE_DB, "tokens", { from: backup.dump_key });
    const before = await allRows(env.RESTORE_DB);
    const at = Date.now() + 1;
    const stamp = stampOf(at);
    const key = `${JOURNAL_PREFIX}${stamp}-deadbeef.json`;
    const signer = await auth();
    const sign = async (payload: Record<string, unknown>) =>
      JSON.stringify({ ...payload, auth: await signer.sign(key, payload) });
    const cases: [string, string][] = [
      [
        JSON.stringify({ format: 2, at, changes: [{ table: "constructor", key: "x", row: null }] }),
        `change 1: table "constructor" is not a journaled table`,
      ],
      // Even signed with our own key (a bug, a stolen key): the shape is still checked.
      [
        await sign({ format: 2, at, changes: [{ table: "constructor", key: "x", row: null }] }),
        `change 1: table "constructor" is not a journaled table`,
      ],
      [
        await sign({ format: 2, at, changes: [{ table: "__proto__", key: "x", row: null }] }),
        `change 1: table "__proto__" is not a journaled table`,
      ],
      [
        await sign({
          format: 2,
          at,
          changes: [{ table: "shops", key: "s", row: { shop: "s", "user_uuid) VALUES ('x'); --": 1 } }],
        }),
        "is not a column name",
      ],
      [
        await sign({ format: 2, at, changes: [{ table: "shops", key: "s", row: { shop: "other", user_uuid: "u" } }] }),
        "the row's shop is not the change's key s",
      ],
      [
        await sign({ format: 2, at, changes: [{ table: "shops", key: "s", row: { shop: "s", user_uuid: { x: 1 } } }] }),
        "holds a object",
      ],
      [
        await sign({ format: 2, at, changes: [{ table: "facebook_page_grants", key: "p", row: null }] }),
        "a change of facebook_page_grants without its key as 2 strings (page_id, facebook_user_id)",
      ],
      [
        await sign({
          format: 2,
          at,
          changes: [
            {
              table: "facebook_page_grants",
              key: ["p", "u"],
              row: { page_id: "p", facebook_user_id: "other", granted_at: 1, linked: 1 },
            },
          ],
        }),
        `the row's page_id, facebook_user_id is not the change's key ["p","u"]`,
      ],
      [await sign({ format: 2, at, changes: [], extra: 1 }), `unexpected field "extra"`],
      [JSON.stringify({ format: 1, at, changes: [] }), "format 1 is not a signed journal entry (format 2)"],
      [JSON.stringify({ format: 2, at, changes: [] }), "it is not authenticated (no HMAC)"],
      [
        (await sign({ format: 2, at, changes: [] })).replace(
          '"changes":[]',
          '"changes":[{"table":"tokens","key":"k","row":null}]',
        ),
        "its HMAC does not match",
      ],
    ];
    for (const [text, reason] of cases) {
      await store.put(key, text);
      const error = await restoreInto(env.RESTORE_DB, "tokens", { from: backup.dump_key }).catch((e) => e);
      expect(error, reason).toBeInstanceOf(BackupRefused);
      expect(error.message).toContain(`refusing ${key}: `);
      expect(error.message).toContain(reason);
      expect(await allRows(env.RESTORE_DB)).toEqual(before);
    }
    await store.delete(key);
  });

  it("point in time: every moment of a timeline of installs, uninstalls and relinks restores exactly its state", async () => {
    await emptySharedJournal();
    const store = spaces();
    const shopA = uniqueShop("pitr-a");
    const shopB = uniqueShop("pitr-b");
    const shopC = uniqueShop("pitr-c");
    const page = uniqueId();
    const moments: { what: string; at: number; state: Awaited<ReturnType<typeof linkState>> }[] = [];
    const mark = async (what: string) => {
      await sleep(5);
      moments.push({ what, at: Date.now(), state: await linkState(env.TOKENS_DB) });
      await sleep(5);
    };
    await installShop(shopA);
    await backupOne(store, await auth(), "tokens", dumpD1(env.TOKENS_DB), "test");
    await backupOne(store, await auth(), "sessions", dumpD1(env.SESSIONS_DB), "test");
    await mark("right after the backup");
    const b = await installShop(shopB);
    await mark(`${shopB} installed`);
    await shopifyWebhook(shopA, "app/uninstalled", { domain: shopA, myshopify_domain: shopA });
    await vi.waitFor(async () => {
      expect(
        await env.TOKENS_DB.prepare("SELECT 1 FROM tokens WHERE key = ?1").bind(`shopify:${shopA}`).first(),
      ).toBeNull();
    });
    await mark(`${shopA} uninstalled`);
    // A relink (the operator's command): the link row's owner changes, journaled by its storage.
    const newOwner = crypto.randomUUID();
    await (await linkStore(env)).relinkShop(shopB, newOwner);
    await mark(`${shopB} relinked to ${newOwner}`);
    await installShop(shopC, { cookie: b.cookie });
    await loginFacebook([{ id: page }], b.cookie);
    await mark(`${shopC} installed and page ${page} logged in`);
    // A second backup after all of it: moments before it still come from the first one.
    await backupOne(store, await auth(), "tokens", dumpD1(env.TOKENS_DB), "test");
    await installShop(shopA);
    await mark(`${shopA} installed again`);

    // Journal writes that went through the queue land a little later.
    await vi.waitFor(
      async () => {
        await restoreInto(env.RESTORE_DB, "tokens", { at: moments.at(-1)!.at });
        expect(await linkState(env.RESTORE_DB)).toEqual(moments.at(-1)!.state);
      },
      { timeout: 20_000, interval: 500 },
    );
    for (const moment of moments) {
      const plan = await restoreInto(env.RESTORE_DB, "tokens", { at: moment.at });
      expect(await linkState(env.RESTORE_DB), moment.what).toEqual(moment.state);
      expect(plan.facts.tokenKeys, moment.what).toEqual(moment.state.tokens.map((t: any) => t.key).sort());
      expect(plan.manifest.exported_at).toBeLessThanOrEqual(moment.at);
    }
    const relinked = moments[3]!;
    expect(relinked.state.shops.find((s: any) => s.shop === shopB)?.user_uuid).toBe(newOwner);
    expect(moments[1]!.state.shops.find((s: any) => s.shop === shopB)?.user_uuid).toBe(b.body.user_uuid);
    // Before the first backup there is nothing to restore from: refused, not guessed.
    await expect(planRestore(store, await auth(), migrations(), { at: Date.UTC(2000, 0, 1) })).rejects.toThrow(
      /there is no backup of tokens from before 2000-01-01T00:00:00.000Z/,
    );
  });

  it("point in time: a Meta login after the last dump keeps who granted which page; a deletion done stays done", async () => {
    await emptySharedJournal();
    const store = spaces();
    const leavingPage = uniqueId();
    await loginFacebook([{ id: leavingPage }]);
    const leaverId = (await grantOf(env.TOKENS_DB, leavingPage))!.facebook_user_id as string;
    const backup = await backupOne(store, await auth(), "tokens", dumpD1(env.TOKENS_DB), "test");
    await sleep(5);

    // After the dump: a login (a grant the dump lacks), and a deletion request of a user it has.
    const page = uniqueId();
    const { body } = await loginFacebook([{ id: page }]);
    const grantorId = (await grantOf(env.TOKENS_DB, page))!.facebook_user_id as string;
    const code = await dataDeletionRequest(leaverId);
    await vi.waitFor(async () => expect((await deletionByCode(env.TOKENS_DB, code))?.status).toBe("done"), {
      timeout: 20_000,
      interval: 200,
    });
    await sleep(5);

    const plan = await restoreInto(env.RESTORE_DB, "tokens", { at: Date.now() });
    expect(plan.manifest.dump_key).toBe(backup.dump_key);
    // A Data Deletion Request after the restore still finds the page its user linked.
    expect(await pagesGrantedBy(env.RESTORE_DB, grantorId)).toEqual([
      { pageId: page, ownerUuid: body.user_uuid, linked: true, grantedAt: expect.any(Number) },
    ]);
    expect(await pagesGrantedBy(env.RESTORE_DB, grantorId)).toEqual(await pagesGrantedBy(env.TOKENS_DB, grantorId));
    expect(await accountsOf(env.RESTORE_DB, grantorId)).toEqual([body.user_uuid]);
    expect(await grantOf(env.RESTORE_DB, page)).toEqual(await grantOf(env.TOKENS_DB, page));
    expect(await facebookUser(env.RESTORE_DB, grantorId)).toEqual(await facebookUser(env.TOKENS_DB, grantorId));
    // The request done after the dump is still done (its code still answers), and what it forgot stays forgotten.
    expect(await deletionByCode(env.RESTORE_DB, code)).toEqual(await deletionByCode(env.TOKENS_DB, code));
    expect(await facebookUser(env.RESTORE_DB, leaverId)).toBeNull();
    expect(await grantOf(env.RESTORE_DB, leavingPage)).toBeNull();
    expect(plan.facts.tokenKeys).not.toContain(`facebook:page:${leavingPage}`);
    expect(plan.facts.tokenKeys).not.toContain(`facebook:user:${leaverId}`);
    expect(await accountsOf(env.RESTORE_DB, leaverId)).toEqual([]);
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
        expect(texts.some((t) => t?.includes(`"key":"${shop}"`))).toBe(true);
      },
      { timeout: 20_000, interval: 250 },
    );
  });

  it("retention after 40 simulated days keeps 7 daily + 4 weekly, one a day, and the newest verified", async () => {
    const day = 86_400_000;
    const start = Date.UTC(2026, 9, 1, 4, 0, 0);
    const backups: StoredBackup[] = [];
    for (let d = 0; d < 40; d++) {
      // The cron at 04:00, and on some days drills or POST /admin/backup on top.
      for (let extra = 0; extra < (d % 5 === 0 ? 4 : 1); extra++)
        backups.push({
          database: "tokens",
          stamp: stampOf(start + d * day + extra * 60_000),
          at: start + d * day + extra * 60_000,
          verified: false,
        });
    }
    const kept = keptBackups(backups);
    expect(kept).toHaveLength(11);
    const days = kept.map((b) => new Date(b.at).toISOString().slice(0, 10));
    expect(days.slice(0, 7)).toEqual([
      "2026-11-09",
      "2026-11-08",
      "2026-11-07",
      "2026-11-06",
      "2026-11-05",
      "2026-11-04",
      "2026-11-03",
    ]);
    // Weekly: the newest of each of the four weeks (Monday to Sunday) before the oldest daily.
    expect(days.slice(7)).toEqual(["2026-11-02", "2026-11-01", "2026-10-25", "2026-10-18"]);
    expect(new Set(days).size).toBe(11);
    // Seven backups in a day keep the newest of that day only, and the older days stay.
    const sameDay = [
      ...backups,
      ...Array.from({ length: 7 }, (_, i) => ({
        database: "tokens" as const,
        stamp: "x",
        at: start + 40 * day + i * 1000,
        verified: false,
      })),
    ];
    expect(keptBackups(sameDay).filter((b) => b.at >= start + 40 * day)).toHaveLength(1);
    // An old verified one is never pushed out by newer unverified copies.
    const verifiedOld = backups.map((b) => (b.at === start ? { ...b, verified: true } : b));
    expect(keptBackups(verifiedOld).map((b) => b.at)).toContain(start);
    expect(keptBackups(verifiedOld)).toHaveLength(12);

    // In Spaces: dumps, manifests, sidecars and the journal they need.
    const store = spaces();
    const prefix = "backups/d1/sessions/";
    for (const key of await store.listKeys(prefix)) await store.delete(key);
    const journalBefore = new Set(await store.listKeys(JOURNAL_PREFIX));
    for (let d = 0; d < 40; d++) {
      const stamp = stampOf(start + d * day);
      await store.put(`${prefix}${stamp}.sql`, "-- test");
      await store.put(manifestKey("sessions", stamp), "{}");
    }
    await store.put(verificationKey("sessions", stampOf(start)), "{}");
    await applyRetention(store);
    const left = (await store.listKeys(prefix)).filter((k) => k.endsWith(".manifest.json"));
    expect(left).toHaveLength(12);
    expect(await store.listKeys(prefix)).toContain(verificationKey("sessions", stampOf(start)));
    expect((await store.listKeys(prefix)).filter((k) => k.endsWith(".sql"))).toHaveLength(12);
    for (const key of await store.listKeys(prefix)) await store.delete(key);
    // The journal entries the kept tokens backups need are all still there.
    const journalAfter = new Set(await store.listKeys(JOURNAL_PREFIX));
    const tokensOldest = (await store.listKeys("backups/d1/tokens/"))
      .filter((k) => k.endsWith(".manifest.json"))
      .sort()[0]!;
    const oldestAt = Date.parse(
      tokensOldest.replace(/^.*\/(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z.*$/, "$1-$2-$3T$4:$5:$6.$7Z"),
    );
    for (const key of journalBefore) {
      const at = Date.parse(
        key.replace(/^.*\/(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z.*$/, "$1-$2-$3T$4:$5:$6.$7Z"),
      );
      if (at >= oldestAt - 10 * 60_000) expect(journalAfter.has(key), key).toBe(true);
    }
  });

  it("recovery status: the newest verified backup per database and its age, and the journal's newest entry", async () => {
    const store = spaces();
    const signer = await auth();
    const made = await backupOne(store, signer, "sessions", dumpD1(env.SESSIONS_DB), "test");
    const stamp = stampOf(made.exported_at);
    // A sidecar anyone could write does not count.
    await store.put(
      verificationKey("sessions", stamp),
      JSON.stringify({ format: 2, verified_at: new Date().toISOString() }),
    );
    let status = await recoveryStatus(store, signer, made.exported_at + 5000);
    expect(status.databases.sessions.newest?.stamp).toBe(stamp);
    expect(status.databases.sessions.newestVerified?.stamp).not.toBe(stamp);
    const key = verificationKey("sessions", stamp);
    await store.put(
      key,
      await signedJson(signer, key, {
        format: 2,
        database: "sessions",
        dump_key: made.dump_key,
        verified_at: new Date().toISOString(),
        method: "test",
        tables: {},
        hashes: {},
      }),
    );
    status = await recoveryStatus(store, signer, made.exported_at + 5000);
    expect(status.databases.sessions.newestVerified).toEqual({
      stamp,
      at: new Date(made.exported_at).toISOString(),
      ageMs: 5000,
    });
    expect(status.journal.newestKey).toMatch(/^backups\/journal\/tokens\//);
    expect(status.journal.ageMs).toBeGreaterThanOrEqual(0);
    const entryKey = await writeJournal(store, signer, { format: 2, at: Date.now(), changes: [] });
    expect((await recoveryStatus(store, signer)).journal.newestKey).toBe(entryKey);
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
      await auth(),
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
