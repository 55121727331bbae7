import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { app } from "../../src/app";
import { SessionStore } from "../../src/db/sessions";
import { signShopifyQuery } from "../../src/lib/signatures";
import { TEST_SECRETS } from "../env";
import { call, cookieOf, installShop, logsOfEachTest, uniqueShop } from "../helpers";

const logs = logsOfEachTest();
const sessions = () => new SessionStore(env.SESSIONS_DB);
const DAY = 24 * 3600 * 1000;

async function runDailyCron() {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "0 3 * * *", scheduledTime: Date.now() }), env, ctx);
  await waitOnExecutionContext(ctx);
}

describe("sessions and states expire and the daily cron purges them", () => {
  afterEach(() => vi.useRealTimers());

  it("an unfinished login is gone after a day, a bound session after 30 days", async () => {
    const before = await sessions().counts();
    const abandoned = await call(`/shopify/${uniqueShop()}/login`); // a session and a state, never used
    expect(cookieOf(abandoned)).not.toBeNull();
    const install = await installShop(uniqueShop("kept"));
    const afterLogins = await sessions().counts();
    expect(afterLogins.sessions).toBe(before.sessions + 2);
    expect(afterLogins.states).toBe(before.states + 1);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 2 * DAY);
    await runDailyCron();
    expect(await sessions().counts()).toEqual({ sessions: before.sessions + 1, states: 0 });
    expect(logs.has("Purged 1 expired sessions and 1 expired states")).toBe(true);
    // The bound session still works...
    const still = await call(`/shopify/${uniqueShop()}/login`, { headers: { cookie: `__Host-sid=${install.cookie}` } });
    expect(cookieOf(still)).toBeNull();

    vi.setSystemTime(Date.now() + 31 * DAY);
    await runDailyCron();
    // ...until its lifetime is over (the login just above left one more state, expired too).
    expect((await sessions().counts()).sessions).toBe(before.sessions);
    expect((await sessions().counts()).states).toBe(0);
    const expired = await call(`/shopify/${uniqueShop()}/login`, {
      headers: { cookie: `__Host-sid=${install.cookie}` },
    });
    expect(cookieOf(expired)).not.toBeNull();
  });
});

describe("login rate limit (Cloudflare's Rate Limiting binding, per client)", () => {
  it("past the limit, logins answer 429 and store no session or state; another client is not affected", async () => {
    const client = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
    const before = await sessions().counts();
    const statuses: number[] = [];
    for (let i = 0; i < 45; i++) {
      const path = i % 2 ? "/facebook/login" : `/shopify/${uniqueShop()}/login`;
      const res = await call(path, { headers: { "cf-connecting-ip": client } });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get("retry-after")).toBe("60");
        expect(res.headers.get("set-cookie")).toBeNull();
        expect((await res.json<any>()).error.code).toBe("rate_limited");
      }
    }
    const allowed = statuses.filter((s) => s === 302).length;
    expect(allowed).toBe(30);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
    const after = await sessions().counts();
    expect(after.sessions - before.sessions).toBe(allowed);
    expect(after.states - before.states).toBe(allowed);
    // The app URL, when it redirects to OAuth, counts against the same limit.
    const shop = uniqueShop("app-url");
    const query = new URLSearchParams({ shop, timestamp: String(Math.floor(Date.now() / 1000)), host: btoa(shop) });
    query.set("hmac", await signShopifyQuery(query, TEST_SECRETS.SHOPIFY_API_SECRET));
    const appUrl = await call(`/shopify?${query}`, { headers: { "cf-connecting-ip": client } });
    expect(appUrl.status).toBe(429);
    expect((await sessions().counts()).sessions - before.sessions).toBe(allowed);
    const other = await call(`/shopify?${query}`, { headers: { "cf-connecting-ip": "198.51.100.7" } });
    expect(other.status).toBe(302);
  });
});

describe("clear-text origins", () => {
  it("an http:// origin outside loopback is refused at the route that needs it, by name", async () => {
    const request = (path: string) => new Request(`https://worker.test${path}`, { redirect: "manual" });
    const shopify = await app.fetch(request(`/shopify/${uniqueShop()}/login`), {
      ...env,
      SHOPIFY_ADMIN_ORIGIN: "http://admin.example.com/{shop}",
    });
    expect(shopify.status).toBe(500);
    const body = await shopify.json<any>();
    expect(body.error.code).toBe("misconfigured");
    expect(body.error.message).toMatch(/SHOPIFY_ADMIN_ORIGIN must be an https:\/\/ URL/);
    const facebook = await app.fetch(request("/facebook/login"), {
      ...env,
      FACEBOOK_DIALOG_ORIGIN: "http://www.facebook.com",
    });
    expect(facebook.status).toBe(500);
    expect((await facebook.json<any>()).error.message).toMatch(/FACEBOOK_DIALOG_ORIGIN/);
    // The loopback origins of the tests' fakes are fine.
    expect((await call(`/shopify/${uniqueShop()}/login`)).status).toBe(302);
  });
});
