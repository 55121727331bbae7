import { randomBytes } from "node:crypto";
import type { GraphState } from "./graph";

/**
 * Webhook deliveries as Meta sends them (`/_control/delivery`): events batched in one entry per
 * page (or one entry each, as Meta's large batches do), messages recorded in the page's history so
 * a poll sees them, echoes with `app_id`. Conversation Routing is played out: after a
 * `pass_thread_control` to another app (the Page Inbox), the thread's messages arrive on
 * `entry.standby` until a `take_thread_control` gives it back.
 */

export interface DeliveryEvent {
  page: string;
  customer: string;
  kind?:
    | "message"
    | "echo"
    | "postback"
    | "edit"
    | "reaction"
    | "read"
    | "delivery"
    | "referral"
    | "pass_thread_control"
    | "take_thread_control"
    | "request_thread_control";
  mid?: string;
  text?: string;
  timestamp?: number;
  attachments?: unknown[];
  /** Where the customer came from: on a standalone referral, a postback (Get Started) or a message. */
  referral?: Record<string, unknown>;
  title?: string;
  payload?: string;
  num_edit?: number;
  metadata?: string;
  /** An echo's sender app (none: a person in the inbox); a handover's other app. */
  appId?: string | null;
  action?: "react" | "unreact";
  emoji?: string;
  reaction?: string;
  watermark?: number;
}

type Entry = { id: string; time: number; messaging: unknown[]; standby: unknown[] };

export function buildDelivery(state: GraphState, events: DeliveryEvent[], entryPerEvent: boolean) {
  const entries = new Map<string, Entry>();
  for (const e of events) {
    const page = state.pages.get(e.page)!;
    const conv = state.conversationOf(page, e.customer);
    const timestamp = Number(e.timestamp ?? Date.now());
    const mid = e.mid ?? `m_${randomBytes(9).toString("base64url")}_${++state.midSeq}`;
    const customer = { id: e.customer };
    const self = { id: page.id };
    const fromCustomer = { sender: customer, recipient: self, timestamp };
    let event: Record<string, unknown>;
    // Whether this app holds the thread when the event happens (a handover changes it below).
    let standby = conv.owner !== state.opts.appId;
    const kind = e.kind ?? "message";
    switch (kind) {
      case "echo": {
        state.addMessage(page, e.customer, { id: mid, message: e.text ?? "", from: page.id, timestamp });
        const appId = e.appId === undefined ? Number(state.opts.appId) : e.appId === null ? undefined : Number(e.appId);
        event = {
          sender: self,
          recipient: customer,
          timestamp,
          message: { mid, text: e.text, is_echo: true, ...(appId ? { app_id: appId } : {}), metadata: e.metadata },
        };
        break;
      }
      case "postback":
        event = {
          ...fromCustomer,
          postback: { mid, title: e.title, payload: e.payload, ...(e.referral ? { referral: e.referral } : {}) },
        };
        break;
      case "edit": {
        const m = conv.messages.find((x) => x.id === e.mid);
        if (m) m.message = e.text ?? "";
        event = { ...fromCustomer, message_edit: { mid: e.mid, text: e.text, num_edit: e.num_edit ?? 1 } };
        break;
      }
      case "reaction":
        event = {
          ...fromCustomer,
          reaction: {
            mid: e.mid,
            action: e.action ?? "react",
            ...(e.action === "unreact" ? {} : { emoji: e.emoji ?? "❤", reaction: e.reaction ?? "love" }),
          },
        };
        break;
      case "read":
        event = { ...fromCustomer, read: { watermark: e.watermark ?? timestamp } };
        break;
      case "delivery":
        event = { ...fromCustomer, delivery: { mids: [e.mid], watermark: timestamp } };
        break;
      case "referral":
        event = { ...fromCustomer, referral: e.referral ?? { source: "SHORTLINK", type: "OPEN_THREAD" } };
        break;
      case "pass_thread_control":
      case "take_thread_control": {
        const previous = conv.owner;
        // A pass names the app it gives the thread to; a take is by `appId` (this app by default).
        conv.owner = e.appId ?? state.opts.appId;
        event = {
          ...fromCustomer,
          [kind]: { previous_owner_app_id: previous, new_owner_app_id: conv.owner, metadata: e.metadata ?? "" },
        };
        standby = false;
        break;
      }
      case "request_thread_control":
        event = {
          ...fromCustomer,
          request_thread_control: { requested_owner_app_id: e.appId, metadata: e.metadata ?? "" },
        };
        standby = false;
        break;
      default:
        state.addMessage(page, e.customer, {
          id: mid,
          message: e.text ?? "",
          from: e.customer,
          timestamp,
          attachments: e.attachments as never,
        });
        // A click-to-Messenger ad's first message carries the ad's referral beside it.
        event = {
          ...fromCustomer,
          message: { mid, text: e.text, ...(e.attachments ? { attachments: e.attachments } : {}) },
          ...(e.referral ? { referral: e.referral } : {}),
        };
    }
    const key = entryPerEvent ? `${page.id}:${entries.size}` : page.id;
    const entry = entries.get(key) ?? { id: page.id, time: timestamp, messaging: [], standby: [] };
    (standby ? entry.standby : entry.messaging).push(event);
    entries.set(key, entry);
  }
  return {
    object: "page",
    entry: [...entries.values()].map(({ standby, messaging, ...entry }) => ({
      ...entry,
      ...(messaging.length || !standby.length ? { messaging } : {}),
      ...(standby.length ? { standby } : {}),
    })),
  };
}
