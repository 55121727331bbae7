import { isNumericId } from "../storage/keys";

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
}

export interface ConversationUpdate {
  pageId: string;
  /** The customer's PSID: names the file, also for the page's echoes. */
  customerId: string;
  message: ConversationMessage;
}

const MID = /^[A-Za-z0-9_.:=+/-]{1,300}$/;

/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * A Messenger `messaging` event as a conversation update; null for events that carry no message
 * (delivery, read, reactions) and for anything malformed.
 */
export function messagingUpdate(pageId: string, event: any): ConversationUpdate | null {
  if (!event || typeof event !== "object") return null;
  const sender = String(event.sender?.id ?? "");
  const recipient = String(event.recipient?.id ?? "");
  const timestamp = Number(event.timestamp);
  if (!isNumericId(sender) || !isNumericId(recipient) || !Number.isFinite(timestamp)) return null;
  const isEcho = event.message?.is_echo === true;
  const customerId = isEcho ? recipient : sender;
  if (customerId === pageId) return null;
  if (event.message && typeof event.message.mid === "string" && MID.test(event.message.mid)) {
    const m = event.message;
    return {
      pageId,
      customerId,
      message: {
        mid: m.mid,
        timestamp,
        from: isEcho || sender === pageId ? "page" : "customer",
        text: typeof m.text === "string" ? m.text : null,
        attachments: Array.isArray(m.attachments) ? m.attachments : null,
        quick_reply: m.quick_reply ?? null,
        reply_to: m.reply_to ?? null,
        postback: null,
      },
    };
  }
  if (event.postback && typeof event.postback.mid === "string" && MID.test(event.postback.mid)) {
    return {
      pageId,
      customerId,
      message: {
        mid: event.postback.mid,
        timestamp,
        from: "customer",
        text: typeof event.postback.title === "string" ? event.postback.title : null,
        attachments: null,
        quick_reply: null,
        reply_to: null,
        postback: { title: event.postback.title ?? null, payload: event.postback.payload ?? null },
      },
    };
  }
  return null;
}

/** A message from the Graph conversations API (`id, message, from, created_time`). */
export function polledMessage(pageId: string, m: any): ConversationMessage | null {
  if (!m || typeof m.id !== "string" || !MID.test(m.id)) return null;
  const timestamp = Date.parse(m.created_time);
  if (!Number.isFinite(timestamp)) return null;
  return {
    mid: m.id,
    timestamp,
    from: String(m.from?.id) === pageId ? "page" : "customer",
    text: typeof m.message === "string" ? m.message : null,
    attachments: null,
    quick_reply: null,
    reply_to: null,
    postback: null,
  };
}
