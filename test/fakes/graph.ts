import { createHmac, randomBytes } from "node:crypto";
import { json, listen, type FakeResponse } from "./http";

/**
 * A fake Graph API speaking Meta's formats: `oauth/access_token` (code, then `fb_exchange_token`),
 * `me/accounts` with cursor paging, `{page}/subscribed_apps` (GET, POST), `{page}?fields=`,
 * `{page}/conversations` and `{conversation}/messages` with `paging.cursors`, error objects
 * `{error:{message,type,code,error_subcode,fbtrace_id}}`, and a required `appsecret_proof`.
 */

interface FakePage {
  id: string;
  name: string;
  category: string;
  token: string;
  subscribed: string[] | null;
  conversations: {
    id: string;
    customer: string;
    messages: { id: string; message: string; from: string; created_time: string }[];
  }[];
}

export interface GraphFakeOptions {
  appId: string;
  appSecret: string;
  version: string;
  port?: number;
}

const oauthError = (message: string, code = 190, subcode?: number, status = 400): FakeResponse =>
  json({ error: { message, type: "OAuthException", code, error_subcode: subcode, fbtrace_id: "AbCdEf" } }, status);

export async function startGraphFake(opts: GraphFakeOptions) {
  const pages = new Map<string, FakePage>();
  const codes = new Map<string, string[]>(); // code → page ids
  const shortTokens = new Map<string, string[]>();
  const userTokens = new Map<string, string[]>();
  let faults: { kind: "throttle" | "500" | "dead-token" | "slow"; times: number; delayMs?: number }[] = [];
  const calls = { total: 0, subscribe: 0, metadata: 0, conversations: 0 };
  /** Every token handed out, so a leak check can look for them. */
  const issued: string[] = [];

  const pageByToken = (token: string) => [...pages.values()].find((p) => p.token === token);

  const fake = await listen(async (req, url, body) => {
    if (url.pathname.startsWith("/_control/")) return control(url, body.length ? JSON.parse(body.toString()) : {});
    calls.total++;
    const prefix = `/${opts.version}/`;
    if (!url.pathname.startsWith(prefix)) return oauthError("Unknown path components", 2500, undefined, 400);
    const path = url.pathname.slice(prefix.length);
    const q = url.searchParams;
    const fault = faults[0];
    if (fault) {
      if (--fault.times <= 0) faults.shift();
      if (fault.kind === "throttle")
        return json(
          {
            error: {
              message: "(#4) Application request limit reached",
              type: "OAuthException",
              code: 4,
              is_transient: true,
              fbtrace_id: "x",
            },
          },
          400,
        );
      if (fault.kind === "500")
        return json(
          { error: { message: "An unknown error occurred", type: "OAuthException", code: 1, is_transient: true } },
          500,
        );
      if (fault.kind === "dead-token")
        return oauthError(
          "Error validating access token: The session has been invalidated because the user changed their password.",
          190,
          460,
        );
      if (fault.kind === "slow") await new Promise((r) => setTimeout(r, fault.delayMs ?? 2000));
    }

    if (path === "oauth/access_token") {
      if (q.get("client_id") !== opts.appId || q.get("client_secret") !== opts.appSecret) {
        return oauthError("Error validating client secret.", 1, undefined, 400);
      }
      if (q.get("grant_type") === "fb_exchange_token") {
        const pageIds = shortTokens.get(q.get("fb_exchange_token") ?? "");
        if (!pageIds) return oauthError("Invalid OAuth access token.", 190);
        const token = `EAAlong${randomBytes(12).toString("hex")}`;
        userTokens.set(token, pageIds);
        issued.push(token);
        return json({ access_token: token, token_type: "bearer", expires_in: 5183944 });
      }
      const pageIds = codes.get(q.get("code") ?? "");
      if (!pageIds || !q.get("redirect_uri")) return oauthError("This authorization code has been used.", 100, 36009);
      codes.delete(q.get("code")!);
      const token = `EAAshort${randomBytes(12).toString("hex")}`;
      shortTokens.set(token, pageIds);
      issued.push(token);
      return json({ access_token: token, token_type: "bearer", expires_in: 3600 });
    }

    const token = q.get("access_token") ?? "";
    const proof = createHmac("sha256", opts.appSecret).update(token).digest("hex");
    if (!token)
      return oauthError("An active access token must be used to query information about the current user.", 2500);
    if (q.get("appsecret_proof") !== proof)
      return oauthError("Invalid appsecret_proof provided in the API argument", 100, undefined, 400);

    if (path === "me/accounts") {
      const ids = userTokens.get(token);
      if (!ids) return oauthError("Invalid OAuth access token.", 190);
      const limit = Number(q.get("limit") ?? 25);
      const start = q.get("after") ? Number(Buffer.from(q.get("after")!, "base64").toString()) : 0;
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
          cursors: {
            before: Buffer.from(String(start)).toString("base64"),
            after: Buffer.from(String(end)).toString("base64"),
          },
          ...(end < ids.length
            ? { next: `${url.origin}${url.pathname}?after=${Buffer.from(String(end)).toString("base64")}` }
            : {}),
        },
      });
    }

    const [id, edge] = path.split("/");
    const page = pages.get(id ?? "") ?? [...pages.values()].find((p) => p.conversations.some((c) => c.id === id));
    if (!page)
      return json(
        {
          error: {
            message: `Unsupported get request. Object with ID '${id}' does not exist`,
            type: "GraphMethodException",
            code: 100,
            error_subcode: 33,
          },
        },
        400,
      );
    if (pageByToken(token) !== page) return oauthError("Invalid OAuth access token - Cannot parse access token", 190);

    if (edge === "subscribed_apps") {
      if (req.method === "POST") {
        calls.subscribe++;
        page.subscribed = (q.get("subscribed_fields") ?? "").split(",");
        return json({ success: true });
      }
      return json({
        data: page.subscribed ? [{ id: opts.appId, name: "Sales Bot", subscribed_fields: page.subscribed }] : [],
      });
    }
    if (edge === "conversations") {
      calls.conversations++;
      const limit = Number(q.get("limit") ?? 25);
      const start = q.get("after") ? Number(Buffer.from(q.get("after")!, "base64").toString()) : 0;
      const slice = page.conversations.slice(start, start + limit);
      const end = start + slice.length;
      const msgLimit = Number(/messages\.limit\((\d+)\)/.exec(q.get("fields") ?? "")?.[1] ?? 25);
      return json({
        data: slice.map((c) => ({
          id: c.id,
          participants: {
            data: [
              { id: c.customer, name: "Customer" },
              { id: page.id, name: page.name },
            ],
          },
          messages: messagesPage(c, 0, msgLimit, url.origin),
        })),
        paging: {
          cursors: { after: Buffer.from(String(end)).toString("base64") },
          ...(end < page.conversations.length ? { next: `${url.origin}/next` } : {}),
        },
      });
    }
    if (edge === "messages") {
      const conv = page.conversations.find((c) => c.id === id)!;
      const start = q.get("after") ? Number(Buffer.from(q.get("after")!, "base64").toString()) : 0;
      return json(messagesPage(conv, start, Number(q.get("limit") ?? 25), url.origin));
    }
    if (!edge) {
      calls.metadata++;
      return json({
        id: page.id,
        name: page.name,
        category: page.category,
        about: `About ${page.name}`,
        link: `https://www.facebook.com/${page.id}`,
      });
    }
    return oauthError("Unknown path components", 2500);
  }, opts.port);

  function messagesPage(c: FakePage["conversations"][number], start: number, limit: number, origin: string) {
    // Graph lists messages newest first.
    const ordered = [...c.messages].reverse();
    const slice = ordered.slice(start, start + limit);
    const end = start + slice.length;
    return {
      data: slice.map((m) => ({ id: m.id, message: m.message, from: { id: m.from }, created_time: m.created_time })),
      paging: {
        cursors: { after: Buffer.from(String(end)).toString("base64") },
        ...(end < ordered.length ? { next: `${origin}/next` } : {}),
      },
    };
  }

  function control(url: URL, body: any): FakeResponse {
    switch (url.pathname) {
      case "/_control/reset":
        pages.clear();
        codes.clear();
        faults = [];
        Object.assign(calls, { total: 0, subscribe: 0, metadata: 0, conversations: 0 });
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
          subscribed: body.subscribed ?? null,
          conversations: [],
        };
        if (body.name) page.name = body.name;
        if (body.category) page.category = body.category;
        pages.set(page.id, page);
        if (!existing) issued.push(page.token);
        return json({ ok: true });
      }
      case "/_control/code": {
        const code = randomBytes(8).toString("hex");
        codes.set(code, body.pages ?? []);
        return json({ code });
      }
      case "/_control/message": {
        const page = pages.get(body.page)!;
        let conv = page.conversations.find((c) => c.customer === body.customer);
        if (!conv) {
          conv = { id: `t_${body.page}_${body.customer}`, customer: body.customer, messages: [] };
          page.conversations.push(conv);
        }
        conv.messages.push({
          id: body.mid,
          message: body.text,
          from: body.fromPage ? page.id : body.customer,
          created_time: new Date(body.timestamp).toISOString().replace(".000Z", "+0000"),
        });
        return json({ ok: true });
      }
      case "/_control/issued":
        return json({ tokens: issued });
      case "/_control/faults":
        faults = body.faults ?? [];
        return json({ ok: true });
      case "/_control/state": {
        const page = pages.get(String(url.searchParams.get("page")));
        return json({ calls, subscribed: page?.subscribed ?? null, token: undefined });
      }
      default:
        return json({ error: "unknown control" }, 404);
    }
  }

  return { ...fake, pages, calls };
}
