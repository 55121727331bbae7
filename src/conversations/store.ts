import { z } from "zod";
import { sqlOne, sqlRows, sqlText } from "../db/rows";

/** Rows as the tables below hold them (see `createTables`). */
const copyKey = z.object({ mid: z.string(), idx: z.number() });
const copyUrl = z.object({ url: z.string().nullable() });
const copyRow = z.object({
  mid: z.string(),
  idx: z.number(),
  status: z.string(),
  path: z.string().nullable(),
  content_type: z.string().nullable(),
  size: z.number().nullable(),
});
const senderRow = z.object({ sender_id: z.string() });
const count = z.object({ n: z.number() });
const latest = z.object({ at: z.number().nullable() });
const messageRow = z.object({ body: z.string() });
const pendingEditRow = z.object({ text: z.string(), num_edit: z.number() });
const exists = z.object({ found: z.number() });

/** The tables most conversations leave empty (see `hasRows`). */
type RarelyFilled = "referrals" | "handovers" | "reactions" | "copies" | "pending_edits";

/**
 * The SQLite storage of one conversation's Durable Object: its messages (each `mid` once, the
 * message's JSON as stored), a few named values (meta), customers' edits whose message has not
 * arrived yet, the referrals, handovers and reactions of the thread, and the copies of its
 * attachments. A page's index object uses only `senders`: the customers who wrote to the page.
 * Synchronous, like the object's storage: a merge made of these calls cannot interleave.
 */
export class ConversationStore {
  /**
   * Whether each of the rarely filled tables holds rows, asked once per object lifetime and set by
   * every insert: most conversations have no referral, reaction, attachment or early edit, and
   * their uploads and merges then read none of those tables. Only this store writes them.
   */
  private readonly filled = new Map<RarelyFilled, boolean>();

  constructor(private readonly sql: SqlStorage) {
    this.createTables();
  }

  private hasRows(table: RarelyFilled): boolean {
    let filled = this.filled.get(table);
    if (filled === undefined) {
      filled = sqlOne(this.sql.exec(`SELECT EXISTS (SELECT 1 FROM ${table}) AS found`), exists, table).found === 1;
      this.filled.set(table, filled);
    }
    return filled;
  }

