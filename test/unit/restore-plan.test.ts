import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { dumpD1 } from "../../src/backup/dump";
import { parseDump } from "../../src/backup/dump-parse";
import { stateSql } from "../../src/backup/restore-plan";
import { sameTokens, schemaFromMigrations } from "../../src/backup/schema";
import { splitStatements, tokenize } from "../../src/backup/sql-text";

const migrations = () => env.TEST_MIGRATIONS_TOKENS;

describe("restore plan", () => {
  it("splits statements at semicolons outside quotes, comments left out", () => {
    expect(splitStatements("INSERT INTO t VALUES('a;b'); -- c;d\nSELECT \"x;\" ;/* e; */ DELETE FROM t")).toEqual([
      "INSERT INTO t VALUES('a;b')",
      'SELECT "x;"',
      "DELETE FROM t",
    ]);
  });

  it("reads the schema the migrations build, ADD COLUMN included", () => {
    const schema = schemaFromMigrations(migrations());
    expect(schema.tables.get("shops")?.columns).toEqual([
      "shop",
      "user_uuid",
      "installed_at",
      "uninstalled_at",
      "sync_queued_at",
      "sync_dirty",
    ]);
    expect(schema.tables.get("shops")?.defaults).toEqual({ sync_dirty: 0 });
    expect(schema.tables.get("tokens")?.primary).toEqual(["key"]);
    expect(schema.tables.get("facebook_page_grants")?.primary).toEqual(["page_id", "facebook_user_id"]);
    expect([...schema.indexes.keys()]).toContain("shops_user");
  });

  it("follows ALTER TABLE RENAME as SQLite rewrites the stored CREATE statements", () => {
    const schema = schemaFromMigrations([
      { name: "1.sql", queries: ["CREATE TABLE a (id TEXT PRIMARY KEY, v INTEGER)", "CREATE INDEX a_v ON a (v)"] },
      { name: "2.sql", queries: ["ALTER TABLE a RENAME COLUMN v TO w", "ALTER TABLE a RENAME TO b"] },
    ]);
    expect(schema.tables.has("a")).toBe(false);
    expect(schema.tables.get("b")?.columns).toEqual(["id", "w"]);
    expect(schema.indexes.get("a_v")?.table).toBe("b");
    const sameAs = (sql: string) => sameTokens(tokenize(sql), schema.tables.get("b")!.tokens);
    expect(sameAs('CREATE TABLE "b" (id TEXT PRIMARY KEY, w INTEGER)')).toBe(true);
    expect(sameAs('CREATE TABLE "b" (id TEXT PRIMARY KEY, w INTEGER DEFAULT 1)')).toBe(false);
  });

  it("writes rows in INSERTs of at most 100 rows; quotes, line breaks and unicode survive", async () => {
    const db = env.RESTORE_DB;
    const values = ["plain", "it's", "two\nlines", "äöå 👋", "", "'); DROP TABLE tokens; --"];
    let dump = "";
    for await (const chunk of dumpD1(env.TOKENS_DB)) dump += chunk;
    const state = parseDump(dump, "tokens", migrations(), "test");
    const tokens = state.tables.get("tokens")!;
    tokens.rows.clear();
    for (let i = 0; i < 250; i++)
      tokens.rows.set(`k${i}`, [`k${i}`, values[i % values.length]!, null, i, null, "s;x", "active", 1]);
    const sql = stateSql(state, []);
    expect(sql.split("\n").filter((l) => l.startsWith('INSERT INTO "tokens" VALUES'))).toHaveLength(3);
    const { results } = await db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%'",
      )
      .all<{ name: string }>();
    await db.batch(
      splitStatements(
        stateSql(
          state,
          results.map((r) => r.name),
        ),
      ).map((s) => db.prepare(s)),
    );
    const back = (
      await db.prepare("SELECT key, value FROM tokens ORDER BY expires_at").all<{ key: string; value: string }>()
    ).results;
    expect(back).toHaveLength(250);
    expect(back.map((r) => r.value)).toEqual([...tokens.rows.values()].map((r) => r[1]));
  });
});
