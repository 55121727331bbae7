import { randomBytes } from "node:crypto";
import { json, type FakeResponse } from "./http";

/**
 * What the Graph fake holds to as Meta documents it: the fields of each node, the webhook fields,
 * the error shapes and codes, field expansion and cursor paging.
 */

/** Fields of the Page node (Graph API reference, Page), the ones a client may ask for. */
export const PAGE_FIELDS = new Set([
  "id",
  "name",
  "category",
  "category_list",
  "about",
  "description",
  "link",
  "username",
  "fan_count",
  "followers_count",
  "website",
  "phone",
  "emails",
  "location",
  "single_line_address",
  "picture",
  "cover",
  "verification_status",
  "is_published",
  "hours",
  "price_range",
  "whatsapp_number",
  "access_token",
]);

/** The Page webhook fields of the Messenger Platform (Webhooks reference, Page object). */
export const WEBHOOK_FIELDS = new Set([
  "name",
  "category",
  "feed",
  "messages",
  "message_echoes",
  "messaging_postbacks",
  "message_reactions",
  "message_edits",
  "message_reads",
  "message_deliveries",
  "messaging_referrals",
  "messaging_optins",
  "messaging_handovers",
  "messaging_policy_enforcement",
  "standby",
]);

/** Fields of a PSID through the User Profile API. */
export const USER_PROFILE_FIELDS = new Set([
  "id",
  "first_name",
  "last_name",
  "name",
  "profile_pic",
  "locale",
  "timezone",
]);

export const MESSAGE_FIELDS = new Set([
  "id",
  "message",
  "from",
  "to",
  "created_time",
  "attachments",
  "sticker",
  "tags",
]);
export const CONVERSATION_FIELDS = new Set(["id", "participants", "messages", "updated_time", "message_count", "link"]);
/** The largest page Graph serves on these edges; a larger `limit` gets this many. */
export const MAX_LIMIT = 100;
/** The Page Inbox's app id (Conversation Routing): a person answering in Meta Business Suite. */
export const PAGE_INBOX_APP_ID = "263902037430900";

export const metaError = (
  message: string,
  code: number,
  opts: { subcode?: number; type?: string; status?: number; transient?: boolean } = {},
): FakeResponse =>
  json(
    {
      error: {
        message,
        type: opts.type ?? "OAuthException",
        code,
        ...(opts.subcode ? { error_subcode: opts.subcode } : {}),
        ...(opts.transient ? { is_transient: true } : {}),
        fbtrace_id: randomBytes(8).toString("base64url"),
      },
    },
    opts.status ?? 400,
  );

export const nonexistingField = (field: string, node: string): FakeResponse =>
  metaError(`(#100) Tried accessing nonexisting field (${field}) on node type (${node})`, 100);

/** What Graph answers for an id that does not exist or that this token may not read. */
export const unsupportedGet = (id: string): FakeResponse =>
  metaError(
    `Unsupported get request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
    100,
    { subcode: 33, type: "GraphMethodException" },
  );

export const unknownPath = (): FakeResponse => metaError("Unknown path components", 2500);

export const TOKEN_DEATH: Record<number, string> = {
  458: "Error validating access token: The user has not authorized application.",
  460: "Error validating access token: The session has been invalidated because the user changed their password.",
  463: "Error validating access token: Session has expired.",
  467: "Error validating access token: The access token is invalid.",
};

export const THROTTLE: Record<number, string> = {
  4: "(#4) Application request limit reached",
  17: "(#17) User request limit reached",
  32: "(#32) Page request limit reached",
  613: "(#613) Calls to this api have exceeded the rate limit.",
};

/** A Graph field expansion: `a,b{c,d},e.limit(5){f}`. */
export interface FieldSpec {
  name: string;
  limit?: number;
  fields?: FieldSpec[];
}

export function parseFields(text: string): FieldSpec[] {
  let i = 0;
  const parseList = (): FieldSpec[] => {
    const list: FieldSpec[] = [];
    while (i < text.length && text[i] !== "}") {
      const start = i;
      while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
      const spec: FieldSpec = { name: text.slice(start, i) };
      while (text[i] === ".") {
        const m = /^\.(\w+)\(([^)]*)\)/.exec(text.slice(i));
        if (!m) throw new Error(`bad modifier at ${i}`);
        if (m[1] === "limit") spec.limit = Number(m[2]);
        i += m[0].length;
      }
      if (text[i] === "{") {
        i++;
        spec.fields = parseList();
        if (text[i] !== "}") throw new Error("unclosed {");
        i++;
      }
      if (!spec.name) throw new Error(`empty field at ${i}`);
      list.push(spec);
      if (text[i] === ",") i++;
    }
    return list;
  };
  const out = parseList();
  if (i !== text.length) throw new Error(`unexpected ${text[i]} at ${i}`);
  return out;
}

export const encodeCursor = (n: number) => Buffer.from(`cursor:${n}`).toString("base64url");
export const decodeCursor = (c: string | null): number | null => {
  if (!c) return 0;
  const m = /^cursor:(\d+)$/.exec(Buffer.from(c, "base64url").toString());
  return m ? Number(m[1]) : null;
};
export const graphTime = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "+0000");

/** The same URL with another `after` cursor (Graph's `paging.next`). */
export function nextUrl(url: URL, after: number | string): string {
  const next = new URL(url.toString());
  next.searchParams.set("after", typeof after === "number" ? encodeCursor(after) : after);
  return next.toString();
}
