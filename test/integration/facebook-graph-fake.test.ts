import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { toHex } from "../../src/lib/encoding";
import { hmacSha256 } from "../../src/lib/signatures";
import { GRAPH_VERSION, TEST_SECRETS } from "../env";
import { control, resetFaults, uniqueId } from "../helpers";

/** The Graph fake answers as Meta documents; these pin the behaviours the worker relies on. */

const graphUrl = async (path: string, params: Record<string, string>, token?: string) => {
  const url = new URL(`${env.FAKE_GRAPH}/${GRAPH_VERSION}/${path}`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  if (token) {
    url.searchParams.set("access_token", token);
    url.searchParams.set("appsecret_proof", toHex(await hmacSha256(TEST_SECRETS.FACEBOOK_APP_SECRET, token)));
  }
  return url.toString();
};

async function newPage() {
  const id = uniqueId();
  const token = `EAAtestpage${id}`;
  await control("graph", "page", { id, token, name: `Fake ${id}` });
  return { id, token };
}

describe("Graph fake", () => {
  it("an unknown Page field is error #100 in Meta's shape; known fields are answered, only those", async () => {
    const { id, token } = await newPage();
    const bad = await fetch(await graphUrl(id, { fields: "id,name,bogus_field" }, token));
    expect(bad.status).toBe(400);
    const { error } = await bad.json<any>();
    expect(error).toMatchObject({
      message: "(#100) Tried accessing nonexisting field (bogus_field) on node type (Page)",
      type: "OAuthException",
      code: 100,
    });
    expect(typeof error.fbtrace_id).toBe("string");
    const good = await (await fetch(await graphUrl(id, { fields: "id,name" }, token))).json<any>();
    expect(good).toEqual({ id, name: `Fake ${id}` });
  });

  it("a missing appsecret_proof is refused", async () => {
    const { id, token } = await newPage();
    const res = await fetch(`${env.FAKE_GRAPH}/${GRAPH_VERSION}/${id}?fields=id&access_token=${token}`);
    expect((await res.json<any>()).error.code).toBe(100);
  });

  it("GET /me answers the app-scoped id of the user who logged in", async () => {
    const page = await newPage();
    const user = uniqueId();
    const { code } = await control("graph", "code", { pages: [page.id], user });
    const short = await (
      await fetch(
        await graphUrl("oauth/access_token", {
          client_id: TEST_SECRETS.FACEBOOK_APP_ID,
          client_secret: TEST_SECRETS.FACEBOOK_APP_SECRET,
          redirect_uri: "https://worker.test/facebook/callback",
          code,
        }),
      )
    ).json<any>();
    const me = await (await fetch(await graphUrl("me", { fields: "id" }, short.access_token))).json<any>();
    expect(me).toEqual({ id: user });
  });

  it("messages page newest first with cursors whose paging.next works, attachments when asked for", async () => {
    const { id, token } = await newPage();
    const customer = uniqueId();
    await control("graph", "history", { page: id, customer, count: 250 });
    await control("graph", "message", {
      page: id,
      customer,
      mid: "m_att",
      text: "",
      timestamp: Date.parse("2027-01-01T00:00:00Z"),
      attachments: [{ id: "a1", mime_type: "image/png", name: "x.png", size: 3 }],
    });
    const list = await (
      await fetch(
        await graphUrl(
          `${id}/conversations`,
          { platform: "messenger", fields: "participants,messages.limit(100){id,created_time,attachments}" },
          token,
        ),
      )
    ).json<any>();
    const conv = list.data[0];
    expect(conv.participants.data.map((p: any) => p.id)).toEqual([customer, id]);
    expect(conv.messages.data[0]).toEqual({
      id: "m_att",
      created_time: "2027-01-01T00:00:00+0000",
      attachments: { data: [{ id: "a1", mime_type: "image/png", name: "x.png", size: 3 }] },
    });
    const seen = [...conv.messages.data.map((m: any) => m.id)];
    let next: string | undefined = conv.messages.paging.next;
    while (next) {
      const more = await (await fetch(next)).json<any>();
      seen.push(...more.data.map((m: any) => m.id));
      next = more.paging.next;
    }
    expect(seen).toHaveLength(251);
    expect(new Set(seen).size).toBe(251);
    const unknown = await fetch(
      await graphUrl(`${id}/conversations`, { fields: "participants,messages{id,bogus}" }, token),
    );
    expect((await unknown.json<any>()).error.message).toBe(
      "(#100) Tried accessing nonexisting field (bogus) on node type (Message)",
    );
  });

  it("subscribed_apps: unknown fields refused, fields added, removable from the platform's side", async () => {
    const { id, token } = await newPage();
    const badUrl = await graphUrl(`${id}/subscribed_apps`, { subscribed_fields: "messages,not_a_field" }, token);
    expect((await (await fetch(badUrl, { method: "POST" })).json<any>()).error.code).toBe(100);
    const url = await graphUrl(`${id}/subscribed_apps`, { subscribed_fields: "messages,message_echoes" }, token);
    expect(await (await fetch(url, { method: "POST" })).json<any>()).toEqual({ success: true });
    const listed = async () =>
      (await (await fetch(await graphUrl(`${id}/subscribed_apps`, {}, token))).json<any>()).data;
    expect((await listed())[0]).toMatchObject({
      id: TEST_SECRETS.FACEBOOK_APP_ID,
      subscribed_fields: ["messages", "message_echoes"],
    });
    await control("graph", "unsubscribe", { page: id });
    expect(await listed()).toEqual([]);
  });

  it("dead tokens are error 190 with Meta's subcodes; throttling uses codes 4, 17, 32 and 613", async () => {
    const { id, token } = await newPage();
    for (const code of [4, 17, 32, 613]) {
      await control("graph", "faults", { faults: [{ kind: "throttle", times: 1, code }] });
      const { error } = await (await fetch(await graphUrl(id, { fields: "id" }, token))).json<any>();
      expect(error.code).toBe(code);
      expect(error.message).toContain(`(#${code})`);
    }
    await control("graph", "kill-token", { page: id, subcode: 463 });
    const { error } = await (await fetch(await graphUrl(id, { fields: "id" }, token))).json<any>();
    expect(error).toMatchObject({ code: 190, error_subcode: 463, type: "OAuthException" });
    await resetFaults();
  });

  it("the login dialog lists the pages, Continue redirects with code and state; an unknown app gets an error page", async () => {
    const page = await newPage();
    const user = uniqueId();
    await control("graph", "user", { id: user, name: "Dana", pages: [page.id] });
    const redirect = "https://worker.test/facebook/callback";
    const dialog = (clientId: string) =>
      `${env.FAKE_GRAPH}/${GRAPH_VERSION}/dialog/oauth?client_id=${clientId}&redirect_uri=${encodeURIComponent(redirect)}&state=st4te&scope=pages_show_list&user=${user}`;
    const unknown = await fetch(dialog("999"));
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain("Invalid App ID");
    const res = await fetch(dialog(TEST_SECRETS.FACEBOOK_APP_ID));
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain(`Fake ${page.id}`);
    expect(html).toContain("Continue");
    const grant = new URL(`${env.FAKE_GRAPH}/${GRAPH_VERSION}/dialog/oauth/grant`);
    for (const [k, v] of [
      ["client_id", TEST_SECRETS.FACEBOOK_APP_ID],
      ["redirect_uri", redirect],
      ["state", "st4te"],
      ["user", user],
      ["page", page.id],
    ])
      grant.searchParams.append(k!, v!);
    const back = await fetch(grant, { redirect: "manual" });
    expect(back.status).toBe(302);
    const location = new URL(back.headers.get("location")!);
    expect(`${location.origin}${location.pathname}`).toBe(redirect);
    expect(location.searchParams.get("state")).toBe("st4te");
    expect(location.searchParams.get("code")).toMatch(/^[0-9a-f]{32}$/);
  });

  it("the User Profile API answers a customer's name and a picture URL; a person without a profile is error #100", async () => {
    const { id, token } = await newPage();
    const [ada, ben] = [uniqueId(), uniqueId()];
    await control("graph", "customer", { page: id, id: ada, first_name: "Ada", last_name: "L", picture: { size: 10 } });
    await control("graph", "customer", { page: id, id: ben, profile: false });
    const fields = { fields: "first_name,last_name,profile_pic" };
    const profile = await (await fetch(await graphUrl(ada, fields, token))).json<any>();
    expect(profile).toMatchObject({ first_name: "Ada", last_name: "L" });
    expect(profile.profile_pic).toMatch(/\/media\/[0-9a-f]+\?oe=[0-9a-f]+/);
    const none = await fetch(await graphUrl(ben, fields, token));
    expect(none.status).toBe(400);
    expect((await none.json<any>()).error).toMatchObject({ code: 100, error_subcode: 33 });
    // Another page's token may not read this page's customer.
    const other = await newPage();
    expect((await (await fetch(await graphUrl(ada, fields, other.token))).json<any>()).error.code).toBe(190);
    const bad = await fetch(await graphUrl(ada, { fields: "first_name,email" }, token));
    expect((await bad.json<any>()).error.message).toContain("nonexisting field (email)");
  });

  it("CDN URLs serve their bytes with their length and type until they expire, then 403", async () => {
    const media = await control("graph", "media", { size: 1000, content_type: "image/png", seed: "x" });
    const res = await fetch(media.url);
    expect([res.status, res.headers.get("content-type"), res.headers.get("content-length")]).toEqual([
      200,
      "image/png",
      "1000",
    ]);
    expect(toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", await res.arrayBuffer())))).toBe(media.sha256);
    await control("graph", "expire-media", { url: media.url });
    expect((await fetch(media.url)).status).toBe(403);
    const gone = await control("graph", "media", { size: 10, ttl_ms: 0 });
    expect((await fetch(gone.url)).status).toBe(403);
  });

  it("a thread passed to the Page Inbox delivers its messages on standby until it is taken back", async () => {
    const { id } = await newPage();
    const customer = uniqueId();
    const send = async (events: unknown[]) => JSON.parse((await control("graph", "delivery", { events })).body);
    const passed = await send([
      { page: id, customer, kind: "pass_thread_control", appId: "263902037430900" },
      { page: id, customer, kind: "message", text: "anyone?" },
    ]);
    expect(passed.entry[0].messaging[0].pass_thread_control).toMatchObject({
      previous_owner_app_id: TEST_SECRETS.FACEBOOK_APP_ID,
      new_owner_app_id: "263902037430900",
    });
    expect(passed.entry[0].standby[0].message.text).toBe("anyone?");
    const back = await send([
      { page: id, customer, kind: "take_thread_control" },
      { page: id, customer, kind: "message", text: "thanks" },
    ]);
    expect(back.entry[0].messaging.map((e: any) => Object.keys(e).at(-1))).toEqual(["take_thread_control", "message"]);
    expect(back.entry[0].standby).toBeUndefined();
  });
});
