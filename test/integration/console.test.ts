import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { sources } from "../../src/console/read-model";
import { call, control, installShop, resetFaults, spaces, uniqueShop } from "../helpers";
import { TEST_SECRETS } from "../env";

/** The operator console: sign-in, CSRF, the merchant list, status.json, and escaping. */

const FORM = "application/x-www-form-urlencoded";
const HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const bearer = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };

/** Every Set-Cookie line (workerd has getSetCookie; the types do not list it). */
const setCookies = (res: Response) => (res.headers as unknown as { getSetCookie(): string[] }).getSetCookie();
const cookieValue = (res: Response, name: string) =>
  setCookies(res)
    .map((c) => new RegExp(`^${name}=([0-9a-f]{64})`).exec(c)?.[1])
    .find(Boolean) ?? null;
const setCookieLine = (res: Response, name: string) => setCookies(res).find((c) => c.startsWith(`${name}=`))!;
const csrfOf = (html: string) => /name="csrf" value="([0-9a-f]{64})"/.exec(html)?.[1] ?? null;

async function signInForm() {
  const res = await call("/admin/sign-in", { headers: { accept: HTML } });
  return { res, pre: cookieValue(res, "__Host-admin-signin")!, csrf: csrfOf(await res.text())! };
}

function postSignIn(pre: string | null, fields: Record<string, string>, ip: string) {
  return call("/admin/sign-in", {
    method: "POST",
    headers: {
      "content-type": FORM,
      "cf-connecting-ip": ip,
      accept: HTML,
      ...(pre ? { cookie: `__Host-admin-signin=${pre}` } : {}),
    },
    body: new URLSearchParams(fields).toString(),
  });
}

/** Signs in as the operator; returns the admin cookie and the console page's CSRF token. */
async function signIn(ip = "198.51.100.10") {
  const { pre, csrf } = await signInForm();
  const res = await postSignIn(pre, { csrf, token: TEST_SECRETS.ADMIN_TOKEN }, ip);
  expect(res.status).toBe(303);
  const cookie = cookieValue(res, "__Host-admin")!;
  const consolePage = await call("/admin", { headers: { cookie: `__Host-admin=${cookie}`, accept: HTML } });
  return { cookie, res, csrf: csrfOf(await consolePage.text())!, headers: { cookie: `__Host-admin=${cookie}` } };
}

const adminSessionCount = async () =>
  (await env.SESSIONS_DB.prepare("SELECT COUNT(*) AS n FROM admin_sessions").first<{ n: number }>())!.n;

const uuid = () => crypto.randomUUID();

async function seedMerchant(opts: { shop?: string; page?: { id: string; name: string }; status?: string }) {
  const user = uuid();
  const now = Date.now();
  if (opts.shop) {
    await env.TOKENS_DB.batch([
      env.TOKENS_DB.prepare("INSERT INTO shops (shop, user_uuid, installed_at) VALUES (?1, ?2, ?3)").bind(
        opts.shop,
        user,
        now,
      ),
      env.TOKENS_DB.prepare(
        "INSERT INTO tokens (key, value, status, updated_at) VALUES (?1, 'v1.not-a-real-token', ?2, ?3)",
      ).bind(`shopify:${opts.shop}`, opts.status ?? "active", now),
    ]);
  }
  if (opts.page) {
    await env.TOKENS_DB.batch([
      env.TOKENS_DB.prepare("INSERT INTO pages (page_id, user_uuid, name, linked_at) VALUES (?1, ?2, ?3, ?4)").bind(
        opts.page.id,
        user,
        opts.page.name,
        now,
      ),
      env.TOKENS_DB.prepare(
        "INSERT INTO tokens (key, value, status, updated_at) VALUES (?1, 'v1.not-a-real-token', 'active', ?2)",
      ).bind(`facebook:page:${opts.page.id}`, now),
    ]);
  }
  return user;
}

