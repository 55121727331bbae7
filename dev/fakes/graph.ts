import { createHmac, randomBytes } from "node:crypto";
import { json, listen, type FakeResponse } from "./http";

/**
 * A fake Graph API that executes and refuses as Meta documents it (Graph API reference, Messenger
 * Platform webhooks):
 * - `oauth/access_token` (code, then `fb_exchange_token`), `GET /me` (the app-scoped user id),
 *   `me/accounts` with cursor paging; a required `appsecret_proof` on every call with a token.
 * - `GET /{page}?fields=`: only fields of the Page reference; any other is error #100 with Meta's
 *   error shape, and only the fields asked for are answered.
 * - `{page}/conversations` and `{conversation}/messages`: field expansion (`messages.limit(n){...}`),
 *   newest first, `attachments`, cursor paging whose `paging.next` is a working URL.
 * - `{page}/subscribed_apps`: GET, POST (fields checked against Meta's page webhook fields, added
 *   to what is there), and removal from the platform's side (`/_control/unsubscribe`), as Meta does
 *   after failed deliveries.
 * - Errors: 190 with subcodes 458/460/463/467 for dead tokens, throttling 4/17/32/613 (`faults`);
 *   a page token that died (`/_control/kill-token`) answers 190 until a new login grants the page.
 * - The login dialog for a browser: `GET /{version}/dialog/oauth` lists the pages to grant and
 *   "Continue" redirects to `redirect_uri` with `code` and `state`.
 * - Webhook deliveries as Meta sends them (`/_control/delivery`): events recorded in the page's
 *   history (so a poll sees them), echoes with `app_id`, batched in entries, signed
 *   `X-Hub-Signature-256` over the exact body.
 */

interface FakeMessage {
  id: string;
  message: string;
  from: string;
  created_time: string;
  attachments?: {
    id: string;
    mime_type: string;
    name: string;
    size: number;
    file_url?: string;
    image_data?: unknown;
  }[];
}

interface FakeConversation {
  id: string;
  customer: string;
  messages: FakeMessage[];
}

interface FakePage {
  id: string;
  name: string;
  category: string;
  token: string;
  /** Subcode of Meta's error 190 once the page token died (password change, admin removed, ...). */
  tokenDead: number | null;
  subscribed: string[] | null;
  conversations: FakeConversation[];
}

interface FakeUser {
  id: string;
  name: string;
  pages: string[];
}

export interface GraphFakeOptions {
  appId: string;
  appSecret: string;
  version: string;
  port?: number;
}

