import type { z } from "zod";
import { allRows, firstRow } from "./rows";

/**
 * The reads of a status table (one row per shop or page, keyed by a text column): one row, a page
 * of rows in key order, and the rows of a list of keys, each parsed with `row`. `table` and `key`
 * are names from our code, never from a request.
 */
export function statusRows<K extends string, R extends Record<K, string>, S>(
  table: string,
  key: K,
  row: z.ZodType<R>,
  fromRow: (row: R) => S,
) {
  return {
    async one(db: D1Database, id: string): Promise<S | null> {
      const found = await firstRow(db.prepare(`SELECT * FROM ${table} WHERE ${key} = ?1`).bind(id), row);
      return found ? fromRow(found) : null;
    },

    async list(db: D1Database, after: string, limit: number): Promise<S[]> {
      const results = await allRows(
        db.prepare(`SELECT * FROM ${table} WHERE ${key} > ?1 ORDER BY ${key} LIMIT ?2`).bind(after, limit),
        row,
      );
      return results.map(fromRow);
    },

    async of(db: D1Database, ids: string[]): Promise<Map<string, S>> {
      if (!ids.length) return new Map();
      const results = await allRows(
        db
          .prepare(`SELECT * FROM ${table} WHERE ${key} IN (SELECT value FROM json_each(?1))`)
          .bind(JSON.stringify(ids)),
        row,
      );
      return new Map(results.map((r) => [r[key], fromRow(r)]));
    },
  };
}
