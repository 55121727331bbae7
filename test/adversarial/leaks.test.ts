import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { TEST_SECRETS } from "../env";
import {
  call,
  captureLogs,
  control,
  delivery,
  fakeState,
  installShop,
  loginFacebook,
  messageEvent,
  messengerWebhook,
  recordResponses,
  shopifyWebhook,
  signedShopifyCallback,
  spaces,
  uniqueId,
  uniqueShop,
} from "../helpers";

/**
 * The leak check: a whole working day of the worker (installs, logins, webhooks, polls, a refresh,
 * a backup, and a share of bad requests), then no token, secret or cookie value may appear in any
 * log line, response body or Spaces object.
 */

let logs: ReturnType<typeof captureLogs>;
let bodies: string[];
const cookies: string[] = [];

beforeAll(async () => {
  logs = captureLogs();
  bodies = recordResponses();
  const shop = uniqueShop("leak");
  await control("shopify", "token-ttl", { seconds: 60 }); // so the day includes token refreshes
  const install = await installShop(shop, { products: 3 });
  await control("shopify", "token-ttl", { seconds: 3600 });
  cookies.push(install.cookie);
  const page = uniqueId();
  const fb = await loginFacebook([{ id: page }], install.cookie);
  cookies.push(fb.cookie);
  const customer = uniqueId();
  await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_leak", "hello")], 1));
  await shopifyWebhook(shop, "products/update", { id: 1000000, title: "Product 0" });
  await control("graph", "message", { page, customer, mid: "m_poll", text: "polled", timestamp: Date.now() });
  const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
  await call("/admin/poll/shopify", { method: "POST", headers: admin });
  await call("/admin/poll/facebook", { method: "POST", headers: admin });
  // Bad requests that carry secrets or tokens in them must not echo them back.
  await call(
    await signedShopifyCallback({ code: "stolen-code", shop, state: "ab".repeat(32), timestamp: "1" }, "guess"),
    {
      headers: { cookie: `__Host-sid=${install.cookie}` },
    },
  );
  await call(
    `/facebook/webhook?hub.mode=subscribe&hub.verify_token=${TEST_SECRETS.FACEBOOK_VERIFY_TOKEN}x&hub.challenge=1`,
  );
  await call("/admin/backup", { method: "POST", headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}x` } });
  await shopifyWebhook(shop, "products/update", { id: 1 }, { secret: TEST_SECRETS.SHOPIFY_API_SECRET.slice(0, -1) });
  // Let the queue and the conversation objects finish their uploads, then back up.
  await vi.waitFor(() => expect(logs.has(`Polled conversations for page ${page}: Success`)).toBe(true), {
    timeout: 15_000,
  });
  await vi.waitFor(() => expect(logs.has(`Polled shop ${shop}: Success`)).toBe(true), { timeout: 15_000 });
  await call("/admin/backup", { method: "POST", headers: admin });
  expect((await fakeState("shopify", `shop=${shop}`)).calls.refresh).toBeGreaterThan(0);
});

afterAll(() => logs.stop());

async function secretsAndTokens(): Promise<string[]> {
  const shopifyTokens = (await control("shopify", "issued")).tokens as string[];
  const graphTokens = (await control("graph", "issued")).tokens as string[];
  const secrets = [
    TEST_SECRETS.SHOPIFY_API_SECRET,
    TEST_SECRETS.FACEBOOK_APP_SECRET,
    TEST_SECRETS.FACEBOOK_VERIFY_TOKEN,
    TEST_SECRETS.TOKEN_ENCRYPTION_KEY,
    TEST_SECRETS.ADMIN_TOKEN,
  ];
  return [...secrets, ...shopifyTokens, ...graphTokens, ...cookies];
}

function leaksIn(texts: string[], needles: string[]): string[] {
  return needles.filter((needle) => texts.some((t) => t.includes(needle)));
}

describe("leak check", () => {
  it("the day produced tokens, log lines, responses and objects to look through", async () => {
    expect((await secretsAndTokens()).length).toBeGreaterThan(8);
    expect(logs.lines.length).toBeGreaterThan(20);
    expect(bodies.length).toBeGreaterThan(10);
  });

  it("no token, secret or cookie in any log line", async () => {
    expect(leaksIn(logs.lines, await secretsAndTokens())).toEqual([]);
  });

  it("no token, secret or cookie in any response body", async () => {
    expect(leaksIn(bodies, await secretsAndTokens())).toEqual([]);
  });

  it("no token, secret or cookie in any Spaces object (backups hold tokens only encrypted)", async () => {
    const keys = await spaces().listKeys("");
    expect(keys.some((k) => k.startsWith("backups/d1/tokens/"))).toBe(true);
    expect(keys.some((k) => k.startsWith("backups/journal/"))).toBe(true);
    const texts = await Promise.all(keys.map(async (k) => `${k}\n${await spaces().getText(k)}`));
    expect(leaksIn(texts, await secretsAndTokens())).toEqual([]);
  });

  it("D1 holds tokens only encrypted and session ids only hashed", async () => {
    const { results: tokens } = await env.TOKENS_DB.prepare("SELECT * FROM tokens").all();
    const { results: sessions } = await env.SESSIONS_DB.prepare("SELECT * FROM sessions").all();
    const rows = [...tokens, ...sessions].map((r) => JSON.stringify(r));
    expect(leaksIn(rows, await secretsAndTokens())).toEqual([]);
  });
});
