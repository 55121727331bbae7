import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { dumpD1 } from "../../src/backup/dump";
import { compactInserts } from "../../src/backup/restore-plan";

describe("compactInserts", () => {
  it("joins one-row INSERTs of a table, 100 rows at most, and keeps everything else as it was", () => {
    const rows = Array.from({ length: 250 }, (_, i) => `INSERT INTO "t" VALUES(${i},'a''b ${i}');`);
    const text = [
      "CREATE TABLE t (n, s);",
      ...rows,
      "INSERT INTO \"u\" VALUES(1,'x');",
      'INSERT INTO "t" VALUES(9,\'line',
      "break');",
      "CREATE INDEX i ON t (n);",
    ].join("\n");
    const out = compactInserts(text).split("\n");
    expect(out[0]).toBe("CREATE TABLE t (n, s);");
    expect(out.filter((l) => l.startsWith('INSERT INTO "t" VALUES'))).toHaveLength(4);
    expect(out[1]).toMatch(/^INSERT INTO "t" VALUES\(0,'a''b 0'\),\(1,'a''b 1'\),/);
    expect(out).toContain("INSERT INTO \"u\" VALUES(1,'x');");
    expect(out.slice(-3)).toEqual(['INSERT INTO "t" VALUES(9,\'line', "break');", "CREATE INDEX i ON t (n);"]);
  });

  it("a compacted dump restores the same rows, quotes, line breaks and unicode included", async () => {
    const db = env.RESTORE_DB;
    await db.prepare("DROP TABLE IF EXISTS odd").run();
    await db.prepare("CREATE TABLE odd (n INTEGER PRIMARY KEY, s TEXT, b BLOB)").run();
    const values = ["plain", "it's", "two\nlines", "äöå 👋", "", "'); DROP TABLE odd; --"];
    await db.batch(
      values.map((s, n) => db.prepare("INSERT INTO odd VALUES (?1, ?2, ?3)").bind(n, s, new Uint8Array([n, 255]))),
    );
    let dump = "";
    for await (const chunk of dumpD1(db)) dump += chunk;
    const before = (await db.prepare("SELECT * FROM odd ORDER BY n").all()).results;
    await db.prepare("DROP TABLE odd").run();
    const statements = compactInserts(dump)
      .split(/;\n(?=(?:INSERT|CREATE|DELETE|PRAGMA))/)
      .map((s) => s.trim().replace(/;$/, ""))
      .filter(
        (s) => s && !s.startsWith("PRAGMA") && !/sqlite_sequence|d1_migrations|_cf_|CREATE TABLE (?!odd)/.test(s),
      );
    await db.batch(statements.filter((s) => /odd/.test(s)).map((s) => db.prepare(s)));
    expect((await db.prepare("SELECT * FROM odd ORDER BY n").all()).results).toEqual(before);
  });
});