  /** Creates the tables (again, after `deleteAll` emptied the object). */
  createTables(): void {
    this.filled.clear();
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS messages (mid TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, body TEXT NOT NULL)`,
    );
    // The customer's last message is read at every upload: found through this index, not by
    // parsing every message of a long conversation again.
    this.sql.exec(
      `CREATE INDEX IF NOT EXISTS messages_by_sender ON messages (json_extract(body, '$.from'), timestamp)`,
    );
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS pending_edits (mid TEXT PRIMARY KEY, text TEXT NOT NULL, num_edit INTEGER NOT NULL)`,
    );
    this.sql.exec(`CREATE TABLE IF NOT EXISTS senders (sender_id TEXT PRIMARY KEY)`);
    // One row per event: Meta redelivers an event with the same time, which is kept once.
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS referrals (timestamp INTEGER NOT NULL, via TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (timestamp, via))`,
    );
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS handovers (timestamp INTEGER NOT NULL, event TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (timestamp, event))`,
    );
    // The latest reaction to each message (a later unreact replaces a react).
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS reactions (mid TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, body TEXT NOT NULL)`,
    );
    // Attachments to copy into Spaces: `url` until copied, then where the copy is (`path`, under
    // the conversation's folder) or why there is none (`status`).
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS copies (mid TEXT NOT NULL, idx INTEGER NOT NULL, url TEXT, status TEXT NOT NULL,
        path TEXT, content_type TEXT, size INTEGER, queued_at INTEGER, PRIMARY KEY (mid, idx))`,
    );
  }

  /** Keeps an event row once; true when it was new. */
  private insertOnce(sql: string, ...values: (string | number | null)[]): boolean {
    return this.sql.exec(`${sql} RETURNING 1`, ...values).toArray().length > 0;
  }

  addReferral(timestamp: number, via: string, body: string): boolean {
    this.filled.set("referrals", true);
    return this.insertOnce(
      "INSERT OR IGNORE INTO referrals (timestamp, via, body) VALUES (?, ?, ?)",
      timestamp,
      via,
      body,
    );
  }

  addHandover(timestamp: number, event: string, body: string): boolean {
    this.filled.set("handovers", true);
    return this.insertOnce(
      "INSERT OR IGNORE INTO handovers (timestamp, event, body) VALUES (?, ?, ?)",
      timestamp,
      event,
      body,
    );
  }

  /** Keeps a reaction unless a later one to the same message is there; true when it changed. */
  setReaction(mid: string, timestamp: number, body: string): boolean {
    this.filled.set("reactions", true);
    return this.insertOnce(
      `INSERT INTO reactions (mid, timestamp, body) VALUES (?, ?, ?)
       ON CONFLICT (mid) DO UPDATE SET timestamp = excluded.timestamp, body = excluded.body
       WHERE excluded.timestamp > reactions.timestamp`,
      mid,
      timestamp,
      body,
    );
  }

  /** The stored JSON of a table's rows in time order (referrals, handovers, reactions). */
  bodies(table: "referrals" | "handovers" | "reactions"): string[] {
    const bodies: string[] = [];
    if (!this.hasRows(table)) return bodies;
    for (const [body] of this.sql.exec(`SELECT body FROM ${table} ORDER BY timestamp`).raw())
      bodies.push(sqlText(body, table, "body"));
    return bodies;
  }

  /** Notes an attachment to copy (once per message and position). */
  addCopy(mid: string, idx: number, url: string): boolean {
    this.filled.set("copies", true);
    return this.insertOnce(
      "INSERT OR IGNORE INTO copies (mid, idx, url, status) VALUES (?, ?, ?, 'pending')",
      mid,
      idx,
      url,
    );
  }

  /** Copies not yet handed to the queue, or handed over before `staleBefore` without an outcome. */
  copiesToQueue(staleBefore: number, limit: number): { mid: string; idx: number }[] {
    if (!this.hasRows("copies")) return [];
    return sqlRows(
      this.sql.exec(
        `SELECT mid, idx FROM copies WHERE status = 'pending' AND (queued_at IS NULL OR queued_at < ?) LIMIT ?`,
        staleBefore,
        limit,
      ),
      copyKey,
      "copies",
    );
  }

  markCopyQueued(mid: string, idx: number, at: number): void {
    this.sql.exec("UPDATE copies SET queued_at = ? WHERE mid = ? AND idx = ? AND status = 'pending'", at, mid, idx);
  }

  /** The URL of a copy still to make; null when it was made, given up, or never noted. */
  copySource(mid: string, idx: number): string | null {
    return (
      sqlRows(
        this.sql.exec("SELECT url FROM copies WHERE mid = ? AND idx = ? AND status = 'pending'", mid, idx),
        copyUrl,
        "copies",
      )[0]?.url ?? null
    );
  }

  /** Records a copy's outcome (its URL forgotten); false when the copy is not pending. */
  finishCopy(
    mid: string,
    idx: number,
    outcome: { status: string; path?: string; contentType?: string; size?: number },
  ): boolean {
    return this.insertOnce(
      `UPDATE copies SET status = ?, url = NULL, path = ?, content_type = ?, size = ?
       WHERE mid = ? AND idx = ? AND status = 'pending'`,
      outcome.status,
      outcome.path ?? null,
      outcome.contentType ?? null,
      outcome.size ?? null,
      mid,
      idx,
    );
  }

  /** Every copy's state, by message. */
  copies(): Map<string, CopyRow[]> {
    const out = new Map<string, CopyRow[]>();
    if (!this.hasRows("copies")) return out;
    for (const row of sqlRows(
      this.sql.exec("SELECT mid, idx, status, path, content_type, size FROM copies ORDER BY mid, idx"),
      copyRow,
      "copies",
    )) {
      const list = out.get(row.mid) ?? [];
      list.push(row);
      out.set(row.mid, list);
    }
    return out;
  }

  addSender(senderId: string): void {
    this.sql.exec("INSERT OR IGNORE INTO senders (sender_id) VALUES (?)", senderId);
  }

  /** Sender ids in key order, those after `after` (all by default), at most `limit` (-1: no limit). */
  senderIds(after = "", limit = -1): string[] {
    return sqlRows(
      this.sql.exec("SELECT sender_id FROM senders WHERE sender_id > ? ORDER BY sender_id LIMIT ?", after, limit),
      senderRow,
      "senders",
    ).map((r) => r.sender_id);
  }

  countMessages(): number {
    return sqlOne(this.sql.exec("SELECT COUNT(*) AS n FROM messages"), count, "messages").n;
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

  /** When the customer last wrote (a message or a postback); null before they did. */
  lastCustomerMessageAt(): number | null {
    return sqlOne(
      this.sql.exec(
        "SELECT MAX(timestamp) AS at FROM messages INDEXED BY messages_by_sender WHERE json_extract(body, '$.from') = 'customer'",
      ),
      latest,
      "messages",
    ).at;
  }

  messageBody(mid: string): string | null {
    return (
      sqlRows(this.sql.exec("SELECT body FROM messages WHERE mid = ?", mid), messageRow, "messages")[0]?.body ?? null
    );
  }

  replaceMessageBody(mid: string, body: string): void {
    this.sql.exec("UPDATE messages SET body = ? WHERE mid = ?", body, mid);
  }

  /** The edit kept for a message that had not arrived, removed as it is handed over. */
  takePendingEdit(mid: string): { text: string; numEdit: number } | null {
    if (!this.hasRows("pending_edits")) return null;
    const row = sqlRows(
      this.sql.exec("DELETE FROM pending_edits WHERE mid = ? RETURNING text, num_edit", mid),
      pendingEditRow,
      "pending_edits",
    )[0];
    return row ? { text: row.text, numEdit: row.num_edit } : null;
  }

  /** Keeps an edit for a message not yet stored (the latest edit wins). */
  keepPendingEdit(mid: string, text: string, numEdit: number): void {
    this.filled.set("pending_edits", true);
    this.sql.exec(
      `INSERT INTO pending_edits (mid, text, num_edit) VALUES (?, ?, ?)
       ON CONFLICT (mid) DO UPDATE SET text = excluded.text, num_edit = excluded.num_edit
       WHERE excluded.num_edit > pending_edits.num_edit`,
      mid,
      text,
      numEdit,
    );
  }

  /** Every message's `mid` and stored JSON, in conversation order. */
  messageBodies(): [mid: string, body: string][] {
    const rows: [string, string][] = [];
    for (const [mid, body] of this.sql.exec("SELECT mid, body FROM messages ORDER BY timestamp, mid").raw()) {
      rows.push([sqlText(mid, "messages", "mid"), sqlText(body, "messages", "body")]);
    }
    return rows;
  }
}

/** One attachment copy as stored (see `copies`). */
export type CopyRow = z.infer<typeof copyRow>;
