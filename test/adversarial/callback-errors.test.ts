import { describe, expect, it } from "vitest";
import { call, control, cookieOf, logsOfEachTest, signedShopifyCallback, uniqueShop } from "../helpers";

/**
 * A platform's error text never reaches a JSON client of the OAuth callbacks: the answer names the
 * step and a code; the platform's words are in the log for the operator.
 */

const logs = logsOfEachTest();
const json = { accept: "application/json" };

/** A login started in a fresh browser: its cookie and state. */
async function startLogin(path: string) {
  const login = await call(path);
  expect(login.status).toBe(302);
  return { cookie: cookieOf(login)!, state: new URL(login.headers.get("location")!).searchParams.get("state")! };
}

describe("platform error text in the callbacks' answers", () => {
  it("Shopify refusing the code: the client gets upstream_error without Shopify's words, the log has them", async () => {
    const shop = uniqueShop("refused");
    await control("shopify", "shop", { shop, products: 1 });
    const { cookie, state } = await startLogin(`/shopify/${shop}/login`);
    const path = await signedShopifyCallback({
      code: "a-code-shopify-never-issued",
      shop,
      state,
      timestamp: String(Math.floor(Date.now() / 1000)),
    });
    const res = await call(path, { headers: { ...json, cookie: `__Host-sid=${cookie}` } });
    const text = await res.text();
    expect(res.status, text).toBe(502);
    expect(JSON.parse(text)).toEqual({ error: { code: "upstream_error", message: "Shopify token exchange failed" } });
    expect(text).not.toMatch(/PlatformError|answered 400/);
    expect(logs.has(`Shopify token exchange failed for ${shop}: PlatformError: token endpoint answered 400`)).toBe(
      true,
    );
  });

  it("Meta refusing the code: the client gets bad_request without Meta's words, the log has them", async () => {
    const { cookie, state } = await startLogin("/facebook/login");
    const res = await call(`/facebook/callback?code=never-issued&state=${state}`, {
      headers: { ...json, cookie: `__Host-sid=${cookie}` },
    });
    const text = await res.text();
    expect(res.status, text).toBe(400);
    expect(JSON.parse(text)).toEqual({ error: { code: "bad_request", message: "Facebook refused the login code" } });
    expect(text).not.toMatch(/authorization code|code 100|PlatformError/);
    expect(
      logs.has(
        "Facebook login failed at the login code: PlatformError: Graph API GET /oauth/access_token answered 400 (code 100): This authorization code has been used.",
      ),
    ).toBe(true);
  });

  it("the login dialog's error: Meta's code is shown, its description only logged", async () => {
    const { cookie } = await startLogin("/facebook/login");
    const res = await call(
      `/facebook/callback?error=access_denied&error_reason=user_denied&error_description=${encodeURIComponent("Permissions error <b>x</b>")}`,
      { headers: { ...json, cookie: `__Host-sid=${cookie}` } },
    );
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(JSON.parse(text)).toEqual({
      error: { code: "bad_request", message: "Facebook login was not completed (access_denied)" },
    });
    expect(logs.lines.some((l) => l.includes("Permissions error"))).toBe(true);
  });
});
