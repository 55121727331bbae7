import { beforeAll, describe } from "vitest";
import { toHex } from "../../src/lib/encoding";
import { hmacSha256 } from "../../src/lib/signatures";
import { TEST_SECRETS } from "../env";
import { call, control, cookieOf, delivery, loginFacebook, messageEvent, metaSignature, uniqueId } from "../helpers";
import { attackTable } from "./harness";

const page = uniqueId();
const SECRET = TEST_SECRETS.FACEBOOK_APP_SECRET;
let cookie = "";
let otherCookie = "";
let state = "";
let usedState = "";
let code = "";

const message = (pageId: string, sender: string) =>
  delivery(pageId, [messageEvent(pageId, sender, `m_${crypto.randomUUID()}`, "hi", 1700000000000)], 1);

async function post(raw: string, headers: Record<string, string | undefined> = {}) {
  const all: Record<string, string | undefined> = {
    "content-type": "application/json",
    "x-hub-signature-256": await metaSignature(raw),
    ...headers,
  };
  return call("/facebook/webhook", {
    method: "POST",
    body: raw,
    headers: Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)) as Record<string, string>,
  });
}

beforeAll(async () => {
  const first = await loginFacebook([{ id: page }]);
  cookie = first.cookie;
  const login = await call("/facebook/login", { headers: { cookie: `__Host-sid=${cookie}` } });
  state = new URL(login.headers.get("location")!).searchParams.get("state")!;
  const used = await loginFacebook([{ id: page }], cookie);
  usedState = new URL(used.login.headers.get("location")!).searchParams.get("state")!;
  ({ code } = await control("graph", "code", { pages: [page] }));
  otherCookie = cookieOf(await call("/facebook/login"))!;
});

const body = () => JSON.stringify(message(page, "5550001"));

describe("POST /facebook/webhook under attack", () => {
  attackTable([
    {
      name: "sha1= header (wrong algorithm)",
      status: 401,
      send: async () => {
        const b = body();
        const sig = toHex(await hmacSha256(SECRET, b)).slice(0, 40);
        return post(b, { "x-hub-signature-256": `sha1=${sig}` });
      },
    },
    { name: "missing signature", status: 401, send: () => post(body(), { "x-hub-signature-256": undefined }) },
    {
      name: "truncated signature",
      status: 401,
      send: async () => {
        const b = body();
        return post(b, { "x-hub-signature-256": (await metaSignature(b)).slice(0, 40) });
      },
    },
    {
      name: "forged signature",
      status: 401,
      send: async () => {
        const b = body();
        return post(b, { "x-hub-signature-256": await metaSignature(b, "guess") });
      },
    },
    {
      name: "signature without sha256= prefix",
      status: 401,
      send: async () => {
        const b = body();
        return post(b, { "x-hub-signature-256": (await metaSignature(b)).slice(7) });
      },
    },
    { name: "empty body, no signature", status: 401, send: () => post("", { "x-hub-signature-256": undefined }) },
    { name: "empty body, signed", status: 400, send: () => post("") },
    { name: "malformed JSON, signed", status: 400, send: () => post('{"object":"page","entry":[') },
    { name: "not a page delivery", status: 400, send: () => post(JSON.stringify({ object: "user", entry: [] })) },
    { name: "wrong content type, signed", status: 400, send: () => post(body(), { "content-type": "text/plain" }) },
    ...["12/34", "..", "%2e%2e", "12\u000034", "../../users"].map((id) => ({
      name: `page id ${JSON.stringify(id)}`,
      status: 400,
      send: () => post(JSON.stringify(message(id, "5550001"))),
    })),
    ...["55/01", "..", "%2e%2e", "55\u000001", "../../x"].map((sender) => ({
      name: `sender id ${JSON.stringify(sender)} (event ignored, nothing stored)`,
      status: 200,
      send: () => post(JSON.stringify(message(page, sender))),
    })),
    {
      name: "body over the limit (8 MiB)",
      status: 413,
      send: () => post(JSON.stringify({ object: "page", entry: [], pad: "x".repeat(8 * 1024 * 1024) })),
    },
    {
      name: "a delivery of 1,000 entries for pages nobody linked",
      status: 200,
      send: () =>
        post(
          JSON.stringify({
            object: "page",
            entry: Array.from({ length: 1000 }, (_, i) => message(String(900000000000 + i), "5550001").entry[0]),
          }),
        ),
    },
  ]);
});

describe("GET /facebook/webhook (verify) under attack", () => {
  attackTable([
    {
      name: "wrong verify token",
      status: 403,
      send: () => call("/facebook/webhook?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"),
    },
    { name: "no verify token", status: 403, send: () => call("/facebook/webhook?hub.mode=subscribe&hub.challenge=1") },
    {
      name: "wrong mode",
      status: 403,
      send: () =>
        call(
          `/facebook/webhook?hub.mode=unsubscribe&hub.verify_token=${TEST_SECRETS.FACEBOOK_VERIFY_TOKEN}&hub.challenge=1`,
        ),
    },
  ]);
});

describe("Facebook callback under attack", () => {
  const withCookie = (path: string, sid = cookie) => call(path, { headers: { cookie: `__Host-sid=${sid}` } });
  attackTable([
    {
      name: "replayed state",
      status: 403,
      send: () => withCookie(`/facebook/callback?code=${code}&state=${usedState}`),
    },
    {
      name: "state of another session",
      status: 403,
      send: () => withCookie(`/facebook/callback?code=${code}&state=${state}`, otherCookie),
    },
    { name: "no session cookie", status: 403, send: () => call(`/facebook/callback?code=${code}&state=${state}`) },
    {
      name: "unknown state",
      status: 403,
      send: () => withCookie(`/facebook/callback?code=${code}&state=${"ab".repeat(32)}`),
    },
    {
      name: "denied permission",
      status: 400,
      send: () => withCookie(`/facebook/callback?error=access_denied&error_reason=user_denied&state=${state}`),
    },
    { name: "missing code", status: 400, send: () => withCookie(`/facebook/callback?state=${state}`) },
  ]);
});
