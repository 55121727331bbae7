import { DurableObject } from "cloudflare:workers";
import { describeError, log } from "../lib/log";
import { backoffMs } from "../lib/platform-error";
import { conversationKey } from "../storage/keys";
import { writablePageOwner } from "../storage/facebook-pages";
import { spaces } from "../services";
import type { ConversationMessage, MessageEdit } from "./messages";

/** Wait this long after a change before uploading, so a burst of messages costs few writes. */
const UPLOAD_DELAY_MS = 200;
/**
 * A busy conversation is written at most this often: a customer chatting with the bot would
 * otherwise cost one write per message. A quiet conversation still lands UPLOAD_DELAY_MS after it.
 */
const MIN_UPLOAD_INTERVAL_MS = 1000;

export interface MergeInput {
  pageId: string;
  customerId: string;
  messages: ConversationMessage[];
  /** Customers' edits (`message_edits`): the text of that `mid` is replaced by the latest edit. */
  edits?: MessageEdit[];
}

export interface MergeResult {
  added: number;
  /** Edits that changed a stored message's text. */
  edited: number;
  total: number;
  /** The conversation had no message before this merge. */
  started: boolean;
}

/**
 * One customer's conversation with one page. Webhooks and polls merge messages here; the merge is
 * storage-only, so concurrent calls cannot lose an update, and each `mid` is kept once. The file in
 * Spaces is written by the alarm, always from the latest state, and retried until it lands.
 */
