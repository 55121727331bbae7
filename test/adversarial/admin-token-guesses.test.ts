import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SIGN_IN_FAILURE_LIMIT } from "../../src/db/admin-sessions";
import { SESSION_COOKIE } from "../../src/db/sessions";
import { TEST_SECRETS } from "../env";
import { call, logsOfEachTest } from "../helpers";

/**
 * Guesses of the ADMIN_TOKEN: limited per client on the Bearer routes as on the console's sign-in,
 * counted atomically (concurrent guesses cannot all pass one check), and never registered for
 * redaction (a guess could otherwise blank any phrase out of later log lines).
 */

const logs = logsOfEachTest();
const HTML = "text/html";
const FORM = "application/x-www-form-urlencoded";

const bearer = (token: string, ip: string) =>
  call("/admin/status.json", { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": ip } });

async function signInForm() {
  const res = await call("/admin/sign-in", { headers: { accept: HTML } });
  const pre = /__Host-admin-signin=([0-9a-f]{64})/.exec(res.headers.get("set-cookie") ?? "")![1]!;
  const csrf = /name="csrf" value="([0-9a-f]{64})"/.exec(await res.text())![1]!;
  return { pre, csrf };
}

const signIn = (form: { pre: string; csrf: string }, token: string, ip: string) =>
  call("/admin/sign-in", {
    method: "POST",
    headers: { "content-type": FORM, "cf-connecting-ip": ip, accept: HTML, cookie: `__Host-admin-signin=${form.pre}` },
    body: new URLSearchParams({ csrf: form.csrf, token }).toString(),
  });

const failureRows = async () =>
  (await env.SESSIONS_DB.prepare("SELECT COUNT(*) AS n FROM admin_sign_in_failures").first<{ n: number }>())!.n;

describe("ADMIN_TOKEN guesses", () => {
  it("through the Bearer routes: limited per client; past the limit even the right token waits", async () => {
    const ip = "198.51.100.31";
    for (let i = 0; i < SIGN_IN_FAILURE_LIMIT; i++) {
      const res = await bearer(`guess-number-${i}-of-many`, ip);
      expect(res.status).toBe(401);
      expect((await res.json<any>()).error.code).toBe("unauthorized");
    }
    const over = await bearer("one-guess-too-many", ip);
    expect(over.status).toBe(429);
    expect((await over.json<any>()).error.code).toBe("rate_limited");
    expect(over.headers.get("retry-after")).toMatch(/^\d+$/);
    // No oracle past the limit: the right token is refused too, from that client.
    expect((await bearer(TEST_SECRETS.ADMIN_TOKEN, ip)).status).toBe(429);
    // Another client is not held up, and right tokens do not count against it.
    for (let i = 0; i < SIGN_IN_FAILURE_LIMIT + 2; i++) {
      const ok = await bearer(TEST_SECRETS.ADMIN_TOKEN, "198.51.100.32");
      expect(ok.status).toBe(200);
      await ok.body?.cancel();
    }
    expect(await failureRows()).toBeGreaterThan(0);
  });

  it("sign-in: concurrent wrong guesses get no more checks than the limit", async () => {
    const ip = "198.51.100.33";
    const forms = await Promise.all(Array.from({ length: 3 * SIGN_IN_FAILURE_LIMIT }, signInForm));
    const answers = await Promise.all(forms.map((form, i) => signIn(form, `concurrent-guess-${i}`, ip)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(SIGN_IN_FAILURE_LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2 * SIGN_IN_FAILURE_LIMIT);
  });

  it("a guess is not registered for redaction: it cannot blank a phrase out of later log lines", async () => {
    const form = await signInForm();
    const res = await signIn(form, "Console sign-in refused", "198.51.100.34");
    expect(res.status).toBe(401);
    expect(logs.has("Console sign-in refused: wrong admin token")).toBe(true);
    // The same for a Bearer guess, and for a sign-in cookie a client made up.
    expect((await bearer("Admin API refused", "198.51.100.35")).status).toBe(401);
    expect(logs.has("Admin API refused: wrong admin token")).toBe(true);
    const madeUp = "a".repeat(64);
    await call("/admin/sign-in", { headers: { accept: HTML, cookie: `__Host-admin-signin=${madeUp}` } });
    const again = await signIn({ pre: madeUp, csrf: "0".repeat(64) }, "x", "198.51.100.36");
    expect(again.status).toBe(403);
    const { log } = await import("../../src/lib/log");
    log.info(`a line that names ${madeUp}`);
    expect(logs.has(`a line that names ${madeUp}`)).toBe(true);
  });

  it("a made-up browser session cookie is not registered for redaction either", async () => {
    const madeUp = "b".repeat(64);
    const res = await call("/facebook/login", { headers: { cookie: `${SESSION_COOKIE}=${madeUp}` } });
    await res.body?.cancel();
    // A new session was made for it: the made-up one was looked up and found to be nothing.
    expect(res.headers.get("set-cookie")).toContain(`${SESSION_COOKIE}=`);
    expect(res.headers.get("set-cookie")).not.toContain(madeUp);
    const { log } = await import("../../src/lib/log");
    log.info(`a line that names ${madeUp}`);
    expect(logs.has(`a line that names ${madeUp}`)).toBe(true);
  });
});
