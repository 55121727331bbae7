import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { commitTogether, type Query } from "../../src/db/group-commit";

/** The tokens database, with every batch sent to it recorded (statement counts). */
function recordingDb() {
  const db = env.TOKENS_DB;
  const batches: number[] = [];
  const recording = {
    prepare: (sql: string) => db.prepare(sql),
    batch: (statements: D1PreparedStatement[]) => {
      batches.push(statements.length);
      return db.batch(statements);
    },
  } as unknown as D1Database;
  return { db: recording, batches };
}

const record = (id: string): Query => ({
  sql: "INSERT OR IGNORE INTO webhook_deliveries (id, topic, shop, received_at) VALUES (?1, 'test/group', 'g.myshopify.com', ?2)",
  params: [id, Date.now()],
});
const echo = (value: string): Query => ({ sql: "SELECT ?1 AS value", params: [value] });
const recorded = async (ids: string[]) =>
  (
    await env.TOKENS_DB.prepare(
      `SELECT id FROM webhook_deliveries WHERE id IN (${ids.map(() => "?").join(",")}) ORDER BY id`,
    )
      .bind(...ids)
      .all<{ id: string }>()
  ).results.map((r) => r.id);

describe("group commit", () => {
  it("concurrent callers share batches, and each gets its own results in its own order", async () => {
    const { db, batches } = recordingDb();
    const ids = Array.from({ length: 20 }, (_, i) => `gc-${crypto.randomUUID()}-${String(i).padStart(2, "0")}`);
    const results = await Promise.all(ids.map((id) => commitTogether(db, [record(id), echo(id)])));
    for (const [i, [insert, selected]] of results.entries()) {
      expect(insert!.meta.changes).toBe(1);
      expect(selected!.results).toEqual([{ value: ids[i] }]);
    }
    expect(await recorded(ids)).toEqual([...ids].sort());
    expect(batches.reduce((a, b) => a + b, 0)).toBe(40);
    expect(batches.length).toBeLessThan(20);
  });

  it("one caller's failing query fails that caller only; its neighbours are committed", async () => {
    const { db } = recordingDb();
    const ids = Array.from({ length: 6 }, () => `gc-${crypto.randomUUID()}`);
    const outcomes = await Promise.allSettled(
      ids.map((id, i) =>
        commitTogether(
          db,
          i === 3 ? [record(id), { sql: "INSERT INTO no_such_table VALUES (?1)", params: [id] }] : [record(id)],
        ),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    // The failing caller's queries were one transaction: its first insert was rolled back too.
    expect(await recorded(ids)).toEqual(ids.filter((_, i) => i !== 3).sort());
  });

  it("no batch carries more than 45 statements, the Free plan's per-invocation query limit minus headroom", async () => {
    const { db, batches } = recordingDb();
    const ids = Array.from({ length: 60 }, () => `gc-${crypto.randomUUID()}`);
    await Promise.all(ids.map((id) => commitTogether(db, [record(id), echo(id)])));
    expect(Math.max(...batches)).toBeLessThanOrEqual(45);
    expect(await recorded(ids)).toHaveLength(60);
  });

  it("a duplicate in the same batch is seen as one: the second insert changes nothing", async () => {
    const { db } = recordingDb();
    const id = `gc-${crypto.randomUUID()}`;
    const results = await Promise.all(Array.from({ length: 5 }, () => commitTogether(db, [record(id)])));
    expect(results.map(([r]) => r!.meta.changes).sort()).toEqual([0, 0, 0, 0, 1]);
  });
});
