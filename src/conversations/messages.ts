import { z } from "zod";
import { isNumericId } from "../spaces/keys";

/** One message of a conversation file, from a webhook or a poll. */
export interface ConversationMessage {
  mid: string;
  timestamp: number;
  from: "customer" | "page";
  text: string | null;
  attachments: unknown[] | null;
  quick_reply: unknown | null;
  reply_to: unknown | null;
  postback: unknown | null;
  /** On the page's messages: the app that sent it (the bot), absent when a person replied in the inbox. */
  app_id?: string | null;
  /** How many times the customer edited the text (`message_edits`), 0 when never. */
  num_edit?: number;
  /** Arrived on `standby`: another app (the Page Inbox, a person) held the thread. */
  standby?: true;
}

/** Where a customer came from: an ad, an m.me link with `ref`, a QR code... (Meta's `referral`). */
export interface Referral {
  timestamp: number;
  /** Which event carried it: a standalone `messaging_referrals`, a Get Started postback, a message. */
  via: "referral" | "postback" | "message";
  source: string | null;
  type: string | null;
  ref: string | null;
  ad_id: string | null;
  ads_context_data: Record<string, unknown> | null;
  referer_uri: string | null;
}

/** A change of who holds the thread (Conversation Routing's `messaging_handovers`). */
export interface Handover {
  timestamp: number;
  event: (typeof HANDOVER_EVENTS)[number];
  previous_owner_app_id: string | null;
  new_owner_app_id: string | null;
  requested_owner_app_id: string | null;
  metadata: string | null;
}

/** A customer's reaction to a message (`message_reactions`). */
export interface Reaction {
  mid: string;
  timestamp: number;
  action: "react" | "unreact";
  reaction: string | null;
  emoji: string | null;
}

export interface MessageEdit {
  mid: string;
  text: string;
  numEdit: number;
}

/** What one Messenger event does to one customer's conversation (most events carry one of these). */
export interface ConversationUpdate {
  pageId: string;
  customerId: string;
  message?: ConversationMessage;
  edit?: MessageEdit;
  referral?: Referral;
  handover?: Handover;
  /** `message_reads`: every message before this time was seen. */
  readWatermark?: number;
  reaction?: Reaction;
}

const MID = /^[A-Za-z0-9_.:=+/-]{1,300}$/;
const id = z.union([z.string(), z.number()]).transform(String).refine(isNumericId);
const mid = z.string().regex(MID);
const appId = z.union([z.string(), z.number()]).transform(String);
const text = z.string().max(2000);

/** Meta's `referral` object; `source` and `type` are opaque strings (new ones appear). */
const referralSchema = z.object({
  ref: text.optional(),
  source: text.optional(),
  type: text.optional(),
  ad_id: z.union([z.string(), z.number()]).transform(String).optional(),
  ads_context_data: z.record(z.string(), z.unknown()).optional(),
  referer_uri: text.optional(),
});

const threadControl = z.object({
  previous_owner_app_id: appId.optional(),
  new_owner_app_id: appId.optional(),
  requested_owner_app_id: appId.optional(),
  metadata: text.optional(),
});

/** A Messenger `messaging` (or `standby`) event as documented; unknown fields are ignored. */
const messagingEvent = z.object({
  sender: z.object({ id }),
  recipient: z.object({ id }),
  timestamp: z.number().finite(),
  message: z
    .object({
      mid,
      text: z.string().optional(),
      attachments: z.array(z.unknown()).optional(),
      quick_reply: z.unknown().optional(),
      reply_to: z.unknown().optional(),
      is_echo: z.boolean().optional(),
      app_id: appId.optional(),
      referral: referralSchema.optional(),
    })
    .optional(),
  postback: z
    .object({
      mid: mid.optional(),
      title: z.string().optional(),
      payload: z.string().optional(),
      referral: referralSchema.optional(),
    })
    .optional(),
  message_edit: z.object({ mid, text: z.string(), num_edit: z.number().int().nonnegative() }).optional(),
  referral: referralSchema.optional(),
  pass_thread_control: threadControl.optional(),
  take_thread_control: threadControl.optional(),
  request_thread_control: threadControl.optional(),
  read: z.object({ watermark: z.number().finite() }).optional(),
  reaction: z
    .object({
      mid,
      action: z.enum(["react", "unreact"]),
      reaction: text.optional(),
      emoji: text.optional(),
    })
    .optional(),
});

function referralOf(raw: z.output<typeof referralSchema>, via: Referral["via"], timestamp: number): Referral {
  return {
    timestamp,
    via,
    source: raw.source ?? null,
    type: raw.type ?? null,
    ref: raw.ref ?? null,
    ad_id: raw.ad_id ?? null,
    ads_context_data: raw.ads_context_data ?? null,
    referer_uri: raw.referer_uri ?? null,
  };
}

export const HANDOVER_EVENTS = ["pass_thread_control", "take_thread_control", "request_thread_control"] as const;

/**
 * A Messenger event as a conversation update; null for events that change no conversation
 * (deliveries) and for anything malformed. `standby`: the event came on `entry.standby`.
 */
