/**
 * The SQLite storage of one conversation's Durable Object: its messages (each `mid` once, the
 * message's JSON as stored), a few named values (meta), and customers' edits whose message has not
 * arrived yet. A page's index object uses only `senders`: the customers who wrote to the page.
 * Synchronous, like the object's storage: a merge made of these calls cannot interleave.
 */
export class ConversationStore {
  constructor(private readonly sql: SqlStorage) {
    this.createTables();
  }

  /** Creates the tables (again, after `deleteAll` emptied the object). */
  createTables(): void {
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS messages (mid TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, body TEXT NOT NULL)`,
    );
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS pending_edits (mid TEXT PRIMARY KEY, text TEXT NOT NULL, num_edit INTEGER NOT NULL)`,
    );
    this.sql.exec(`CREATE TABLE IF NOT EXISTS senders (sender_id TEXT PRIMARY KEY)`);
  }

  addSender(senderId: string): void {
    this.sql.exec("INSERT OR IGNORE INTO senders (sender_id) VALUES (?)", senderId);
  }

  /** Sender ids in key order, those after `after` (all by default), at most `limit` (-1: no limit). */
  senderIds(after = "", limit = -1): string[] {
    return this.sql
      .exec<{ sender_id: string }>(
        "SELECT sender_id FROM senders WHERE sender_id > ? ORDER BY sender_id LIMIT ?",
        after,
        limit,
      )
      .toArray()
      .map((r) => r.sender_id);
  }

  metaRows(): [string, string][] {
    return this.sql
      .exec<{ name: string; value: string }>("SELECT name, value FROM meta")
      .toArray()
      .map((r) => [r.name, r.value]);
  }

  setMeta(name: string, value: string): void {
    this.sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", name, value);
  }

  countMessages(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM messages").one().n;
  }

  /** Stores a message unless its `mid` is there; true when it was new (no count of a long conversation). */
  insertMessage(mid: string, timestamp: number, body: string): boolean {
    return (
      this.sql
        .exec(
          "INSERT OR IGNORE INTO messages (mid, timestamp, body) VALUES (?, ?, ?) RETURNING 1",
          mid,
          timestamp,
          body,
        )
        .toArray().length > 0
    );
  }

  messageBody(mid: string): string | null {
    return this.sql.exec<{ body: string }>("SELECT body FROM messages WHERE mid = ?", mid).toArray()[0]?.body ?? null;
  }

  replaceMessageBody(mid: string, body: string): void {
    this.sql.exec("UPDATE messages SET body = ? WHERE mid = ?", body, mid);
  }

  /** The edit kept for a message that had not arrived, removed as it is handed over. */
  takePendingEdit(mid: string): { text: string; numEdit: number } | null {
    const row = this.sql
      .exec<{ text: string; num_edit: number }>("DELETE FROM pending_edits WHERE mid = ? RETURNING text, num_edit", mid)
      .toArray()[0];
    return row ? { text: row.text, numEdit: row.num_edit } : null;
  }

  /** Keeps an edit for a message not yet stored (the latest edit wins). */
  keepPendingEdit(mid: string, text: string, numEdit: number): void {
    this.sql.exec(
      `INSERT INTO pending_edits (mid, text, num_edit) VALUES (?, ?, ?)
       ON CONFLICT (mid) DO UPDATE SET text = excluded.text, num_edit = excluded.num_edit
       WHERE excluded.num_edit > pending_edits.num_edit`,
      mid,
      text,
      numEdit,
    );
  }

  /** Every message's stored JSON, in conversation order. */
  messageBodies(): string[] {
    const bodies: string[] = [];
    for (const [body] of this.sql.exec("SELECT body FROM messages ORDER BY timestamp, mid").raw()) {
      bodies.push(body as string);
    }
    return bodies;
  }
}
