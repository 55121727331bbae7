/**
 * The reads of a status table (one row per shop or page, keyed by a text column): one row, a page
 * of rows in key order, and the rows of a list of keys. `table` and `key` are names from our code,
 * never from a request.
 */
export function statusRows<K extends string, R extends Record<K, string>, S>(
  table: string,
  key: K,
  fromRow: (row: R) => S,
) {
  return {
    async one(db: D1Database, id: string): Promise<S | null> {
      const row = await db.prepare(`SELECT * FROM ${table} WHERE ${key} = ?1`).bind(id).first<R>();
      return row ? fromRow(row) : null;
    },

    async list(db: D1Database, after: string, limit: number): Promise<S[]> {
      const { results } = await db
        .prepare(`SELECT * FROM ${table} WHERE ${key} > ?1 ORDER BY ${key} LIMIT ?2`)
        .bind(after, limit)
        .all<R>();
      return results.map(fromRow);
    },

    async of(db: D1Database, ids: string[]): Promise<Map<string, S>> {
      if (!ids.length) return new Map();
      const { results } = await db
        .prepare(`SELECT * FROM ${table} WHERE ${key} IN (SELECT value FROM json_each(?1))`)
        .bind(JSON.stringify(ids))
        .all<R>();
      return new Map(results.map((r) => [r[key], fromRow(r)]));
    },
  };
}
