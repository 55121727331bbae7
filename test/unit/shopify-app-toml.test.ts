import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import appToml from "../../shopify.app.toml?raw";
import wranglerToml from "../../wrangler.toml?raw";
import { scopeSet } from "../../src/shopify/install-health";

/** shopify.app.toml (what Shopify is told) agrees with wrangler.toml (what the worker does). */

const app = parse(appToml) as {
  client_id: string;
  application_url: string;
  embedded: boolean;
  access_scopes: { scopes: string };
  auth: { redirect_urls: string[] };
  webhooks: { api_version: string; subscriptions: { compliance_topics?: string[]; topics?: string[]; uri: string }[] };
};
const wrangler = parse(wranglerToml) as { vars: Record<string, string> };

describe("shopify.app.toml", () => {
  it("asks for the scopes the worker asks for (SHOPIFY_SCOPES)", () => {
    expect([...scopeSet(app.access_scopes.scopes)].sort()).toEqual([...scopeSet(wrangler.vars.SHOPIFY_SCOPES!)].sort());
  });

  it("uses the worker's Admin API version for webhooks (SHOPIFY_API_VERSION)", () => {
    expect(app.webhooks.api_version).toBe(wrangler.vars.SHOPIFY_API_VERSION);
  });

  it("points the app URL, the redirect URL and the compliance topics at the worker's routes, on one origin", () => {
    const appUrl = new URL(app.application_url);
    expect(appUrl.protocol).toBe("https:");
    expect(appUrl.pathname).toBe("/shopify");
    expect(app.embedded).toBe(false);
    expect(app.auth.redirect_urls).toEqual([`${appUrl.origin}/shopify/callback`]);
    const compliance = app.webhooks.subscriptions.find((s) => s.compliance_topics);
    expect(compliance?.compliance_topics?.sort()).toEqual([
      "customers/data_request",
      "customers/redact",
      "shop/redact",
    ]);
    expect(compliance?.uri).toBe(`${appUrl.origin}/shopify/webhook`);
    // No topic is subscribed twice: the others are made per shop through the Admin API.
    expect(app.webhooks.subscriptions.flatMap((s) => s.topics ?? [])).toEqual([]);
  });
});
