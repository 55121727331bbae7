import type { CatalogueProduct } from "../shopify/products";

/**
 * The SQLite storage of one shop's catalogue (its Durable Object): each product's line of the
 * products file with its `updatedAt`, the products removed lately (so an older read cannot bring
 * one back), the products waiting to be read again, and a few named values (meta). Synchronous,
 * like the object's storage: a change made of these calls cannot interleave with another.
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
  }

  countProducts(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM products").one().n;
  }

  /**
   * Stores a product as read from Shopify unless what is stored is newer, or the product was
   * removed since. True when the stored line changed (a read of an unchanged product writes nothing).
   */
  put(product: CatalogueProduct, now: number): boolean {
    if (this.sql.exec("SELECT 1 FROM removed WHERE id = ?", product.id).toArray().length) return false;
    const stored = this.sql
      .exec<{ updated_at: string; body: string }>("SELECT updated_at, body FROM products WHERE id = ?", product.id)
      .toArray()[0];
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
    const rows = this.sql
      .exec<{
        id: number;
        updated_at: string;
        written_at: number;
      }>(
        "SELECT id, updated_at, written_at FROM products WHERE id > ? AND id <= ? ORDER BY id",
        after,
        upTo ?? Number.MAX_SAFE_INTEGER,
      )
      .toArray();
    return rows.map((r) => ({ id: r.id, updatedAt: r.updated_at, writtenAt: r.written_at }));
  }

  /** Notes products to read again; a product noted again while its read is under way is read once more. */
  addPending(ids: number[], seq: number): void {
    for (const id of ids) this.sql.exec("INSERT OR REPLACE INTO pending (id, seq) VALUES (?, ?)", id, seq);
  }

  pendingBatch(limit: number): { id: number; seq: number }[] {
    return this.sql
      .exec<{ id: number; seq: number }>("SELECT id, seq FROM pending ORDER BY seq LIMIT ?", limit)
      .toArray();
  }

  /** Done with a read: removed unless the product was noted again meanwhile. */
  donePending(id: number, seq: number): void {
    this.sql.exec("DELETE FROM pending WHERE id = ? AND seq = ?", id, seq);
  }

  countPending(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM pending").one().n;
  }

  /** The file's lines in id order, `limit` after `after` (the upload reads them in slices). */
  bodiesAfter(after: number, limit: number): { id: number; body: string }[] {
    return this.sql
      .exec<{ id: number; body: string }>(
        "SELECT id, body FROM products WHERE id > ? ORDER BY id LIMIT ?",
        after,
        limit,
      )
      .toArray();
  }
}