export function messagingUpdate(pageId: string, raw: unknown, standby = false): ConversationUpdate | null {
  const parsed = messagingEvent.safeParse(raw);
  if (!parsed.success) return null;
  const event = parsed.data;
  const fromPage = event.message?.is_echo === true || event.sender.id === pageId;
  const customerId = fromPage ? event.recipient.id : event.sender.id;
  if (customerId === pageId) return null;
  const update: ConversationUpdate = { pageId, customerId };
  const at = event.timestamp;
  if (event.message) {
    const m = event.message;
    update.message = {
      mid: m.mid,
      timestamp: at,
      from: fromPage ? "page" : "customer",
      text: m.text ?? null,
      attachments: m.attachments ?? null,
      quick_reply: m.quick_reply ?? null,
      reply_to: m.reply_to ?? null,
      postback: null,
      ...(fromPage ? { app_id: m.app_id ?? null } : {}),
      ...(standby ? { standby: true as const } : {}),
    };
    if (m.referral && !fromPage) update.referral = referralOf(m.referral, "message", at);
  } else if (event.postback) {
    const p = event.postback;
    // A button the customer pressed: the customer's message, its title as the text. A Get Started
    // postback of a new thread carries where the customer came from.
    if (p.mid) {
      update.message = {
        mid: p.mid,
        timestamp: at,
        from: "customer",
        text: p.title ?? null,
        attachments: null,
        quick_reply: null,
        reply_to: null,
        postback: { title: p.title ?? null, payload: p.payload ?? null },
        ...(standby ? { standby: true as const } : {}),
      };
    }
    if (p.referral) update.referral = referralOf(p.referral, "postback", at);
  } else if (event.message_edit) {
    const e = event.message_edit;
    update.edit = { mid: e.mid, text: e.text, numEdit: e.num_edit };
  }
  // A standalone `messaging_referrals` event, or (click-to-Messenger ads) one beside a message.
  if (event.referral && !fromPage && !update.referral) {
    update.referral = referralOf(event.referral, update.message ? "message" : "referral", at);
  }
  for (const name of HANDOVER_EVENTS) {
    const control = event[name];
    if (!control) continue;
    update.handover = {
      timestamp: at,
      event: name,
      previous_owner_app_id: control.previous_owner_app_id ?? null,
      new_owner_app_id: control.new_owner_app_id ?? null,
      requested_owner_app_id: control.requested_owner_app_id ?? null,
      metadata: control.metadata ?? null,
    };
  }
  if (event.read && !fromPage) update.readWatermark = event.read.watermark;
  if (event.reaction && !fromPage) {
    const r = event.reaction;
    update.reaction = {
      mid: r.mid,
      timestamp: at,
      action: r.action,
      reaction: r.reaction ?? null,
      emoji: r.emoji ?? null,
    };
  }
  const changes = [
    update.message,
    update.edit,
    update.referral,
    update.handover,
    update.readWatermark,
    update.reaction,
  ];
  return changes.some((c) => c !== undefined) ? update : null;
}

/** The attachment kinds whose bytes are copied (a location or a template has none). */
const COPIED_TYPES = new Set(["image", "video", "audio", "file"]);

const webhookAttachment = z.object({ type: z.string(), payload: z.object({ url: z.url() }).loose() });
const graphAttachment = z.object({
  file_url: z.url().optional(),
  image_data: z.object({ url: z.url() }).loose().optional(),
  video_data: z.object({ url: z.url() }).loose().optional(),
});

/**
 * Where each attachment's bytes are (Meta's CDN URL, which expires), by position in the message:
 * a webhook's `{type, payload: {url}}`, or the Graph API's `file_url` / `image_data` / `video_data`.
 */
export function attachmentSources(message: ConversationMessage): { idx: number; url: string }[] {
  const out: { idx: number; url: string }[] = [];
  (message.attachments ?? []).forEach((raw, idx) => {
    const hook = webhookAttachment.safeParse(raw);
    if (hook.success) {
      if (COPIED_TYPES.has(hook.data.type)) out.push({ idx, url: hook.data.payload.url });
      return;
    }
    const polled = graphAttachment.safeParse(raw);
    const url = polled.success
      ? (polled.data.video_data?.url ?? polled.data.image_data?.url ?? polled.data.file_url)
      : undefined;
    if (url) out.push({ idx, url });
  });
  return out.filter((s) => /^https?:\/\//.test(s.url));
}

/** A message of the Graph conversations API (`id, message, from, created_time, attachments`). */
const graphMessage = z.object({
  id: mid,
  message: z.string().optional(),
  from: z.object({ id }).optional(),
  created_time: z.string(),
  attachments: z.object({ data: z.array(z.unknown()) }).optional(),
});

export const GRAPH_MESSAGE_FIELDS =
  "id,message,from,created_time,attachments{id,mime_type,name,size,file_url,image_data,video_data}";

export function polledMessage(pageId: string, raw: unknown): ConversationMessage | null {
  const parsed = graphMessage.safeParse(raw);
  if (!parsed.success) return null;
  const m = parsed.data;
  const timestamp = Date.parse(m.created_time);
  if (!Number.isFinite(timestamp)) return null;
  return {
    mid: m.id,
    timestamp,
    from: m.from?.id === pageId ? "page" : "customer",
    text: m.message ?? null,
    attachments: m.attachments?.data.length ? m.attachments.data : null,
    quick_reply: null,
    reply_to: null,
    postback: null,
  };
}