describe("console sign-in", () => {
  it("sends a signed-out browser to the sign-in form from every console URL", async () => {
    for (const path of ["/admin", "/admin?q=acme", "/admin?page=2", "/admin/merchants", "/admin/dead-jobs/x"]) {
      const res = await call(path, { headers: { accept: HTML } });
      expect(res.status, path).toBe(303);
      expect(res.headers.get("location"), path).toBe("/admin/sign-in");
    }
    const expired = await call("/admin", { headers: { cookie: `__Host-admin=${"a".repeat(64)}`, accept: HTML } });
    expect(expired.headers.get("location")).toBe("/admin/sign-in");
    for (const path of ["/admin/sign-out", "/admin/dead-jobs/1/retry"]) {
      const res = await call(path, { method: "POST", headers: { "content-type": FORM }, body: "csrf=x" });
      expect(res.status, path).toBe(401);
      expect(await res.json()).toEqual({ error: { code: "unauthorized", message: "Sign in to the console first" } });
    }
  });

  it("shows a form with a CSRF token bound to a __Host- Strict cookie", async () => {
    const { res, pre, csrf } = await signInForm();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(pre).toMatch(/^[0-9a-f]{64}$/);
    expect(csrf).toMatch(/^[0-9a-f]{64}$/);
    expect(csrf).not.toBe(pre);
    const line = setCookieLine(res, "__Host-admin-signin");
    expect(line).toMatch(/; HttpOnly/);
    expect(line).toMatch(/; Secure/);
    expect(line).toMatch(/; SameSite=Strict/);
    expect(line).toMatch(/; Path=\//);
    expect(line).not.toMatch(/Domain=/i);
  });

  it("refuses a missing or wrong CSRF token with 403 and signs nobody in", async () => {
    const before = await adminSessionCount();
    const { pre, csrf } = await signInForm();
    const other = await signInForm();
    const token = TEST_SECRETS.ADMIN_TOKEN;
    for (const [pre_, fields] of [
      [pre, { token }],
      [pre, { token, csrf: "0".repeat(64) }],
      [pre, { token, csrf: other.csrf }],
      [null, { token, csrf }],
    ] as const) {
      const res = await postSignIn(pre_, fields, "198.51.100.20");
      expect(res.status).toBe(403);
      expect(cookieValue(res, "__Host-admin")).toBeNull();
      const text = await res.text();
      expect(text).toContain("This form has expired");
      expect(text).not.toContain(token);
    }
    expect(await adminSessionCount()).toBe(before);
  });

  it("answers a wrong token 401, then refuses that client for a while (429) even with the right token", async () => {
    const ip = "198.51.100.30";
    const { pre, csrf } = await signInForm();
    for (let i = 0; i < 5; i++) {
      const res = await postSignIn(pre, { csrf, token: `wrong-token-${i}-0123456789` }, ip);
      expect(res.status).toBe(401);
      expect(await res.text()).toContain("That admin token is not right.");
    }
    const slowed = await postSignIn(pre, { csrf, token: TEST_SECRETS.ADMIN_TOKEN }, ip);
    expect(slowed.status).toBe(429);
    expect(Number(slowed.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(cookieValue(slowed, "__Host-admin")).toBeNull();
    // Another client is not held up by this one's guesses.
    const ok = await postSignIn(pre, { csrf, token: TEST_SECRETS.ADMIN_TOKEN }, "198.51.100.31");
    expect(ok.status).toBe(303);
  });

  it("signs in with the ADMIN_TOKEN: a short-lived __Host- HttpOnly Secure SameSite=Strict cookie", async () => {
    const { res, cookie, headers } = await signIn();
    expect(res.headers.get("location")).toBe("/admin");
    const line = setCookieLine(res, "__Host-admin");
    expect(line).toMatch(/; Max-Age=3600/);
    expect(line).toMatch(/; HttpOnly/);
    expect(line).toMatch(/; Secure/);
    expect(line).toMatch(/; SameSite=Strict/);
    expect(line).toMatch(/; Path=\//);
    const stored = await env.SESSIONS_DB.prepare("SELECT id FROM admin_sessions").all<{ id: string }>();
    expect(stored.results.map((r) => r.id)).not.toContain(cookie);
    const page = await call("/admin", { headers: { ...headers, accept: HTML } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("Operator console");
    expect(html).not.toContain(cookie);
    expect(html).not.toContain(TEST_SECRETS.ADMIN_TOKEN);
    const again = await call("/admin/sign-in", { headers });
    expect(again.headers.get("location")).toBe("/admin");
  });

  it("signs out with its CSRF token; the old cookie stops working", async () => {
    const { headers, csrf } = await signIn();
    const refused = await call("/admin/sign-out", {
      method: "POST",
      headers: { ...headers, "content-type": FORM },
      body: "csrf=" + "1".repeat(64),
    });
    expect(refused.status).toBe(403);
    const out = await call("/admin/sign-out", {
      method: "POST",
      headers: { ...headers, "content-type": FORM },
      body: `csrf=${csrf}`,
    });
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/admin/sign-in?signed_out=1");
    expect(setCookieLine(out, "__Host-admin")).toMatch(/Max-Age=0/);
    const after = await call("/admin", { headers });
    expect(after.headers.get("location")).toBe("/admin/sign-in");
  });
});

describe("console merchants", () => {
  const stamp = crypto.randomUUID().slice(0, 6);
  const evilName = `<script>alert("x")</script> Evil ${stamp}`;
  let evilUser: string;
  let acmeUser: string;

  beforeAll(async () => {
    acmeUser = await seedMerchant({ shop: `acme-${stamp}.myshopify.com` });
    await seedMerchant({ shop: `dead-${stamp}.myshopify.com`, status: "needs_reauth" });
    evilUser = await seedMerchant({ page: { id: "7770000" + stamp.replace(/\D/g, "1").slice(0, 6), name: evilName } });
    for (let i = 0; i < 60; i++) await seedMerchant({ shop: `many-${stamp}-${i}.myshopify.com` });
  });

  it("shows every value escaped: a page named <script> renders as text", async () => {
    const { headers } = await signIn();
    const res = await call(`/admin?q=${encodeURIComponent("Evil " + stamp)}`, { headers });
    const html = await res.text();
    expect(html).toContain(evilUser);
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Evil");
    expect(html).not.toContain('<script>alert("x")');
    expect(html).not.toMatch(/<script/i);
  });

  it("finds a merchant by shop, by page name, by page id and by UUID, with token states", async () => {
    const { headers } = await signIn();
    const byShop = await (await call(`/admin?q=acme-${stamp}`, { headers })).text();
    expect(byShop).toContain(acmeUser);
    expect(byShop).toContain(`acme-${stamp}.myshopify.com`);
    expect(byShop).toContain("Merchants (1)");
    expect(byShop).toMatch(/state-ok">active</);
    const dead = await (await call(`/admin?q=dead-${stamp}`, { headers })).text();
    expect(dead).toMatch(/state-bad">needs re-auth</);
    const byUuid = await (await call(`/admin?q=${acmeUser.slice(0, 13)}`, { headers })).text();
    expect(byUuid).toContain(`acme-${stamp}.myshopify.com`);
    const none = await (await call(`/admin?q=${encodeURIComponent("%_nothing")}`, { headers })).text();
    expect(none).toContain("No merchant matches this search.");
  });

  it("pages through thousands: 50 a page with links that keep the search", async () => {
    const { headers } = await signIn();
    const first = await (await call(`/admin?q=many-${stamp}`, { headers })).text();
    expect(first).toContain("Merchants (60)");
    expect(first).toContain("1 to 50 of 60");
    expect(first).toContain(`href="/admin?q=many-${stamp}&amp;page=2"`);
    const second = await (await call(`/admin?q=many-${stamp}&page=2`, { headers })).text();
    expect(second).toContain("51 to 60 of 60");
    expect((second.match(/many-[^.]+\.myshopify\.com/g) ?? []).length).toBe(10);
    const bad = await call("/admin?page=zero", { headers: { ...headers, accept: "application/json" } });
    expect(bad.status).toBe(400);
  });

  it("status.json (Bearer) returns the same merchants and states as the page", async () => {
    expect((await call("/admin/status.json")).status).toBe(401);
    const { headers } = await signIn();
    expect((await call("/admin/status.json", { headers })).status).toBe(401);
    const res = await call(`/admin/status.json?q=dead-${stamp}`, { headers: bearer });
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    expect(body.merchants.total).toBe(1);
    expect(body.merchants.items[0].shops[0]).toMatchObject({
      shop: `dead-${stamp}.myshopify.com`,
      token: "needs_reauth",
    });
    expect(body.health.d1).toEqual({ tokens: { ok: true }, sessions: { ok: true } });
    expect(body.health.spaces.ok).toBe(true);
    expect(body.backups).toHaveProperty("tokens");
    expect(body.dead_jobs).toEqual({ total: 0, items: [] });
    expect(JSON.stringify(body)).not.toContain("not-a-real-token");
    expect((await call("/admin/status.json?per_page=9999", { headers: bearer })).status).toBe(400);
  });

  it("retries a dead job by a CSRF-checked POST and says how it went", async () => {
    const { headers, csrf } = await signIn();
    const retried: string[] = [];
    const original = { ...sources };
    sources.deadJobs = async () => ({
      total: 1,
      items: [
        {
          id: "job-1",
          type: "shopify.sync",
          subject: "acme.myshopify.com",
          error: "boom",
          attempts: 9,
          failedAt: Date.now(),
        },
      ],
    });
    sources.retryDeadJob = async (_env, id) => {
      retried.push(id);
      return id === "job-1" ? "done" : null;
    };
    try {
      const page = await (await call("/admin", { headers })).text();
      expect(page).toContain('action="/admin/dead-jobs/job-1/retry"');
      const post = (id: string, body: string) =>
        call(`/admin/dead-jobs/${id}/retry`, { method: "POST", headers: { ...headers, "content-type": FORM }, body });
      expect((await post("job-1", "")).status).toBe(403);
      expect((await post("job-1", "csrf=" + "f".repeat(64))).status).toBe(403);
      expect(retried).toEqual([]);
      const ok = await post("job-1", `csrf=${csrf}`);
      expect(ok.status).toBe(303);
      expect(ok.headers.get("location")).toBe("/admin?notice=retried#dead-jobs");
      expect(await (await call("/admin?notice=retried", { headers })).text()).toContain(
        "The job ran again and succeeded.",
      );
      const gone = await post("job-2", `csrf=${csrf}`);
      expect(gone.headers.get("location")).toBe("/admin?notice=retry_gone#dead-jobs");
      expect(retried).toEqual(["job-1", "job-2"]);
    } finally {
      Object.assign(sources, original);
    }
  });
});

describe("console backups, journal and Spaces", () => {
  it("shows the newest backup of each database as verified, and a dump altered since as not", async () => {
    const backup = await call("/admin/backup", { method: "POST", headers: bearer });
    expect(backup.status).toBe(200);
    const { backups } = await backup.json<any>();
    const tokensDump = backups.find((b: any) => b.database === "tokens").key;
    const status = await (await call("/admin/status.json?fresh=1", { headers: bearer })).json<any>();
    expect(status.backups.tokens).toMatchObject({ key: tokensDump, verified: true });
    expect(status.backups.sessions.verified).toBe(true);
    expect(status.backups.tokens.age_s).toBeLessThan(60);
    const { headers } = await signIn();
    const html = await (await call("/admin?fresh=1", { headers })).text();
    expect(html).toContain(tokensDump);
    expect(html).toContain(">verified<");

    // The dump replaced behind the manifest's back: its checksum no longer matches.
    await spaces().put(tokensDump, "-- not the dump\n");
    const after = await (await call("/admin/status.json?fresh=1", { headers: bearer })).json<any>();
    expect(after.backups.tokens.verified).toBe(false);
    expect(await (await call("/admin?fresh=1", { headers })).text()).toContain(">not verified<");
  });

  it("shows the token journal's newest entry", async () => {
    const shop = uniqueShop("journal");
    await installShop(shop);
    const keys = (await spaces().listKeys("backups/journal/tokens/")).sort();
    const status = await (await call("/admin/status.json?fresh=1", { headers: bearer })).json<any>();
    expect(status.journal.newest.key).toBe(keys.at(-1));
    expect(status.journal.newest.age_s).toBeLessThan(60);
  });

  it("with Spaces down, still answers: D1 ok, Spaces down with its error, merchants listed", async () => {
    const { headers } = await signIn();
    await control("spaces", "mode", { mode: "down" });
    try {
      const res = await call("/admin/status.json?fresh=1", { headers: bearer });
      expect(res.status).toBe(200);
      const body = await res.json<any>();
      expect(body.health.spaces.ok).toBe(false);
      expect(body.health.spaces.error).toBeTruthy();
      expect(body.health.d1.tokens.ok).toBe(true);
      expect(body.backups.error).toBeTruthy();
      expect(body.merchants.total).toBeGreaterThan(0);
      const page = await call("/admin?fresh=1", { headers });
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/Spaces<\/th><td class="state state-bad">down/);
    } finally {
      await resetFaults();
    }
  });
});

describe("errors for browsers and programs", () => {
  it("answers a browser a page in words, a program the same JSON as before", async () => {
    const json = await call("/nowhere");
    expect(json.status).toBe(404);
    expect(await json.json()).toEqual({ error: { code: "not_found", message: "No route for GET /nowhere" } });
    const html = await call("/nowhere", { headers: { accept: HTML } });
    expect(html.status).toBe(404);
    expect(html.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await html.text()).toContain("Page not found");

    const bad = await call("/shopify/not%20a%20shop/login", { headers: { accept: HTML } });
    expect(bad.status).toBe(400);
    const text = await bad.text();
    expect(text).toContain("That link did not work");
    expect(text).not.toContain("Not a valid shop name");
  });

  it("keeps the Bearer API apart from the console's cookie", async () => {
    const { headers } = await signIn();
    for (const path of ["/admin/backup", "/admin/poll/shopify", "/admin/poll/facebook"]) {
      const res = await call(path, { method: "POST", headers: { ...headers, accept: HTML } });
      expect(res.status, path).toBe(401);
    }
  });
});
