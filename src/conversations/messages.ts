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
}

/** What one Messenger event does to a conversation. */
export type ConversationUpdate =
  | { kind: "message"; pageId: string; customerId: string; message: ConversationMessage }
  | { kind: "edit"; pageId: string; customerId: string; edit: MessageEdit };

export interface MessageEdit {
  mid: string;
  text: string;
  numEdit: number;
}

const MID = /^[A-Za-z0-9_.:=+/-]{1,300}$/;
const id = z.union([z.string(), z.number()]).transform(String).refine(isNumericId);
const mid = z.string().regex(MID);

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
      app_id: z.union([z.string(), z.number()]).transform(String).optional(),
    })
    .optional(),
  postback: z.object({ mid, title: z.string().optional(), payload: z.string().optional() }).optional(),
  message_edit: z.object({ mid, text: z.string(), num_edit: z.number().int().nonnegative() }).optional(),
});

/**
 * A Messenger event as a conversation update; null for events that change no conversation
 * (deliveries, reads, reactions, referrals) and for anything malformed.
 */
export function messagingUpdate(pageId: string, raw: unknown): ConversationUpdate | null {
  const parsed = messagingEvent.safeParse(raw);
  if (!parsed.success) return null;
  const event = parsed.data;
  const fromPage = event.message?.is_echo === true || event.sender.id === pageId;
  const customerId = fromPage ? event.recipient.id : event.sender.id;
  if (customerId === pageId) return null;
  if (event.message) {
    const m = event.message;
    return {
      kind: "message",
      pageId,
      customerId,
      message: {
        mid: m.mid,
        timestamp: event.timestamp,
        from: fromPage ? "page" : "customer",
        text: m.text ?? null,
        attachments: m.attachments ?? null,
        quick_reply: m.quick_reply ?? null,
        reply_to: m.reply_to ?? null,
        postback: null,
        ...(fromPage ? { app_id: m.app_id ?? null } : {}),
      },
    };
  }
  if (event.postback?.mid) {
    // A button the customer pressed: the customer's message, its title as the text.
    return {
      kind: "message",
      pageId,
      customerId,
      message: {
        mid: event.postback.mid,
        timestamp: event.timestamp,
        from: "customer",
        text: event.postback.title ?? null,
        attachments: null,
        quick_reply: null,
        reply_to: null,
        postback: { title: event.postback.title ?? null, payload: event.postback.payload ?? null },
      },
    };
  }
  if (event.message_edit) {
    const e = event.message_edit;
    return { kind: "edit", pageId, customerId, edit: { mid: e.mid, text: e.text, numEdit: e.num_edit } };
  }
  return null;
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
