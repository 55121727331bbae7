import { z } from "zod";
import { sqlRows } from "./rows";

const metaRow = z.object({ name: z.string(), value: z.string() });

/**
 * The few named values a Durable Object keeps beside its rows (the shop, versions, what was last
 * uploaded): a `meta` table of its SQLite storage, read once and then served from memory, as only
 * the object itself writes it.
 */
export class ObjectMeta {
  private cached: Map<string, string> | null = null;

  constructor(private readonly sql: SqlStorage) {
    this.createTable();
  }

  private createTable(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)`);
  }

  private values(): Map<string, string> {
    this.cached ??= new Map(
      sqlRows(this.sql.exec("SELECT name, value FROM meta"), metaRow, "meta").map((r) => [r.name, r.value]),
    );
    return this.cached;
  }

  get(name: string): string | null {
    return this.values().get(name) ?? null;
  }

  set(name: string, value: string | number): void {
    if (this.get(name) === String(value)) return;
    this.sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", name, String(value));
    this.values().set(name, String(value));
  }

  delete(name: string): void {
    if (this.get(name) === null) return;
    this.sql.exec("DELETE FROM meta WHERE name = ?", name);
    this.values().delete(name);
  }

  /** After the object's storage was wiped (`deleteAll`): nothing is cached and the table is back. */
  reset(): void {
    this.cached = null;
    this.createTable();
  }
}
