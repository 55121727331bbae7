import { z } from "zod";
import { sqlNumber, sqlOne, sqlRows, sqlText } from "../db/rows";
import type { CatalogueProduct } from "../shopify/products";

/** Rows as the tables below hold them (see `createTables`). */
const count = z.object({ n: z.number() });
const storedVersion = z.object({ updated_at: z.string(), body: z.string() });
const heldVersion = z
  .object({ id: z.number(), updated_at: z.string(), written_at: z.number() })
  .transform((r) => ({ id: r.id, updatedAt: r.updated_at, writtenAt: r.written_at }));
const pendingRow = z.object({ id: z.number(), seq: z.number() });

/**
 * The SQLite storage of one shop's catalogue (its Durable Object): each product's line of the
 * products file with its `updatedAt`, the products removed lately (so an older read cannot bring
 * one back), the products waiting to be read again and when each was last read, and a few named
 * values (meta). Synchronous, like the object's storage: a change made of these calls cannot
 * interleave with another.
 */
export class CatalogueStore {
  constructor(private readonly sql: SqlStorage) {
    this.createTables();
  }

  /** Creates the tables (again, after `deleteAll` emptied the object). */
  createTables(): void {
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, updated_at TEXT NOT NULL, written_at INTEGER NOT NULL, body TEXT NOT NULL)`,
    );
    this.sql.exec(`CREATE TABLE IF NOT EXISTS removed (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS reads (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)`);
  }

  countProducts(): number {
    return sqlOne(this.sql.exec("SELECT COUNT(*) AS n FROM products"), count, "products").n;
  }

  /**
   * Stores a product as read from Shopify unless what is stored is newer, or the product was
   * removed since. True when the stored line changed (a read of an unchanged product writes nothing).
   */
  put(product: CatalogueProduct, now: number): boolean {
    if (this.sql.exec("SELECT 1 FROM removed WHERE id = ?", product.id).toArray().length) return false;
    const stored = sqlRows(
      this.sql.exec("SELECT updated_at, body FROM products WHERE id = ?", product.id),
      storedVersion,
      "products",
    )[0];
    if (stored && (stored.updated_at > product.updatedAt || stored.body === product.body)) return false;
    this.sql.exec(
      "INSERT OR REPLACE INTO products (id, updated_at, written_at, body) VALUES (?, ?, ?, ?)",
      product.id,
      product.updatedAt,
      now,
      product.body,
    );
    return true;
  }

  /** Drops a product and remembers that it is gone; true when it was held. */
  remove(id: number, now: number): boolean {
    this.sql.exec("INSERT OR REPLACE INTO removed (id, at) VALUES (?, ?)", id, now);
    return this.sql.exec("DELETE FROM products WHERE id = ? RETURNING 1", id).toArray().length > 0;
  }

  /** Forgets removals older than `before` (no delivery or read that old is still on its way). */
  forgetRemovedBefore(before: number): void {
    this.sql.exec("DELETE FROM removed WHERE at < ?", before);
  }

  /**
   * The stored products with ids in (`after`, `upTo`] (`upTo` null: no upper end) and their
   * `updatedAt`: what a page of Shopify's list in id order is compared with.
   */
  versionsBetween(after: number, upTo: number | null): { id: number; updatedAt: string; writtenAt: number }[] {
    return sqlRows(
      this.sql.exec(
        "SELECT id, updated_at, written_at FROM products WHERE id > ? AND id <= ? ORDER BY id",
        after,
        upTo ?? Number.MAX_SAFE_INTEGER,
      ),
      heldVersion,
      "products",
    );
  }

  /** Notes products to read again; a product noted again while its read is under way is read once more. */
  addPending(ids: number[], seq: number): void {
    for (const id of ids) this.sql.exec("INSERT OR REPLACE INTO pending (id, seq) VALUES (?, ?)", id, seq);
  }

  /** Up to `limit` products waiting to be read, oldest first, leaving out those read after `readBefore`. */
  pendingBatch(limit: number, readBefore: number): { id: number; seq: number }[] {
    return sqlRows(
      this.sql.exec(
        `SELECT p.id, p.seq FROM pending p LEFT JOIN reads r ON r.id = p.id
         WHERE r.at IS NULL OR r.at <= ? ORDER BY p.seq LIMIT ?`,
        readBefore,
        limit,
      ),
      pendingRow,
      "pending",
    );
  }

  /** Notes when a product was read; forgets reads made before `forgetBefore`. */
  readDone(id: number, at: number, forgetBefore: number): void {
    this.sql.exec("INSERT OR REPLACE INTO reads (id, at) VALUES (?, ?)", id, at);
    this.sql.exec("DELETE FROM reads WHERE at < ?", forgetBefore);
  }

  /** The earliest read among products waiting that were read after `readAfter` (null: none waits so). */
  earliestRecentRead(readAfter: number): number | null {
    const row = sqlOne(
      this.sql.exec("SELECT MIN(r.at) AS n FROM pending p JOIN reads r ON r.id = p.id WHERE r.at > ?", readAfter),
      z.object({ n: z.number().nullable() }),
      "reads",
    );
    return row.n;
  }

  /** Done with a read: removed unless the product was noted again meanwhile. */
  donePending(id: number, seq: number): void {
    this.sql.exec("DELETE FROM pending WHERE id = ? AND seq = ?", id, seq);
  }

  countPending(): number {
    return sqlOne(this.sql.exec("SELECT COUNT(*) AS n FROM pending"), count, "pending").n;
  }

  /** The file's lines in id order, `limit` after `after` (the upload reads them in slices). */
  bodiesAfter(after: number, limit: number): { id: number; body: string }[] {
    const rows: { id: number; body: string }[] = [];
    for (const [id, body] of this.sql
      .exec("SELECT id, body FROM products WHERE id > ? ORDER BY id LIMIT ?", after, limit)
      .raw())
      rows.push({ id: sqlNumber(id, "products", "id"), body: sqlText(body, "products", "body") });
    return rows;
  }
}
