import { createHash, createHmac, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { json, listen, type FakeResponse } from "./http";
import { buildDelivery, type DeliveryEvent } from "./graph-deliveries";
import {
  CONVERSATION_FIELDS,
  MAX_LIMIT,
  MESSAGE_FIELDS,
  PAGE_FIELDS,
  THROTTLE,
  TOKEN_DEATH,
  USER_PROFILE_FIELDS,
  WEBHOOK_FIELDS,
  decodeCursor,
  encodeCursor,
  graphTime,
  metaError,
  nextUrl,
  nonexistingField,
  parseFields,
  unknownPath,
  unsupportedGet,
  type FieldSpec,
} from "./graph-reference";

export { parseFields, PAGE_INBOX_APP_ID, type FieldSpec } from "./graph-reference";

/**
 * A fake Graph API that executes and refuses as Meta documents it (Graph API reference, Messenger
 * Platform webhooks), as a table of small handlers over one state object (`GraphState`):
 * - `oauth/access_token` (code, then `fb_exchange_token`), `GET /me` (the app-scoped user id),
 *   `me/accounts` with cursor paging; a required `appsecret_proof` on every call with a token.
 * - `GET /{page}?fields=`: only fields of the Page reference; any other is error #100 with Meta's
 *   error shape, and only the fields asked for are answered.
 * - `{page}/conversations` and `{conversation}/messages`: field expansion (`messages.limit(n){...}`),
 *   newest first, `attachments`, cursor paging whose `paging.next` is a working URL.
 * - `{page}/subscribed_apps`: GET, POST (fields checked against Meta's page webhook fields, added
 *   to what is there), and removal from the platform's side (`/_control/unsubscribe`), as Meta does
 *   after failed deliveries.
 * - `GET /{psid}?fields=first_name,last_name,profile_pic` (User Profile API) with the page's token;
 *   a person with no profile available answers Meta's error #100.
 * - CDN URLs (`/media/{id}`) for attachments and profile pictures, which expire: past their time
 *   they answer 403 as Meta's CDN does.
 * - Errors: 190 with subcodes 458/460/463/467 for dead tokens, throttling 4/17/32/613 (`faults`);
 *   a page token that died (`/_control/kill-token`) answers 190 until a new login grants the page.
 * - The login dialog for a browser: `GET /{version}/dialog/oauth` lists the pages to grant and
 *   "Continue" redirects to `redirect_uri` with `code` and `state`.
 * - Webhook deliveries as Meta sends them (`/_control/delivery`, see graph-deliveries.ts).
 */

export interface FakeAttachment {
  id: string;
  mime_type: string;
  name: string;
  size: number;
  file_url?: string;
  image_data?: unknown;
}

interface FakeMessage {
  id: string;
  message: string;
  from: string;
  created_time: string;
  attachments?: FakeAttachment[];
}

export interface FakeConversation {
  id: string;
  customer: string;
  messages: FakeMessage[];
  /** The app that holds the thread (Conversation Routing); this app unless handed over. */
  owner: string;
}

export interface FakePage {
  id: string;
  name: string;
  category: string;
  token: string;
  /** Subcode of Meta's error 190 once the page token died (password change, admin removed, ...). */
  tokenDead: number | null;
  subscribed: string[] | null;
  conversations: FakeConversation[];
}

/** A person who wrote to a page (their PSID is page-scoped); `profile: null` when Meta has none for the app. */
interface FakeCustomer {
  page: string;
  profile: { first_name: string; last_name: string; picture: string | null } | null;
}

/** Bytes at a CDN URL, until `expiresAt`. */
interface FakeMedia {
  bytes: Buffer;
  contentType: string;
  expiresAt: number;
  /** A slow CDN: the answer waits this long. */
  delayMs?: number;
}

interface FakeUser {
  id: string;
  name: string;
  pages: string[];
}

type Grant = { user: string; pages: string[] };
type Fault = { kind: "throttle" | "500" | "dead-token" | "slow"; times: number; delayMs?: number; code?: number };

export interface GraphFakeOptions {
  appId: string;
  appSecret: string;
  version: string;
  port?: number;
}

const newCalls = () => ({ total: 0, subscribe: 0, metadata: 0, conversations: 0, messages: 0, profiles: 0, media: 0 });

/** Everything the fake knows; each handler reads and changes only this. */
export class GraphState {
  readonly pages = new Map<string, FakePage>();
  readonly users = new Map<string, FakeUser>();
  readonly customers = new Map<string, FakeCustomer>();
  readonly media = new Map<string, FakeMedia>();
  readonly codes = new Map<string, Grant & { redirectUri?: string }>();
  readonly shortTokens = new Map<string, Grant>();
  readonly userTokens = new Map<string, Grant>();
  faults: Fault[] = [];
  readonly calls = newCalls();
  /** Graph calls per page (every call made with that page's token), for the bench. */
  readonly callsByPage = new Map<string, number>();
  /** Bytes served from CDN URLs, for the bench. */
  mediaBytes = 0;
  /** Every token handed out, so a leak check can look for them. */
  readonly issued: string[] = [];
  midSeq = 0;

  constructor(readonly opts: GraphFakeOptions) {}

  reset() {
    for (const m of [this.pages, this.users, this.customers, this.media, this.codes, this.callsByPage]) m.clear();
    this.faults = [];
    this.mediaBytes = 0;
    Object.assign(this.calls, newCalls());
  }

  newToken(prefix: string) {
    const token = `${prefix}${randomBytes(12).toString("hex")}`;
    this.issued.push(token);
    return token;
  }

  proof = (token: string) => createHmac("sha256", this.opts.appSecret).update(token).digest("hex");

  pageByToken = (token: string) => [...this.pages.values()].find((p) => p.token === token);

  conversationById(id: string) {
    for (const page of this.pages.values()) {
      const conv = page.conversations.find((c) => c.id === id);
      if (conv) return { page, conv };
    }
    return null;
  }

  conversationOf(page: FakePage, customer: string): FakeConversation {
    let conv = page.conversations.find((c) => c.customer === customer);
    if (!conv) {
      conv = { id: `t_${page.id}_${customer}`, customer, messages: [], owner: this.opts.appId };
      page.conversations.push(conv);
    }
    return conv;
  }

  addMessage(page: FakePage, customer: string, m: Omit<FakeMessage, "created_time"> & { timestamp: number }) {
    const conv = this.conversationOf(page, customer);
    if (conv.messages.some((x) => x.id === m.id)) return conv;
    const { timestamp, ...rest } = m;
    conv.messages.push({ ...rest, created_time: graphTime(timestamp) });
    return conv;
  }

  /** A CDN URL serving these bytes for `ttlMs`. */
  addMedia(origin: string, bytes: Buffer, contentType: string, ttlMs: number, delayMs?: number) {
    const id = randomBytes(9).toString("hex");
    const expiresAt = Date.now() + ttlMs;
    this.media.set(id, { bytes, contentType, expiresAt, delayMs });
    // Meta's CDN URLs carry their expiry (`oe`, hex seconds) and a signature.
    const oe = Math.floor(expiresAt / 1000).toString(16);
    return `${origin}/media/${id}?oe=${oe}&oh=${randomBytes(8).toString("hex")}`;
  }
}

/** One Graph request as the handlers see it. */
interface Call {
  state: GraphState;
  req: IncomingMessage;
  url: URL;
  q: URLSearchParams;
  token: string;
  fields: FieldSpec[];
  /** The page whose token made the call (checked against the object asked for). */
  page: FakePage;
  /** The path's parts after the version: object id and edge. */
  id: string;
}

/**
 * The Graph routes after authentication, by object and edge. `of` finds the page an object
 * belongs to (a page, one of its conversations, one of its customers); null is "does not exist".
 */
const objectRoutes: {
  edge: string;
  methods: string[];
  of: (s: GraphState, id: string) => FakePage | null | undefined;
  handle: (c: Call) => FakeResponse;
}[] = [
  { edge: "", methods: ["GET"], of: (s, id) => s.pages.get(id), handle: pageNode },
  { edge: "", methods: ["GET"], of: (s, id) => customerPage(s, id), handle: userProfile },
  {
    edge: "subscribed_apps",
    methods: ["GET", "POST", "DELETE"],
    of: (s, id) => s.pages.get(id),
    handle: subscribedApps,
  },
  { edge: "conversations", methods: ["GET"], of: (s, id) => s.pages.get(id), handle: conversations },
  { edge: "messages", methods: ["GET"], of: (s, id) => s.conversationById(id)?.page, handle: conversationMessages },
];

/** The page a customer wrote to (their PSID is scoped to it). */
const customerPage = (s: GraphState, psid: string) => s.pages.get(s.customers.get(psid)?.page ?? "");

function pageNode({ state, page, fields }: Call): FakeResponse {
  state.calls.metadata++;
  const unknown = fields.find((f) => !PAGE_FIELDS.has(f.name));
  if (unknown) return nonexistingField(unknown.name, "Page");
  const all: Record<string, unknown> = {
    id: page.id,
    name: page.name,
    category: page.category,
    about: `About ${page.name}`,
    link: `https://www.facebook.com/${page.id}`,
    fan_count: 0,
  };
  const asked = fields.length ? fields.map((f) => f.name) : ["id", "name"];
  // Graph leaves out fields the page has no value for.
  return json(Object.fromEntries(asked.filter((f) => all[f] !== undefined).map((f) => [f, all[f]])));
}

function userProfile({ state, id, fields }: Call): FakeResponse {
  state.calls.profiles++;
  const unknown = fields.find((f) => !USER_PROFILE_FIELDS.has(f.name));
  if (unknown) return nonexistingField(unknown.name, "User");
  const profile = state.customers.get(id)!.profile;
  // Some people have no profile available to the app: Meta answers as for an unknown id.
  if (!profile) return unsupportedGet(id);
  const all: Record<string, unknown> = {
    id,
    first_name: profile.first_name,
    last_name: profile.last_name,
    name: `${profile.first_name} ${profile.last_name}`,
    profile_pic: profile.picture ?? undefined,
  };
  const asked = fields.length ? fields.map((f) => f.name) : ["id", "name"];
  return json(Object.fromEntries(asked.filter((f) => all[f] !== undefined).map((f) => [f, all[f]])));
}

function subscribedApps({ state, req, q, page }: Call): FakeResponse {
  if (req.method === "POST") {
    state.calls.subscribe++;
    const asked = (q.get("subscribed_fields") ?? "").split(",").filter(Boolean);
    const unknown = asked.filter((f) => !WEBHOOK_FIELDS.has(f));
    if (!asked.length || unknown.length) {
      return metaError(
        `(#100) Param subscribed_fields must be one of {${[...WEBHOOK_FIELDS].join(", ")}} - got "${unknown[0] ?? ""}"`,
        100,
      );
    }
    page.subscribed = [...new Set([...(page.subscribed ?? []), ...asked])];
    return json({ success: true });
  }
  if (req.method === "DELETE") {
    page.subscribed = null;
    return json({ success: true });
  }
  const app = {
    id: state.opts.appId,
    name: "Sales Bot",
    link: "https://www.facebook.com/games/?app_id=1",
    subscribed_fields: page.subscribed,
  };
  return json({ data: page.subscribed ? [app] : [] });
}

function conversations(call: Call): FakeResponse {
  const { state, url, q, page, fields, token } = call;
  state.calls.conversations++;
  const unknown = fields.find((f) => !CONVERSATION_FIELDS.has(f.name));
  if (unknown) return nonexistingField(unknown.name, "Conversation");
  const messagesSpec = fields.find((f) => f.name === "messages");
  const badMessageField = messagesSpec?.fields?.find((f) => !MESSAGE_FIELDS.has(f.name));
  if (badMessageField) return nonexistingField(badMessageField.name, "Message");
  const limit = Math.min(Number(q.get("limit") ?? 25), MAX_LIMIT);
  const start = decodeCursor(q.get("after"));
  if (start === null) return metaError("Invalid cursor", 100);
  const slice = page.conversations.slice(start, start + limit);
  const end = start + slice.length;
  const nested = (c: FakeConversation, f: FieldSpec) =>
    messagesPage(
      c,
      0,
      Math.min(f.limit ?? 25, MAX_LIMIT),
      f.fields ?? [{ name: "id" }, { name: "created_time" }],
      (after) => {
        const next = new URL(`${url.origin}/${state.opts.version}/${c.id}/messages`);
        next.searchParams.set("access_token", token);
        next.searchParams.set("appsecret_proof", state.proof(token));
        next.searchParams.set("fields", (f.fields ?? []).map((s) => s.name).join(","));
        next.searchParams.set("limit", String(f.limit ?? 25));
        next.searchParams.set("after", after);
        return next.toString();
      },
    );
  return json({
    data: slice.map((c) => {
      const out: Record<string, unknown> = { id: c.id };
      for (const f of fields) {
        if (f.name === "participants") {
          out.participants = {
            data: [
              { id: c.customer, name: "Customer" },
              { id: page.id, name: page.name },
            ],
          };
        }
        if (f.name === "updated_time") out.updated_time = c.messages.at(-1)?.created_time;
        if (f.name === "message_count") out.message_count = c.messages.length;
        if (f.name === "messages") out.messages = nested(c, f);
      }
      return out;
    }),
    paging: {
      cursors: { before: encodeCursor(start), after: encodeCursor(end) },
      ...(end < page.conversations.length ? { next: nextUrl(url, end) } : {}),
    },
  });
}

function conversationMessages({ state, url, q, id, fields }: Call): FakeResponse {
  state.calls.messages++;
  const found = state.conversationById(id)!;
  const bad = fields.find((f) => !MESSAGE_FIELDS.has(f.name));
  if (bad) return nonexistingField(bad.name, "Message");
  const start = decodeCursor(q.get("after"));
  if (start === null) return metaError("Invalid cursor", 100);
  const limit = Math.min(Number(q.get("limit") ?? 25), MAX_LIMIT);
  const asked = fields.length ? fields : [{ name: "id" }, { name: "created_time" }];
  return json(messagesPage(found.conv, start, limit, asked, (after) => nextUrl(url, after)));
}

function messagesPage(
  c: FakeConversation,
  start: number,
  limit: number,
  fields: FieldSpec[],
  next: (after: string) => string,
) {
  // Graph lists messages newest first.
  const ordered = [...c.messages].reverse();
  const slice = ordered.slice(start, start + limit);
  const end = start + slice.length;
  const names = new Set(fields.map((f) => f.name));
  return {
    data: slice.map((m) => {
      const out: Record<string, unknown> = { id: m.id };
      if (names.has("message")) out.message = m.message;
      if (names.has("from")) out.from = { id: m.from, name: m.from === c.customer ? "Customer" : "Page" };
      if (names.has("created_time")) out.created_time = m.created_time;
      if (names.has("attachments") && m.attachments?.length) out.attachments = { data: m.attachments };
      return out;
    }),
    paging: {
      cursors: { before: encodeCursor(start), after: encodeCursor(end) },
      ...(end < ordered.length ? { next: next(encodeCursor(end)) } : {}),
    },
  };
}

/** `oauth/access_token`: a code for a short-lived user token, or that for a long-lived one. */
function accessToken(state: GraphState, q: URLSearchParams): FakeResponse {
  const { opts } = state;
  if (q.get("client_id") !== opts.appId || q.get("client_secret") !== opts.appSecret) {
    return metaError("Error validating client secret.", 1);
  }
  if (q.get("grant_type") === "fb_exchange_token") {
    const grant = state.shortTokens.get(q.get("fb_exchange_token") ?? "");
    if (!grant) return metaError("Invalid OAuth access token.", 190);
    const token = state.newToken("EAAlong");
    state.userTokens.set(token, grant);
    return json({ access_token: token, token_type: "bearer", expires_in: 5183944 });
  }
  const grant = state.codes.get(q.get("code") ?? "");
  if (!grant || !q.get("redirect_uri"))
    return metaError("This authorization code has been used.", 100, { subcode: 36009 });
  if (grant.redirectUri && grant.redirectUri !== q.get("redirect_uri")) {
    return metaError("Error validating verification code. Please make sure your redirect_uri is identical.", 100, {
      subcode: 36008,
    });
  }
  state.codes.delete(q.get("code")!);
  // A new login gives new page tokens for the pages granted (Meta: a page token comes from the
  // user token it was fetched with), so a page whose token died is reachable again.
  for (const id of grant.pages) {
    const page = state.pages.get(id);
    if (!page?.tokenDead) continue;
    page.token = state.newToken("EAApage");
    page.tokenDead = null;
  }
  const token = state.newToken("EAAshort");
  state.shortTokens.set(token, { user: grant.user, pages: grant.pages });
  return json({ access_token: token, token_type: "bearer", expires_in: 3600 });
}

/** `me` and `me/accounts` with a user token. */
function userEdges(state: GraphState, url: URL, path: string, token: string): FakeResponse {
  const q = url.searchParams;
  const grant = state.userTokens.get(token) ?? state.shortTokens.get(token);
  if (!grant) return metaError("Invalid OAuth access token - Cannot parse access token", 190);
  if (path === "me") {
    const user = state.users.get(grant.user);
    const fields = (q.get("fields") ?? "id,name").split(",");
    return json(
      Object.fromEntries(
        fields
          .filter((f) => f === "id" || f === "name")
          .map((f) => [f, f === "id" ? grant.user : (user?.name ?? "Fake User")]),
      ),
    );
  }
  const ids = grant.pages;
  const limit = Math.min(Number(q.get("limit") ?? 25), MAX_LIMIT);
  const start = decodeCursor(q.get("after"));
  if (start === null) return metaError("Invalid cursor", 100);
  const slice = ids.slice(start, start + limit).map((id) => state.pages.get(id)!);
  const end = start + slice.length;
  return json({
    data: slice.map((p) => ({
      id: p.id,
      name: p.name,
      category: p.category,
      access_token: p.token,
      tasks: ["MESSAGING"],
    })),
    paging: {
      cursors: { before: encodeCursor(start), after: encodeCursor(end) },
      ...(end < ids.length ? { next: nextUrl(url, end) } : {}),
    },
  });
}

/** A fault the test asked for, taken before the call is served (null: serve it). */
async function takeFault(state: GraphState): Promise<FakeResponse | null> {
  const fault = state.faults[0];
  if (!fault) return null;
  if (--fault.times <= 0) state.faults.shift();
  if (fault.kind === "throttle") {
    const code = fault.code ?? 4;
    return metaError(THROTTLE[code] ?? THROTTLE[4]!, code, { transient: true });
  }
  if (fault.kind === "500") return metaError("An unknown error occurred", 1, { status: 500, transient: true });
  if (fault.kind === "dead-token")
    return metaError(TOKEN_DEATH[fault.code ?? 460]!, 190, { subcode: fault.code ?? 460 });
  await new Promise((r) => setTimeout(r, fault.delayMs ?? 2000));
  return null;
}

/** One Graph API call: faults, the app's own calls, then the token's and the object's routes. */
async function graphCall(state: GraphState, req: IncomingMessage, url: URL): Promise<FakeResponse> {
  state.calls.total++;
  const prefix = `/${state.opts.version}/`;
  if (!url.pathname.startsWith(prefix)) return unknownPath();
  const path = url.pathname.slice(prefix.length);
  const q = url.searchParams;
  const fault = await takeFault(state);
  if (fault) return fault;
  if (path === "oauth/access_token") return accessToken(state, q);

  const token = q.get("access_token") ?? "";
  if (!token)
    return metaError("An active access token must be used to query information about the current user.", 2500);
  if (q.get("appsecret_proof") !== state.proof(token)) {
    return metaError("Invalid appsecret_proof provided in the API argument", 100);
  }
  if (path === "me" || path === "me/accounts") return userEdges(state, url, path, token);

  const [id = "", edge = "", ...rest] = path.split("/");
  if (rest.length) return unknownPath();
  const candidates = objectRoutes.filter((r) => r.edge === edge);
  const match = candidates.map((r) => ({ route: r, page: r.of(state, id) })).find((m) => m.page);
  if (!match) return candidates.length ? unsupportedGet(id) : unknownPath();
  const page = match.page!;
  if (state.pageByToken(token) !== page)
    return metaError("Invalid OAuth access token - Cannot parse access token", 190);
  if (page.tokenDead) return metaError(TOKEN_DEATH[page.tokenDead]!, 190, { subcode: page.tokenDead });
  state.callsByPage.set(page.id, (state.callsByPage.get(page.id) ?? 0) + 1);
  if (!match.route.methods.includes(req.method ?? "GET")) return unknownPath();
  let fields: FieldSpec[];
  try {
    fields = parseFields(q.get("fields") ?? "");
  } catch (err) {
    return metaError(`(#100) Syntax error in fields: ${String(err)}`, 100);
  }
  return match.route.handle({ state, req, url, q, token, fields, page, id });
}

/** Meta's CDN: the bytes until the URL expires, then 403 (the signature is no longer valid). */
function cdn(state: GraphState, url: URL): FakeResponse {
  const media = state.media.get(url.pathname.slice("/media/".length));
  if (!media) return { status: 404, text: "Not Found" };
  state.calls.media++;
  if (Date.now() >= media.expiresAt) return { status: 403, text: "URL signature expired" };
  state.mediaBytes += media.bytes.byteLength;
  return {
    status: 200,
    text: media.bytes.toString("latin1"),
    binary: true,
    headers: { "content-type": media.contentType, "content-length": String(media.bytes.byteLength) },
    delayMs: media.delayMs,
  };
}

/** Meta's login dialog: the pages of the signed-in user, a "Continue" that grants them. */
function dialog(state: GraphState, url: URL): FakeResponse {
  const q = url.searchParams;
  const html = (status: number, title: string, bodyHtml: string): FakeResponse => ({
    status,
    text: `<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1>${bodyHtml}</body></html>`,
    headers: { "content-type": "text/html; charset=utf-8" },
  });
  const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  if (q.get("client_id") !== state.opts.appId) {
    return html(400, "Error", "<p>Invalid App ID: the app you are trying to log in to does not exist.</p>");
  }
  const redirectUri = q.get("redirect_uri");
  if (!redirectUri || !/^https?:\/\//.test(redirectUri))
    return html(400, "Error", "<p>URL blocked: redirect_uri is missing or invalid.</p>");
  if (!state.users.size && !state.pages.size) {
    // A fresh fake (`npm start -- --fakes`): the signed-in user manages two demo pages.
    for (const [id, name] of [
      ["100000000000001", "Demo Shoe Shop"],
      ["100000000000002", "Demo Hat Shop"],
    ] as const) {
      upsertPage(state, { id, name });
    }
  }
  const user = state.users.get(q.get("user") ?? "") ??
    [...state.users.values()][0] ?? { id: "5000000000001", name: "Fake User", pages: [...state.pages.keys()] };
  if (url.pathname.endsWith("/grant")) {
    const chosen = q.getAll("page").filter((p) => user.pages.includes(p) || state.pages.has(p));
    const target = new URL(redirectUri);
    if (!chosen.length) {
      target.searchParams.set("error", "access_denied");
      target.searchParams.set("error_reason", "user_denied");
      target.searchParams.set("error_description", "Permissions error");
    } else {
      const code = randomBytes(16).toString("hex");
      state.codes.set(code, { user: user.id, pages: chosen, redirectUri });
      target.searchParams.set("code", code);
    }
    if (q.get("state")) target.searchParams.set("state", q.get("state")!);
    return { status: 302, headers: { location: target.toString() }, text: "" };
  }
  const list = (user.pages.length ? user.pages : [...state.pages.keys()])
    .map((id) => state.pages.get(id))
    .filter((p): p is FakePage => p !== undefined)
    .map(
      (p) => `<li><label><input type="checkbox" name="page" value="${esc(p.id)}" checked> ${esc(p.name)}</label></li>`,
    )
    .join("");
  const hidden = ["client_id", "redirect_uri", "state", "scope"]
    .map((k) => `<input type="hidden" name="${k}" value="${esc(q.get(k) ?? "")}">`)
    .join("");
  return html(
    200,
    "Log in with Facebook",
    `<p>${esc(user.name)}, choose the Pages this app may use (${esc(q.get("scope") ?? "")}).</p>` +
      `<form method="get" action="/${state.opts.version}/dialog/oauth/grant">${hidden}<input type="hidden" name="user" value="${esc(user.id)}"><ul>${list}</ul><button type="submit">Continue</button></form>`,
  );
}

function upsertPage(state: GraphState, body: any) {
  const existing = state.pages.get(body.id);
  const page: FakePage = existing ?? {
    id: body.id,
    name: body.name ?? `Page ${body.id}`,
    category: body.category ?? "Shopping & retail",
    token: body.token ?? `EAApage${randomBytes(12).toString("hex")}`,
    tokenDead: null,
    subscribed: body.subscribed ?? null,
    conversations: [],
  };
  if (body.name) page.name = body.name;
  if (body.category) page.category = body.category;
  if (body.subscribed !== undefined) page.subscribed = body.subscribed;
  state.pages.set(page.id, page);
  if (!existing) state.issued.push(page.token);
}

/** Bytes for a media control call: given (base64) or `size` bytes of a repeatable pattern. */
function mediaBytes(body: any): Buffer {
  if (typeof body.base64 === "string") return Buffer.from(body.base64, "base64");
  const size = Number(body.size ?? 1024);
  const out = Buffer.alloc(size);
  let block = createHash("sha256")
    .update(String(body.seed ?? "media"))
    .digest();
  for (let at = 0; at < size; at += block.length) {
    block.copy(out, at);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

/** What tests and scripts tell the fake (`/_control/<name>`): the platform's side of each story. */
const controls: Record<string, (state: GraphState, body: any, url: URL) => FakeResponse> = {
  reset: (state) => {
    state.reset();
    return json({ ok: true });
  },
  pages: (state, body) => {
    for (const p of body.pages ?? []) upsertPage(state, p);
    return json({ ok: true });
  },
  page: (state, body) => {
    upsertPage(state, body);
    return json({ ok: true });
  },
  user: (state, body) => {
    // A Facebook user of the dialog: their app-scoped id and the pages they can grant.
    state.users.set(String(body.id), { id: String(body.id), name: body.name ?? "Fake User", pages: body.pages ?? [] });
    return json({ ok: true });
  },
  code: (state, body) => {
    const code = randomBytes(8).toString("hex");
    const pageIds: string[] = body.pages ?? [];
    // The app-scoped user id: given, or one per set of pages (the same admin logging in again).
    const user = String(body.user ?? `5${(pageIds[0] ?? "0").slice(-15)}`);
    state.codes.set(code, { user, pages: pageIds });
    return json({ code, user });
  },
  customer: (state, body, url) => {
    // A person who writes to a page: a profile (name, and a picture URL that expires), or none.
    let picture: string | null = null;
    if (body.picture) {
      picture = state.addMedia(
        url.origin,
        mediaBytes(body.picture),
        body.picture.content_type ?? "image/jpeg",
        Number(body.picture.ttl_ms ?? 3_600_000),
      );
    }
    const profile =
      body.profile === false
        ? null
        : { first_name: body.first_name ?? "Fake", last_name: body.last_name ?? "Customer", picture };
    state.customers.set(String(body.id), { page: String(body.page), profile });
    return json({ ok: true, picture });
  },
  media: (state, body, url) => {
    // An attachment on Meta's CDN: a URL that serves these bytes until `ttl_ms` has passed.
    const bytes = mediaBytes(body);
    const link = state.addMedia(
      url.origin,
      bytes,
      body.content_type ?? "application/octet-stream",
      Number(body.ttl_ms ?? 3_600_000),
      body.delay_ms === undefined ? undefined : Number(body.delay_ms),
    );
    return json({ url: link, size: bytes.byteLength, sha256: createHash("sha256").update(bytes).digest("hex") });
  },
  "expire-media": (state, body) => {
    // Time passing on the CDN: this URL (or every URL) is past its expiry.
    const id = typeof body.url === "string" ? new URL(body.url).pathname.slice("/media/".length) : null;
    for (const [key, media] of state.media) if (!id || key === id) media.expiresAt = 0;
    return json({ ok: true });
  },
  message: (state, body) => {
    const page = state.pages.get(body.page)!;
    state.addMessage(page, body.customer, {
      id: body.mid,
      message: body.text,
      from: body.fromPage ? page.id : body.customer,
      timestamp: body.timestamp,
      attachments: body.attachments,
    });
    return json({ ok: true });
  },
  history: (state, body) => {
    // A long history in one call: `count` messages alternating customer and page, a minute apart.
    const page = state.pages.get(body.page)!;
    const start = Number(body.start ?? Date.parse("2026-01-01T00:00:00Z"));
    for (let i = 0; i < Number(body.count); i++) {
      state.addMessage(page, body.customer, {
        id: `m_${body.customer}_${i}`,
        message: `history ${i}`,
        from: i % 2 ? page.id : body.customer,
        timestamp: start + i * 60_000,
      });
    }
    return json({ ok: true, messages: page.conversations.find((c) => c.customer === body.customer)?.messages.length });
  },
  delivery: (state, body) => {
    const raw = JSON.stringify(
      buildDelivery(state, (body.events ?? []) as DeliveryEvent[], body.entryPerEvent === true),
    );
    const signature = `sha256=${createHmac("sha256", state.opts.appSecret).update(raw).digest("hex")}`;
    return json({ body: raw, signature });
  },
  unsubscribe: (state, body) => {
    // Meta removing the subscription (after failed deliveries): some fields, or the whole app.
    const page = state.pages.get(body.page)!;
    page.subscribed = body.fields ? (page.subscribed ?? []).filter((f) => !body.fields.includes(f)) : null;
    return json({ ok: true, subscribed: page.subscribed });
  },
  "kill-token": (state, body) => {
    state.pages.get(body.page)!.tokenDead = Number(body.subcode ?? 460);
    return json({ ok: true });
  },
  issued: (state) => json({ tokens: state.issued }),
  faults: (state, body) => {
    state.faults = body.faults ?? [];
    return json({ ok: true });
  },
  state: (state, _body, url) => {
    const id = String(url.searchParams.get("page"));
    const page = state.pages.get(id);
    const customer = url.searchParams.get("customer");
    const conv = page && customer ? page.conversations.find((c) => c.customer === customer) : undefined;
    return json({
      calls: state.calls,
      page_calls: state.callsByPage.get(id) ?? 0,
      subscribed: page?.subscribed ?? null,
      media_bytes: state.mediaBytes,
      ...(conv ? { thread_owner: conv.owner } : {}),
    });
  },
};

export async function startGraphFake(opts: GraphFakeOptions) {
  const state = new GraphState(opts);
  const fake = await listen(async (req, requested, body) => {
    // The URL as the client addressed it (host and port), so `paging.next` links work.
    const url = new URL(`${requested.pathname}${requested.search}`, `http://${req.headers.host ?? "127.0.0.1"}`);
    if (url.pathname.startsWith("/_control/")) {
      const control = controls[url.pathname.slice("/_control/".length)];
      if (!control) return json({ error: "unknown control" }, 404);
      return control(state, body.length ? JSON.parse(body.toString()) : {}, url);
    }
    if (url.pathname.startsWith("/media/")) return cdn(state, url);
    const dialogPath = `/${opts.version}/dialog/oauth`;
    if (url.pathname === dialogPath || url.pathname === `${dialogPath}/grant`) return dialog(state, url);
    return graphCall(state, req, url);
  }, opts.port);
  return { ...fake, pages: state.pages, calls: state.calls, state };
}