/** Fields of the Page node (Graph API reference, Page), the ones a client may ask for. */
const PAGE_FIELDS = new Set([
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
const WEBHOOK_FIELDS = new Set([
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

const MESSAGE_FIELDS = new Set(["id", "message", "from", "to", "created_time", "attachments", "sticker", "tags"]);
const CONVERSATION_FIELDS = new Set(["id", "participants", "messages", "updated_time", "message_count", "link"]);
/** The largest page Graph serves on these edges; a larger `limit` gets this many. */
const MAX_LIMIT = 100;

const metaError = (
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

const TOKEN_DEATH: Record<number, string> = {
  458: "Error validating access token: The user has not authorized application.",
  460: "Error validating access token: The session has been invalidated because the user changed their password.",
  463: "Error validating access token: Session has expired.",
  467: "Error validating access token: The access token is invalid.",
};

const THROTTLE: Record<number, string> = {
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
  const out: FieldSpec[] = [];
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
  out.push(...parseList());
  if (i !== text.length) throw new Error(`unexpected ${text[i]} at ${i}`);
  return out;
}

const encodeCursor = (n: number) => Buffer.from(`cursor:${n}`).toString("base64url");
const decodeCursor = (c: string | null): number | null => {
  if (!c) return 0;
  const m = /^cursor:(\d+)$/.exec(Buffer.from(c, "base64url").toString());
  return m ? Number(m[1]) : null;
};
const graphTime = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "+0000");

export async function startGraphFake(opts: GraphFakeOptions) {
  const pages = new Map<string, FakePage>();
  const users = new Map<string, FakeUser>();
  const codes = new Map<string, { user: string; pages: string[]; redirectUri?: string }>();
  const shortTokens = new Map<string, { user: string; pages: string[] }>();
  const userTokens = new Map<string, { user: string; pages: string[] }>();
  let faults: { kind: "throttle" | "500" | "dead-token" | "slow"; times: number; delayMs?: number; code?: number }[] =
    [];
  const calls = { total: 0, subscribe: 0, metadata: 0, conversations: 0, messages: 0 };
  /** Graph calls per page (every call made with that page's token), for the bench. */
  const callsByPage = new Map<string, number>();
  /** Every token handed out, so a leak check can look for them. */
  const issued: string[] = [];
  let midSeq = 0;

  const pageByToken = (token: string) => [...pages.values()].find((p) => p.token === token);
  const conversationById = (id: string) => {
    for (const page of pages.values()) {
      const conv = page.conversations.find((c) => c.id === id);
      if (conv) return { page, conv };
    }
    return null;
  };

  const fake = await listen(async (req, requested, body) => {
    // The URL as the client addressed it (host and port), so `paging.next` links work.
    const url = new URL(`${requested.pathname}${requested.search}`, `http://${req.headers.host ?? "127.0.0.1"}`);
    if (url.pathname.startsWith("/_control/")) return control(url, body.length ? JSON.parse(body.toString()) : {});
    const prefix = `/${opts.version}/`;
    if (url.pathname === `${prefix}dialog/oauth` || url.pathname === `${prefix}dialog/oauth/grant`) {
      return dialog(url);
    }
    calls.total++;
    if (!url.pathname.startsWith(prefix)) return metaError("Unknown path components", 2500);
    const path = url.pathname.slice(prefix.length);
    const q = url.searchParams;
    const fault = faults[0];
    if (fault) {
      if (--fault.times <= 0) faults.shift();
      if (fault.kind === "throttle") {
        const code = fault.code ?? 4;
        return metaError(THROTTLE[code] ?? THROTTLE[4]!, code, { transient: true });
      }
      if (fault.kind === "500") return metaError("An unknown error occurred", 1, { status: 500, transient: true });
      if (fault.kind === "dead-token")
        return metaError(TOKEN_DEATH[fault.code ?? 460]!, 190, { subcode: fault.code ?? 460 });
      if (fault.kind === "slow") await new Promise((r) => setTimeout(r, fault.delayMs ?? 2000));
    }

    if (path === "oauth/access_token") {
      if (q.get("client_id") !== opts.appId || q.get("client_secret") !== opts.appSecret) {
        return metaError("Error validating client secret.", 1);
      }
      if (q.get("grant_type") === "fb_exchange_token") {
        const grant = shortTokens.get(q.get("fb_exchange_token") ?? "");
        if (!grant) return metaError("Invalid OAuth access token.", 190);
        const token = `EAAlong${randomBytes(12).toString("hex")}`;
        userTokens.set(token, grant);
        issued.push(token);
        return json({ access_token: token, token_type: "bearer", expires_in: 5183944 });
      }
      const grant = codes.get(q.get("code") ?? "");
      if (!grant || !q.get("redirect_uri"))
        return metaError("This authorization code has been used.", 100, { subcode: 36009 });
      if (grant.redirectUri && grant.redirectUri !== q.get("redirect_uri")) {
        return metaError("Error validating verification code. Please make sure your redirect_uri is identical.", 100, {
          subcode: 36008,
        });
      }
      codes.delete(q.get("code")!);
      // A new login gives new page tokens for the pages granted (Meta: a page token comes from the
      // user token it was fetched with), so a page whose token died is reachable again.
      for (const id of grant.pages) {
        const page = pages.get(id);
        if (!page?.tokenDead) continue;
        page.token = `EAApage${randomBytes(12).toString("hex")}`;
        page.tokenDead = null;
        issued.push(page.token);
      }
      const token = `EAAshort${randomBytes(12).toString("hex")}`;
      shortTokens.set(token, { user: grant.user, pages: grant.pages });
      issued.push(token);
      return json({ access_token: token, token_type: "bearer", expires_in: 3600 });
    }

    const token = q.get("access_token") ?? "";
    const proof = createHmac("sha256", opts.appSecret).update(token).digest("hex");
    if (!token)
      return metaError("An active access token must be used to query information about the current user.", 2500);
    if (q.get("appsecret_proof") !== proof)
      return metaError("Invalid appsecret_proof provided in the API argument", 100);

    if (path === "me" || path === "me/accounts") {
      const grant = userTokens.get(token) ?? shortTokens.get(token);
      if (!grant) return metaError("Invalid OAuth access token - Cannot parse access token", 190);
      if (path === "me") {
        const user = users.get(grant.user);
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
      const slice = ids.slice(start, start + limit).map((id) => pages.get(id)!);
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

    const [id, edge, ...rest] = path.split("/");
    if (rest.length) return metaError("Unknown path components", 2500);
    const found = pages.get(id ?? "") ?? conversationById(id ?? "")?.page;
    if (!found) {
      return metaError(
        `Unsupported get request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
        100,
        { subcode: 33, type: "GraphMethodException" },
      );
    }
    const page = found;
    if (pageByToken(token) !== page) return metaError("Invalid OAuth access token - Cannot parse access token", 190);
    if (page.tokenDead) return metaError(TOKEN_DEATH[page.tokenDead]!, 190, { subcode: page.tokenDead });
    callsByPage.set(page.id, (callsByPage.get(page.id) ?? 0) + 1);

    let fields: FieldSpec[];
    try {
      fields = parseFields(q.get("fields") ?? "");
    } catch (err) {
      return metaError(`(#100) Syntax error in fields: ${String(err)}`, 100);
    }

    if (edge === "subscribed_apps" && id === page.id) {
      if (req.method === "POST") {
        calls.subscribe++;
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
      return json({
        data: page.subscribed
          ? [
              {
                id: opts.appId,
                name: "Sales Bot",
                link: "https://www.facebook.com/games/?app_id=1",
                subscribed_fields: page.subscribed,
              },
            ]
          : [],
      });
    }
    if (edge === "conversations" && id === page.id) {
      calls.conversations++;
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
            if (f.name === "messages") {
              out.messages = messagesPage(
                c,
                0,
                Math.min(f.limit ?? 25, MAX_LIMIT),
                f.fields ?? [{ name: "id" }, { name: "created_time" }],
                (after) => {
                  const next = new URL(`${url.origin}/${opts.version}/${c.id}/messages`);
                  next.searchParams.set("access_token", token);
                  next.searchParams.set("appsecret_proof", proof);
                  next.searchParams.set("fields", (f.fields ?? []).map((s) => s.name).join(","));
                  next.searchParams.set("limit", String(f.limit ?? 25));
                  next.searchParams.set("after", after);
                  return next.toString();
                },
              );
            }
          }
          return out;
        }),
        paging: {
          cursors: { before: encodeCursor(start), after: encodeCursor(end) },
          ...(end < page.conversations.length ? { next: nextUrl(url, end) } : {}),
        },
      });
    }
    if (edge === "messages") {
      calls.messages++;
      const found = conversationById(id ?? "");
      if (!found) return metaError("Unknown path components", 2500);
      const bad = fields.find((f) => !MESSAGE_FIELDS.has(f.name));
      if (bad) return nonexistingField(bad.name, "Message");
      const start = decodeCursor(q.get("after"));
      if (start === null) return metaError("Invalid cursor", 100);
      const limit = Math.min(Number(q.get("limit") ?? 25), MAX_LIMIT);
      return json(
        messagesPage(
          found.conv,
          start,
          limit,
          fields.length ? fields : [{ name: "id" }, { name: "created_time" }],
          (after) => nextUrl(url, after),
        ),
      );
    }
    if (!edge && id === page.id) {
      calls.metadata++;
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
    return metaError("Unknown path components", 2500);
  }, opts.port);

  function nonexistingField(field: string, node: string): FakeResponse {
    return metaError(`(#100) Tried accessing nonexisting field (${field}) on node type (${node})`, 100);
  }

  function nextUrl(url: URL, after: number | string): string {
    const next = new URL(url.toString());
    next.searchParams.set("after", typeof after === "number" ? encodeCursor(after) : after);
    return next.toString();
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

  /** Meta's login dialog: the pages of the signed-in user, a "Continue" that grants them. */
  function dialog(url: URL): FakeResponse {
    const q = url.searchParams;
    const html = (status: number, title: string, bodyHtml: string): FakeResponse => ({
      status,
      text: `<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1>${bodyHtml}</body></html>`,
      headers: { "content-type": "text/html; charset=utf-8" },
    });
    const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
    if (q.get("client_id") !== opts.appId) {
      return html(400, "Error", "<p>Invalid App ID: the app you are trying to log in to does not exist.</p>");
    }
    const redirectUri = q.get("redirect_uri");
    if (!redirectUri || !/^https?:\/\//.test(redirectUri))
      return html(400, "Error", "<p>URL blocked: redirect_uri is missing or invalid.</p>");
    if (!users.size && !pages.size) {
      // A fresh fake (`npm start -- --fakes`): the signed-in user manages two demo pages.
      for (const [id, name] of [
        ["100000000000001", "Demo Shoe Shop"],
        ["100000000000002", "Demo Hat Shop"],
      ] as const) {
        control(new URL(`${url.origin}/_control/page`), { id, name });
      }
    }
    const user = users.get(q.get("user") ?? "") ??
      [...users.values()][0] ?? { id: "5000000000001", name: "Fake User", pages: [...pages.keys()] };
    if (url.pathname.endsWith("/grant")) {
      const chosen = q.getAll("page").filter((p) => user.pages.includes(p) || pages.has(p));
      const target = new URL(redirectUri);
      if (!chosen.length) {
        target.searchParams.set("error", "access_denied");
        target.searchParams.set("error_reason", "user_denied");
        target.searchParams.set("error_description", "Permissions error");
      } else {
        const code = randomBytes(16).toString("hex");
        codes.set(code, { user: user.id, pages: chosen, redirectUri });
        target.searchParams.set("code", code);
      }
      if (q.get("state")) target.searchParams.set("state", q.get("state")!);
      return { status: 302, headers: { location: target.toString() }, text: "" };
    }
    const list = (user.pages.length ? user.pages : [...pages.keys()])
      .map((id) => pages.get(id))
      .filter((p): p is FakePage => p !== undefined)
      .map(
        (p) =>
          `<li><label><input type="checkbox" name="page" value="${esc(p.id)}" checked> ${esc(p.name)}</label></li>`,
      )
      .join("");
    const hidden = ["client_id", "redirect_uri", "state", "scope"]
      .map((k) => `<input type="hidden" name="${k}" value="${esc(q.get(k) ?? "")}">`)
      .join("");
    return html(
      200,
      "Log in with Facebook",
      `<p>${esc(user.name)}, choose the Pages this app may use (${esc(q.get("scope") ?? "")}).</p>` +
        `<form method="get" action="/${opts.version}/dialog/oauth/grant">${hidden}<input type="hidden" name="user" value="${esc(user.id)}"><ul>${list}</ul><button type="submit">Continue</button></form>`,
    );
  }

  function addMessage(page: FakePage, customer: string, m: Omit<FakeMessage, "created_time"> & { timestamp: number }) {
    let conv = page.conversations.find((c) => c.customer === customer);
    if (!conv) {
      conv = { id: `t_${page.id}_${customer}`, customer, messages: [] };
      page.conversations.push(conv);
    }
    if (conv.messages.some((x) => x.id === m.id)) return conv;
    conv.messages.push({
      id: m.id,
      message: m.message,
      from: m.from,
      created_time: graphTime(m.timestamp),
      attachments: m.attachments,
    });
    return conv;
  }

  function control(url: URL, body: any): FakeResponse {
    switch (url.pathname) {
      case "/_control/reset":
        pages.clear();
        users.clear();
        codes.clear();
        callsByPage.clear();
        faults = [];
        Object.assign(calls, { total: 0, subscribe: 0, metadata: 0, conversations: 0, messages: 0 });
        return json({ ok: true });
      case "/_control/pages": {
        for (const p of body.pages ?? []) control(new URL(`${url.origin}/_control/page`), p);
        return json({ ok: true });
      }
      case "/_control/page": {
        const existing = pages.get(body.id);
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
        pages.set(page.id, page);
        if (!existing) issued.push(page.token);
        return json({ ok: true });
      }
      case "/_control/user": {
        // A Facebook user of the dialog: their app-scoped id and the pages they can grant.
        users.set(String(body.id), { id: String(body.id), name: body.name ?? "Fake User", pages: body.pages ?? [] });
        return json({ ok: true });
      }
      case "/_control/code": {
        const code = randomBytes(8).toString("hex");
        const pageIds: string[] = body.pages ?? [];
        // The app-scoped user id: given, or one per set of pages (the same admin logging in again).
        const user = String(body.user ?? `5${(pageIds[0] ?? "0").slice(-15)}`);
        codes.set(code, { user, pages: pageIds });
        return json({ code, user });
      }
      case "/_control/message": {
        const page = pages.get(body.page)!;
        addMessage(page, body.customer, {
          id: body.mid,
          message: body.text,
          from: body.fromPage ? page.id : body.customer,
          timestamp: body.timestamp,
          attachments: body.attachments,
        });
        return json({ ok: true });
      }
      case "/_control/history": {
        // A long history in one call: `count` messages alternating customer and page, a minute apart.
        const page = pages.get(body.page)!;
        const start = Number(body.start ?? Date.parse("2026-01-01T00:00:00Z"));
        for (let i = 0; i < Number(body.count); i++) {
          addMessage(page, body.customer, {
            id: `m_${body.customer}_${i}`,
            message: `history ${i}`,
            from: i % 2 ? page.id : body.customer,
            timestamp: start + i * 60_000,
          });
        }
        return json({
          ok: true,
          messages: page.conversations.find((c) => c.customer === body.customer)?.messages.length,
        });
      }
      case "/_control/delivery": {
        // A webhook delivery as Meta sends it: each event also lands in the page's history.
        const entries = new Map<string, { id: string; time: number; messaging: unknown[] }>();
        for (const e of body.events ?? []) {
          const page = pages.get(e.page)!;
          const timestamp = Number(e.timestamp ?? Date.now());
          const mid = e.mid ?? `m_${randomBytes(9).toString("base64url")}_${++midSeq}`;
          let event: Record<string, unknown>;
          const customer = { id: e.customer };
          const self = { id: page.id };
          if (e.kind === "echo") {
            addMessage(page, e.customer, { id: mid, message: e.text ?? "", from: page.id, timestamp });
            event = {
              sender: self,
              recipient: customer,
              timestamp,
              message: { mid, text: e.text, is_echo: true, app_id: Number(opts.appId), metadata: e.metadata },
            };
          } else if (e.kind === "postback") {
            event = {
              sender: customer,
              recipient: self,
              timestamp,
              postback: { mid, title: e.title, payload: e.payload },
            };
          } else if (e.kind === "edit") {
            const conv = page.conversations.find((c) => c.customer === e.customer);
            const m = conv?.messages.find((x) => x.id === e.mid);
            if (m) m.message = e.text;
            event = {
              sender: customer,
              recipient: self,
              timestamp,
              message_edit: { mid: e.mid, text: e.text, num_edit: e.num_edit ?? 1 },
            };
          } else if (e.kind === "reaction") {
            event = {
              sender: customer,
              recipient: self,
              timestamp,
              reaction: { mid: e.mid, action: "react", emoji: "❤", reaction: "love" },
            };
          } else if (e.kind === "read") {
            event = { sender: customer, recipient: self, timestamp, read: { watermark: timestamp } };
          } else if (e.kind === "delivery") {
            event = { sender: customer, recipient: self, timestamp, delivery: { mids: [e.mid], watermark: timestamp } };
          } else {
            addMessage(page, e.customer, {
              id: mid,
              message: e.text ?? "",
              from: e.customer,
              timestamp,
              attachments: e.attachments,
            });
            event = {
              sender: customer,
              recipient: self,
              timestamp,
              message: { mid, text: e.text, ...(e.attachments ? { attachments: e.attachments } : {}) },
            };
          }
          // One entry per page and event time batch; `entryPerEvent` makes one entry each (Meta's large batches).
          const key = body.entryPerEvent ? `${page.id}:${entries.size}` : page.id;
          const entry = entries.get(key) ?? { id: page.id, time: timestamp, messaging: [] };
          entry.messaging.push(event);
          entries.set(key, entry);
        }
        const raw = JSON.stringify({ object: "page", entry: [...entries.values()] });
        const signature = `sha256=${createHmac("sha256", opts.appSecret).update(raw).digest("hex")}`;
        return json({ body: raw, signature });
      }
      case "/_control/unsubscribe": {
        // Meta removing the subscription (after failed deliveries): some fields, or the whole app.
        const page = pages.get(body.page)!;
        page.subscribed = body.fields ? (page.subscribed ?? []).filter((f) => !body.fields.includes(f)) : null;
        return json({ ok: true, subscribed: page.subscribed });
      }
      case "/_control/kill-token": {
        const page = pages.get(body.page)!;
        page.tokenDead = Number(body.subcode ?? 460);
        return json({ ok: true });
      }
      case "/_control/issued":
        return json({ tokens: issued });
      case "/_control/faults":
        faults = body.faults ?? [];
        return json({ ok: true });
      case "/_control/state": {
        const id = String(url.searchParams.get("page"));
        const page = pages.get(id);
        return json({
          calls,
          page_calls: callsByPage.get(id) ?? 0,
          subscribed: page?.subscribed ?? null,
          token: undefined,
        });
      }
      default:
        return json({ error: "unknown control" }, 404);
    }
  }

  return { ...fake, pages, calls };
}
