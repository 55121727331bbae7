import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { ObjectMeta } from "../db/object-meta";
import { describeError, log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { backoffMs } from "../lib/retry";
import { conversationFolder, conversationKey } from "../spaces/keys";
import { ConversationStore, type CopyRow } from "./store";
import { writablePageOwner } from "../db/facebook-pages";
import { spaces } from "../services";
import type { Job } from "../jobs/queue-jobs";
import type { CopyOutcome } from "../facebook/cdn";
import { readCustomerProfile, type CustomerProfile } from "../facebook/profiles";
import {
  attachmentSources,
  HANDOVER_EVENTS,
  type ConversationMessage,
  type Handover,
  type MessageEdit,
  type Reaction,
  type Referral,
} from "./messages";

/** Wait this long after a change before uploading, so a burst of messages costs few writes. */
const UPLOAD_DELAY_MS = 200;
/**
 * A busy conversation is written at most this often: a customer chatting with the bot would
 * otherwise cost one write per message. A quiet conversation still lands UPLOAD_DELAY_MS after it.
 */
const MIN_UPLOAD_INTERVAL_MS = 1000;
const HOUR_MS = 3_600_000;
/** Meta's standard messaging window: a page may answer within this long of the customer's last message. */
export const STANDARD_WINDOW_MS = 24 * HOUR_MS;
/** The customer's name and picture are fetched again at most this often. */
export const PROFILE_REFRESH_MS = 7 * 24 * HOUR_MS;
/** The longest wait between two tries of a failing profile fetch (it is tried until it lands). */
const PROFILE_RETRY_MAX_MS = 60 * 60_000;
/**
 * A copy job handed to the queue that brought no outcome in this long (it died and was dropped),
 * or a profile given up on this long ago (the page needed a new login), is tried again at the
 * next change of the conversation.
 */
const ASK_AGAIN_AFTER_MS = 24 * HOUR_MS;
/** Jobs an upload hands to the queue at most (the Queues limit of one sendBatch). */
const JOBS_PER_ALARM = 100;

/** A customer's profile as the object stores it. */
const customerProfileSchema = z.object({
  available: z.boolean(),
  first_name: z.string().nullable(),
  last_name: z.string().nullable(),
  picture: z.object({ path: z.string(), content_type: z.string() }).nullable(),
  fetched_at: z.number(),
}) satisfies z.ZodType<CustomerProfile>;

/**
 * A message as stored. Keys in the order messages are written, and unknown keys kept, so that a
 * message parsed and written again keeps its bytes.
 */
const storedMessageSchema = z
  .object({
    mid: z.string(),
    timestamp: z.number(),
    from: z.enum(["customer", "page"]),
    text: z.string().nullable(),
    attachments: z.array(z.unknown()).nullable(),
    quick_reply: z.unknown(),
    reply_to: z.unknown(),
    postback: z.unknown(),
    app_id: z.string().nullable().optional(),
    standby: z.literal(true).optional(),
    num_edit: z.number().optional(),
  })
  .loose() satisfies z.ZodType<ConversationMessage>;

/** A handover as stored (the Handover of ./messages). */
const storedHandoverSchema = z.object({
  timestamp: z.number(),
  event: z.enum(HANDOVER_EVENTS),
  previous_owner_app_id: z.string().nullable(),
  new_owner_app_id: z.string().nullable(),
  requested_owner_app_id: z.string().nullable(),
  metadata: z.string().nullable(),
}) satisfies z.ZodType<Handover>;

/** Stored JSON read with its schema; null when it is not JSON or does not fit the schema. */
function parseStored<T extends z.ZodType>(schema: T, text: string): z.output<T> | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

export interface MergeInput {
  pageId: string;
  customerId: string;
  messages: ConversationMessage[];
  /** Customers' edits (`message_edits`): the text of that `mid` is replaced by the latest edit. */
  edits?: MessageEdit[];
  referrals?: Referral[];
  handovers?: Handover[];
  /** The latest `message_reads` watermark of the delivery. */
  readWatermark?: number;
  reactions?: Reaction[];
}

export interface MergeResult {
  added: number;
  /** Edits that changed a stored message's text. */
  edited: number;
  /** Referrals, handovers, reads and reactions that changed the conversation. */
  events: number;
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
    this.meta = new ObjectMeta(ctx.storage.sql);
  }

  /** The object's named values: the page, versions, what was last uploaded. */
  private readonly meta: ObjectMeta;
  /** Whether an upload alarm is pending; undefined until known, to spare a storage call per merge. */
  private alarmPending: boolean | undefined;
  /** The number of messages, counted once per object lifetime and kept up to date by merges. */
  private total: number | null = null;
  /** When the last upload started (0 after a restart, which at worst uploads a little early). */
  private lastUploadAt = 0;
  /**
   * When the customer last wrote (null: never), read once per object lifetime and then kept by
   * merges, so that neither a merge nor an upload reads the messages for it.
   */
  private lastCustomerAt: number | null | undefined;

  private lastCustomerMessageAt(): number | null {
    if (this.lastCustomerAt === undefined) this.lastCustomerAt = this.store.lastCustomerMessageAt();
    return this.lastCustomerAt;
  }

  /** The next upload time: UPLOAD_DELAY_MS from now, spaced MIN_UPLOAD_INTERVAL_MS from the last. */
  private nextUploadAt(): number {
    return Math.max(Date.now() + UPLOAD_DELAY_MS, this.lastUploadAt + MIN_UPLOAD_INTERVAL_MS);
  }

  /**
   * The conversation's version: bumped by every change (a message, an edit, an event, a copy), so the upload
   * knows whether Spaces is behind. Objects from before edits existed start at their message count.
   */
  private version(): number {
    return Number(this.meta.get("version") ?? this.count());
  }

  private bump(by: number) {
    if (by > 0) this.meta.set("version", this.version() + by);
  }

  /** Applies an edit if it is newer than what the message holds; false when the message is unknown. */
  private applyEdit(edit: MessageEdit): "applied" | "stale" | "unknown" {
    const body = this.store.messageBody(edit.mid);
    if (body === null) return "unknown";
    const message = parseStored(storedMessageSchema, body);
    if (message === null) {
      // An edit cannot be applied to a message that cannot be read: it is dropped.
      log.warn(`Edit of message ${edit.mid} not applied: its stored JSON is not a message`);
      return "stale";
    }
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
    let events = 0;
    for (const m of input.messages) {
      if (!this.store.insertMessage(m.mid, m.timestamp, JSON.stringify(m))) continue;
      added++;
      if (m.from === "customer" && this.lastCustomerAt !== undefined) {
        this.lastCustomerAt = Math.max(this.lastCustomerAt ?? 0, m.timestamp);
      }
      for (const source of attachmentSources(m)) this.store.addCopy(m.mid, source.idx, source.url);
      // An edit that came before its message (deliveries arrive in any order) applies now.
      const pending = this.store.takePendingEdit(m.mid);
      if (pending) this.applyEdit({ mid: m.mid, ...pending });
    }
    for (const edit of input.edits ?? []) {
      const outcome = this.applyEdit(edit);
      if (outcome === "applied") edited++;
      if (outcome === "unknown") this.store.keepPendingEdit(edit.mid, edit.text, edit.numEdit);
    }
    for (const r of input.referrals ?? []) {
      if (this.store.addReferral(r.timestamp, r.via, JSON.stringify(r))) events++;
    }
    for (const h of input.handovers ?? []) {
      if (this.store.addHandover(h.timestamp, h.event, JSON.stringify(h))) events++;
    }
    for (const r of input.reactions ?? []) {
      if (this.store.setReaction(r.mid, r.timestamp, JSON.stringify(r))) events++;
    }
    if (input.readWatermark !== undefined && input.readWatermark > Number(this.meta.get("read_watermark") ?? 0)) {
      this.meta.set("read_watermark", input.readWatermark);
      events++;
    }
    // The first message of a customer, and one a week later, asks for their name and picture.
    const now = Date.now();
    const profileDue =
      added > 0 &&
      this.meta.get("profile_due") === null &&
      now - Number(this.meta.get("profile_checked_at") ?? 0) >= PROFILE_REFRESH_MS &&
      now - Number(this.meta.get("profile_given_up_at") ?? 0) >= ASK_AGAIN_AFTER_MS;
    if (profileDue) this.meta.set("profile_due", now);
    this.bump(added + edited + events);
    this.total = before + added;
    this.meta.set("page_id", input.pageId);
    this.meta.set("customer_id", input.customerId);
    if (added + edited + events > 0 || profileDue) await this.ensureAlarm();
    // Once per conversation (again after a forget): a failure throws, and the sender's retry of
    // the merge (each `mid` kept once) registers it then.
    if (this.meta.get("indexed") === null) {
      if (!(await pageIndexStub(this.env, input.pageId).addSender(input.customerId, input.pageId))) {
        // A data deletion stopped the page (see stopPage): what merged since the forget is dropped.
        await this.forget();
        return { added: 0, edited: 0, events: 0, total: 0, started: false };
      }
      this.meta.set("indexed", 1);
    }
    return { added, edited, events, total: before + added, started: before === 0 && added > 0 };
  }

  private async ensureAlarm() {
    if (this.alarmPending === true) return;
    if (this.alarmPending === false || (await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(this.nextUploadAt());
    }
    this.alarmPending = true;
  }

  /** The URL of an attachment still to copy (the copy job asks); null when there is nothing to copy. */
  async copySource(mid: string, idx: number): Promise<string | null> {
    return this.store.copySource(mid, idx);
  }

  /**
   * Records where an attachment's copy is, or why there is none. False when the conversation no
   * longer expects it (forgotten meanwhile): the caller deletes what it wrote.
   */
  async copyFinished(mid: string, idx: number, outcome: CopyOutcome): Promise<boolean> {
    const finished = this.store.finishCopy(mid, idx, {
      status: outcome.status,
      path: outcome.status === "stored" ? outcome.path : undefined,
      contentType: outcome.status === "stored" ? outcome.contentType : undefined,
      size: outcome.size,
    });
    if (!finished) return false;
    this.bump(1);
    await this.ensureAlarm();
    return true;
  }

  /** Writes the file again (its keys follow the page's owner after a relink). */
  async reupload(): Promise<void> {
    if (this.meta.get("page_id") === null) return;
    this.bump(1);
    await this.ensureAlarm();
  }

  /**
   * Forgets the whole conversation (a customer's or a data deletion's request): every message,
   * pending edit and pending upload. Returns how many messages were held.
   */
  async forget(): Promise<number> {
    const held = this.count();
    const stopped = this.meta.get("stopped");
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.meta.reset();
    this.total = null;
    this.lastCustomerAt = undefined;
    this.alarmPending = false;
    this.store.createTables();
    if (stopped === "1") this.meta.set("stopped", 1);
    return held;
  }

  /**
   * On a page's index object: a data deletion stops the page before it forgets the page's
   * conversations. A conversation that starts from then on (a webhook or poll that checked the page
   * just before the deletion) is kept only once the page is written again (a new login); else
   * its object drops it. Returns the customers noted so far; a forget of the index keeps the stop.
   */
  async stopPage(): Promise<string[]> {
    this.meta.set("stopped", 1);
    return this.store.senderIds();
  }

  /**
   * On a page's index object: notes a customer whose conversation object holds messages. False
   * when the page was stopped and is not written again: the conversation must drop what it holds.
   */
  async addSender(customerId: string, pageId: string): Promise<boolean> {
    if (this.meta.get("stopped") === "1") {
      if (!(await writablePageOwner(this.env.TOKENS_DB, pageId))) return false;
      this.meta.set("stopped", 0);
    }
    this.store.addSender(customerId);
    return true;
  }

  /**
   * On a page's index object: the customers noted since the index was last forgotten, in the order
   * of their ids; those after `after`, at most `limit`, when given.
   */
  async senders(after?: string, limit?: number): Promise<string[]> {
    return this.store.senderIds(after, limit);
  }

  /**
   * On a page's index object: keeps the page's page_metadata.json as last written, so that a lost
   * copy can be put back while Meta refuses the page's token. Forgotten with the index.
   */
  async keepPageMetadata(text: string): Promise<void> {
    this.meta.set("page_metadata", text);
  }

  /** On a page's index object: the page_metadata.json last kept, or null. */
  async pageMetadata(): Promise<string | null> {
    return this.meta.get("page_metadata");
  }

  /**
   * Spaces lost this conversation's file: the next upload writes it again from what this object
   * holds, the same messages in the same bytes. False when the object holds no conversation.
   */
  async fileMissing(): Promise<boolean> {
    if (this.count() === 0 || this.meta.get("page_id") === null) return false;
    this.meta.set("uploaded_version", 0);
    if (this.alarmPending !== true && (await this.ctx.storage.getAlarm()) === null) {
      await this.schedule(UPLOAD_DELAY_MS);
    }
    return true;
  }

  /**
   * The conversation file as it should be in Spaces now: what a bot needs about the thread on the
   * first lines, then one message a line. Messages are written from their stored JSON (parsing
   * and re-serialising every message on every upload made each upload of a long conversation cost
   * more than it needs to); only those with attachment copies are parsed, to name the copies' keys.
   */
  private conversationFile(owner: string, pageId: string, customerId: string): { body: string; version: number } {
    const folder = conversationFolder(owner, pageId, customerId);
    const lastCustomerAt = this.lastCustomerMessageAt();
    const handovers = this.store.bodies("handovers");
    const stored = this.meta.get("customer");
    const customer = stored === null ? null : parseStored(customerProfileSchema, stored);
    const head = {
      page_id: pageId,
      sender_id: customerId,
      // A stored profile or handover that cannot be read counts as none.
      customer: customer ? customerOf(customer, folder) : null,
      thread: threadOf(handovers.flatMap((h) => parseStored(storedHandoverSchema, h) ?? [])),
      messaging_window: lastCustomerAt
        ? { last_customer_message_at: lastCustomerAt, standard_window_ends_at: lastCustomerAt + STANDARD_WINDOW_MS }
        : null,
      read_watermark: Number(this.meta.get("read_watermark") ?? 0) || null,
    };
    const copies = this.store.copies();
    const messages = this.store
      .messageBodies()
      .map(([mid, body]) => (copies.has(mid) ? withCopies(body, copies.get(mid)!, folder) : body));
    const list = (bodies: string[]) => (bodies.length ? `[\n${bodies.join(",\n")}\n]` : "[]");
    const lines = [
      JSON.stringify(head).slice(0, -1),
      `"referrals":${list(this.store.bodies("referrals"))}`,
      `"handovers":${list(handovers)}`,
      `"reactions":${list(this.store.bodies("reactions"))}`,
      `"messages":[\n${messages.join(",\n")}\n]}\n`,
    ];
    return { body: lines.join(",\n"), version: this.version() };
  }

  /**
   * Hands the queue the attachment copies this conversation waits for. Rows are marked one by one
   * after the send, so merges meanwhile lose nothing.
   */
  private async queueCopies(pageId: string, customerId: string) {
    const now = Date.now();
    const copies = this.store.copiesToQueue(now - ASK_AGAIN_AFTER_MS, JOBS_PER_ALARM);
    if (!copies.length) return;
    const jobs: Job[] = copies.map((c) => ({
      type: "facebook.attachment_copy",
      pageId,
      customerId,
      mid: c.mid,
      index: c.idx,
    }));
    await this.env.JOBS.sendBatch(jobs.map((body) => ({ body, contentType: "json" as const })));
    for (const c of copies) this.store.markCopyQueued(c.mid, c.idx, now);
    // More copies than one batch: the next alarm hands over the rest.
    if (copies.length === JOBS_PER_ALARM) await this.schedule(MIN_UPLOAD_INTERVAL_MS);
  }

  /**
   * Fetches the customer's name and picture when due, after the upload: the message lands first,
   * the name follows with the next upload. Done here rather than in a queue job, as the alarm
   * already knows the page's owner and the object records the answer itself. A fault is retried by
   * the alarm with backoff (after Meta's wait when throttled) until it lands, as uploads are; for a
   * page that needs a new login, the profile is asked again only with a message a day later.
   */
  private async fetchProfileIfDue(owner: string, pageId: string, customerId: string) {
    const due = this.meta.get("profile_due");
    if (due === null) return;
    if (Number(due) > Date.now()) return this.scheduleNoLaterThan(Number(due));
    const folder = conversationFolder(owner, pageId, customerId);
    const about = { page_id: pageId, sender_id: customerId };
    let profile: CustomerProfile;
    try {
      profile = await readCustomerProfile(this.env, pageId, customerId, folder);
    } catch (err) {
      const attempts = Number(this.meta.get("profile_attempts") ?? 0) + 1;
      if (err instanceof PlatformError && err.kind === "auth") {
        this.meta.delete("profile_due");
        this.meta.delete("profile_attempts");
        this.meta.set("profile_given_up_at", Date.now());
        log.warn(`Profile of sender ${customerId} on page ${pageId} not fetched: ${describeError(err)}`, about);
        return;
      }
      const delay =
        (err instanceof PlatformError && err.kind === "throttled" ? err.retryAfterMs : undefined) ??
        backoffMs(attempts, 1000, PROFILE_RETRY_MAX_MS);
      this.meta.set("profile_attempts", attempts);
      this.meta.set("profile_due", Date.now() + delay);
      log.warn(
        `Profile of sender ${customerId} on page ${pageId} failed (attempt ${attempts}), retrying in ${delay} ms: ${describeError(err)}`,
        about,
      );
      return this.scheduleNoLaterThan(Date.now() + delay);
    }
    // Forgotten while Meta answered (a forget, a data deletion): the picture goes too.
    if (this.meta.get("page_id") === null) {
      if (profile.picture) await spaces(this.env).delete(folder + profile.picture.path);
      return;
    }
    this.meta.set("customer", JSON.stringify(profile));
    this.meta.set("profile_checked_at", profile.fetched_at);
    this.meta.delete("profile_due");
    this.meta.delete("profile_attempts");
    this.bump(1);
    await this.scheduleNoLaterThan(this.nextUploadAt());
    log.info(`Profile of sender ${customerId} on page ${pageId}: ${profile.available ? "available" : "unavailable"}`, {
      ...about,
      picture: profile.picture !== null,
    });
  }

  /** Writes the conversation file when Spaces is behind the object. */
  private async upload(owner: string, pageId: string, customerId: string) {
    // Read after the lookups: the state uploaded is the latest, whatever merged meanwhile.
    if (this.version() <= Number(this.meta.get("uploaded_version") ?? 0)) return;
    const { body, version } = this.conversationFile(owner, pageId, customerId);
    const key = conversationKey(owner, pageId, customerId);
    this.lastUploadAt = Date.now();
    await spaces(this.env).put(key, body);
    this.meta.set("uploaded_version", version);
    this.meta.set("failures", 0);
    log.info(`Uploaded ${key} to Spaces`, { page_id: pageId, sender_id: customerId, key, messages: version });
    // Messages merged while the upload was in flight need one more write.
    if (this.version() > version) await this.schedule(this.nextUploadAt() - Date.now());
  }

  async alarm(): Promise<void> {
    // This alarm is running: a merge from now on schedules the next one.
    this.alarmPending = false;
    const pageId = this.meta.get("page_id");
    const customerId = this.meta.get("customer_id");
    if (!pageId || !customerId) return;
    let owner: string;
    try {
      // The page's merchant, looked up at upload time: the file follows the page's current link.
      const page = await writablePageOwner(this.env.TOKENS_DB, pageId);
      if (!page) {
        log.warn(`Conversation ${customerId} on page ${pageId} not uploaded: page is not linked or not authorized`, {
          page_id: pageId,
        });
        return;
      }
      owner = page.userUuid;
      await this.queueCopies(pageId, customerId);
      await this.upload(owner, pageId, customerId);
    } catch (err) {
      const failures = Number(this.meta.get("failures") ?? 0) + 1;
      this.meta.set("failures", failures);
      const delay = backoffMs(failures, 1000, 5 * 60_000);
      log.warn(
        `Upload of conversation ${customerId} on page ${pageId} failed (attempt ${failures}), retrying in ${delay} ms: ${describeError(err)}`,
        {
          page_id: pageId,
          sender_id: customerId,
        },
      );
      await this.schedule(delay);
      return;
    }
    await this.fetchProfileIfDue(owner, pageId, customerId);
  }

  private async schedule(delayMs: number) {
    await this.ctx.storage.setAlarm(Date.now() + delayMs);
    this.alarmPending = true;
  }

  /** Sets the alarm to `at` unless one is set earlier. */
  private async scheduleNoLaterThan(at: number) {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
    this.alarmPending = true;
  }
}

/** The file's `customer`: the profile with its picture's full key. */
function customerOf(profile: CustomerProfile, folder: string) {
  return {
    first_name: profile.first_name,
    last_name: profile.last_name,
    picture_key: profile.picture ? folder + profile.picture.path : null,
    profile: profile.available ? "available" : "unavailable",
    fetched_at: profile.fetched_at,
  };
}

/** Who holds the thread: the new owner of the latest pass or take (a request changes nothing). */
function threadOf(handovers: Handover[]) {
  const last = handovers.filter((h) => h.event !== "request_thread_control" && h.new_owner_app_id).at(-1);
  return last ? { owner_app_id: last.new_owner_app_id, changed_at: last.timestamp, event: last.event } : null;
}

/**
 * A message's JSON with each copied attachment naming its copy (`copy.key`) or why there is none;
 * a body that cannot be read as a message is written as stored.
 */
function withCopies(body: string, copies: CopyRow[], folder: string): string {
  const message = parseStored(storedMessageSchema, body);
  if (message === null) return body;
  const attachments = [...(message.attachments ?? [])];
  for (const c of copies) {
    const original = attachments[c.idx];
    if (!original || typeof original !== "object") continue;
    const copy =
      c.status === "stored" && c.path
        ? { status: c.status, key: folder + c.path, content_type: c.content_type, size: c.size }
        : { status: c.status, ...(c.size !== null ? { size: c.size } : {}) };
    attachments[c.idx] = { ...original, copy };
  }
  return JSON.stringify({ ...message, attachments });
}

/** The Durable Object of one page's conversation with one customer. */
export function conversationStub(env: Env, pageId: string, customerId: string) {
  return env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${pageId}:${customerId}`));
}

/** The Durable Object that lists one page's conversations (no `<page>:<customer>` name is `page:…`). */
export function pageIndexStub(env: Env, pageId: string) {
  return env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`page:${pageId}`));
}