export class Conversation extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS messages (mid TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, body TEXT NOT NULL)`,
    );
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    // Edits whose message has not arrived yet (deliveries come in any order): applied when it does.
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS pending_edits (mid TEXT PRIMARY KEY, text TEXT NOT NULL, num_edit INTEGER NOT NULL)`,
    );
  }

  /** Meta rows, read once per object lifetime and written through. */
  private meta: Map<string, string> | null = null;
  /** Whether an upload alarm is pending; undefined until known, to spare a storage call per merge. */
  private alarmPending: boolean | undefined;
  /** The number of messages, counted once per object lifetime and kept up to date by merges. */
  private total: number | null = null;
  /** When the last upload started (0 after a restart, which at worst uploads a little early). */
  private lastUploadAt = 0;

  /** The next upload time: UPLOAD_DELAY_MS from now, spaced MIN_UPLOAD_INTERVAL_MS from the last. */
  private nextUploadAt(): number {
    return Math.max(Date.now() + UPLOAD_DELAY_MS, this.lastUploadAt + MIN_UPLOAD_INTERVAL_MS);
  }

  private getMeta(name: string): string | null {
    if (!this.meta) {
      this.meta = new Map(
        this.sql
          .exec<{ name: string; value: string }>("SELECT name, value FROM meta")
          .toArray()
          .map((r) => [r.name, r.value]),
      );
    }
    return this.meta.get(name) ?? null;
  }

  private setMeta(name: string, value: string | number) {
    if (this.getMeta(name) === String(value)) return;
    this.sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", name, String(value));
    this.meta!.set(name, String(value));
  }

  /**
   * The conversation's version: bumped by every change (a new message or an edit), so the upload
   * knows whether Spaces is behind. Objects from before edits existed start at their message count.
   */
  private version(): number {
    return Number(this.getMeta("version") ?? this.count());
  }

  private bump(by: number) {
    if (by > 0) this.setMeta("version", this.version() + by);
  }

  /** Applies an edit if it is newer than what the message holds; false when the message is unknown. */
  private applyEdit(edit: MessageEdit): "applied" | "stale" | "unknown" {
    const row = this.sql.exec<{ body: string }>("SELECT body FROM messages WHERE mid = ?", edit.mid).toArray()[0];
    if (!row) return "unknown";
    const message = JSON.parse(row.body) as ConversationMessage;
    if ((message.num_edit ?? 0) >= edit.numEdit) return "stale";
    const edited: ConversationMessage = { ...message, text: edit.text, num_edit: edit.numEdit };
    this.sql.exec("UPDATE messages SET body = ? WHERE mid = ?", JSON.stringify(edited), edit.mid);
    return "applied";
  }

  private count(): number {
    this.total ??= this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM messages").one().n;
    return this.total;
  }

  async merge(input: MergeInput): Promise<MergeResult> {
    // Storage only, no await until the merge is written: concurrent calls cannot interleave here.
    const before = this.count();
    this.total = null; // counted again if an insert below throws
    let added = 0;
    let edited = 0;
    for (const m of input.messages) {
      // RETURNING yields a row only when the message is new: no count of a long conversation.
      const isNew = this.sql
        .exec(
          "INSERT OR IGNORE INTO messages (mid, timestamp, body) VALUES (?, ?, ?) RETURNING 1",
          m.mid,
          m.timestamp,
          JSON.stringify(m),
        )
        .toArray().length;
      added += isNew;
      if (isNew) {
        const pending = this.sql
          .exec<{ text: string; num_edit: number }>(
            "DELETE FROM pending_edits WHERE mid = ? RETURNING text, num_edit",
            m.mid,
          )
          .toArray()[0];
        if (pending) this.applyEdit({ mid: m.mid, text: pending.text, numEdit: pending.num_edit });
      }
    }
    for (const edit of input.edits ?? []) {
      const outcome = this.applyEdit(edit);
      if (outcome === "applied") edited++;
      if (outcome === "unknown") {
        this.sql.exec(
          `INSERT INTO pending_edits (mid, text, num_edit) VALUES (?, ?, ?)
           ON CONFLICT (mid) DO UPDATE SET text = excluded.text, num_edit = excluded.num_edit
           WHERE excluded.num_edit > pending_edits.num_edit`,
          edit.mid,
          edit.text,
          edit.numEdit,
        );
      }
    }
    this.bump(added + edited);
    this.total = before + added;
    this.setMeta("page_id", input.pageId);
    this.setMeta("customer_id", input.customerId);
    if (added + edited > 0 && this.alarmPending !== true) {
      if (this.alarmPending === false || (await this.ctx.storage.getAlarm()) === null) {
        await this.ctx.storage.setAlarm(this.nextUploadAt());
      }
      this.alarmPending = true;
    }
    return { added, edited, total: before + added, started: before === 0 && added > 0 };
  }

  /**
   * Forgets the whole conversation (a customer's or a data deletion's request): every message,
   * pending edit and pending upload. Returns how many messages were held.
   */
  async forget(): Promise<number> {
    const held = this.count();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.meta = null;
    this.total = null;
    this.alarmPending = false;
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS messages (mid TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, body TEXT NOT NULL)`,
    );
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS pending_edits (mid TEXT PRIMARY KEY, text TEXT NOT NULL, num_edit INTEGER NOT NULL)`,
    );
    return held;
  }

  /**
   * The conversation file as it should be in Spaces now, one message a line. Built from each
   * message's stored JSON: parsing and re-serialising every message on every upload made each
   * upload of a long conversation (hundreds of messages) cost more than it needs to.
   */
  private conversationFile(pageId: string, customerId: string): { body: string; version: number } {
    const messages: string[] = [];
    for (const [body] of this.sql.exec("SELECT body FROM messages ORDER BY timestamp, mid").raw()) {
      messages.push(body as string);
    }
    const head = `{"page_id":${JSON.stringify(pageId)},"sender_id":${JSON.stringify(customerId)}`;
    return { body: `${head},"messages":[\n${messages.join(",\n")}\n]}\n`, version: this.version() };
  }

  async alarm(): Promise<void> {
    // This alarm is running: a merge from now on schedules the next one.
    this.alarmPending = false;
    const pageId = this.getMeta("page_id");
    const customerId = this.getMeta("customer_id");
    if (!pageId || !customerId) return;
    try {
      // The page's merchant, looked up at upload time: the file follows the page's current link.
      const owner = await writablePageOwner(this.env.TOKENS_DB, pageId);
      if (!owner) {
        log.warn(`Conversation ${customerId} on page ${pageId} not uploaded: page is not linked or not authorized`, {
          page_id: pageId,
        });
        return;
      }
      // Read after the lookup: the state uploaded is the latest, whatever merged meanwhile.
      if (this.version() <= Number(this.getMeta("uploaded_version") ?? 0)) return;
      const { body, version } = this.conversationFile(pageId, customerId);
      const key = conversationKey(owner.userUuid, pageId, customerId);
      this.lastUploadAt = Date.now();
      await spaces(this.env).put(key, body);
      this.setMeta("uploaded_version", version);
      this.setMeta("failures", 0);
      log.info(`Uploaded ${key} to Spaces`, { page_id: pageId, sender_id: customerId, key, messages: version });
      // Messages merged while the upload was in flight need one more write.
      if (this.version() > version) await this.schedule(this.nextUploadAt() - Date.now());
    } catch (err) {
      const failures = Number(this.getMeta("failures") ?? 0) + 1;
      this.setMeta("failures", failures);
      const delay = backoffMs(failures, 1000, 5 * 60_000);
      log.warn(
        `Upload of conversation ${customerId} on page ${pageId} failed (attempt ${failures}), retrying in ${delay} ms: ${describeError(err)}`,
        {
          page_id: pageId,
          sender_id: customerId,
        },
      );
      await this.schedule(delay);
    }
  }

  private async schedule(delayMs: number) {
    await this.ctx.storage.setAlarm(Date.now() + delayMs);
    this.alarmPending = true;
  }
}

/** The Durable Object of one page's conversation with one customer. */
export function conversationStub(env: Env, pageId: string, customerId: string) {
  return env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${pageId}:${customerId}`));
}
