import { DurableObject } from "cloudflare:workers";
import { describeError, log } from "../lib/log";
import { backoffMs } from "../lib/retry";
import { conversationKey } from "../spaces/keys";
import { ConversationStore } from "./store";
import { writablePageOwner } from "../db/facebook-pages";
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
 *
 * The same class, named `page:<page_id>` ({@link pageIndexStub}), is a page's index: the customers
 * whose conversation objects exist, so that a data deletion finds those no file was written for yet
 * (Durable Objects cannot be listed).
 */
export class Conversation extends DurableObject<Env> {
  private readonly store: ConversationStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new ConversationStore(ctx.storage.sql);
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
      this.meta = new Map(this.store.metaRows());
    }
    return this.meta.get(name) ?? null;
  }

  private setMeta(name: string, value: string | number) {
    if (this.getMeta(name) === String(value)) return;
    this.store.setMeta(name, String(value));
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
    const body = this.store.messageBody(edit.mid);
    if (body === null) return "unknown";
    const message = JSON.parse(body) as ConversationMessage;
    if ((message.num_edit ?? 0) >= edit.numEdit) return "stale";
    const edited: ConversationMessage = { ...message, text: edit.text, num_edit: edit.numEdit };
    this.store.replaceMessageBody(edit.mid, JSON.stringify(edited));
    return "applied";
  }

  private count(): number {
    this.total ??= this.store.countMessages();
    return this.total;
  }

  async merge(input: MergeInput): Promise<MergeResult> {
    // Storage only, no await until the merge is written: concurrent calls cannot interleave here.
    const before = this.count();
    this.total = null; // counted again if an insert below throws
    let added = 0;
    let edited = 0;
    for (const m of input.messages) {
      if (!this.store.insertMessage(m.mid, m.timestamp, JSON.stringify(m))) continue;
      added++;
      // An edit that came before its message (deliveries arrive in any order) applies now.
      const pending = this.store.takePendingEdit(m.mid);
      if (pending) this.applyEdit({ mid: m.mid, ...pending });
    }
    for (const edit of input.edits ?? []) {
      const outcome = this.applyEdit(edit);
      if (outcome === "applied") edited++;
      if (outcome === "unknown") this.store.keepPendingEdit(edit.mid, edit.text, edit.numEdit);
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
    // Once per conversation (again after a forget): a failure throws, and the sender's retry of
    // the merge (each `mid` kept once) registers it then.
    if (this.getMeta("indexed") === null) {
      if (!(await pageIndexStub(this.env, input.pageId).addSender(input.customerId, input.pageId))) {
        // A data deletion stopped the page (see stopPage): what merged since the forget is dropped.
        await this.forget();
        return { added: 0, edited: 0, total: 0, started: false };
      }
      this.setMeta("indexed", 1);
    }
    return { added, edited, total: before + added, started: before === 0 && added > 0 };
  }

  /**
   * Forgets the whole conversation (a customer's or a data deletion's request): every message,
   * pending edit and pending upload. Returns how many messages were held.
   */
  async forget(): Promise<number> {
    const held = this.count();
    const stopped = this.getMeta("stopped");
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.meta = null;
    this.total = null;
    this.alarmPending = false;
    this.store.createTables();
    if (stopped === "1") this.setMeta("stopped", 1);
    return held;
  }

  /**
   * On a page's index object: a data deletion stops the page before it forgets the page's
   * conversations. A conversation that starts from then on (a webhook or poll that checked the page
   * just before the deletion) is kept only once the page is written again (a new login); else
   * its object drops it. Returns the customers noted so far; a forget of the index keeps the stop.
   */
  async stopPage(): Promise<string[]> {
    this.setMeta("stopped", 1);
    return this.store.senderIds();
  }

  /**
   * On a page's index object: notes a customer whose conversation object holds messages. False
   * when the page was stopped and is not written again: the conversation must drop what it holds.
   */
  async addSender(customerId: string, pageId: string): Promise<boolean> {
    if (this.getMeta("stopped") === "1") {
      if (!(await writablePageOwner(this.env.TOKENS_DB, pageId))) return false;
      this.setMeta("stopped", 0);
    }
    this.store.addSender(customerId);
    return true;
  }

  /** On a page's index object: every customer noted since the index was last forgotten. */
  async senders(): Promise<string[]> {
    return this.store.senderIds();
  }

  /**
   * The conversation file as it should be in Spaces now, one message a line. Built from each
   * message's stored JSON: parsing and re-serialising every message on every upload made each
   * upload of a long conversation (hundreds of messages) cost more than it needs to.
   */
  private conversationFile(pageId: string, customerId: string): { body: string; version: number } {
    const messages = this.store.messageBodies();
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

/** The Durable Object that lists one page's conversations (no `<page>:<customer>` name is `page:…`). */
export function pageIndexStub(env: Env, pageId: string) {
  return env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`page:${pageId}`));
}
