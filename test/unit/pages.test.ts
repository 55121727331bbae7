import { describe, expect, it } from "vitest";
import { tokenState } from "../../src/console/token-state";
import { age } from "../../src/console/format";
import {
  ErrorPage,
  PagesConnectedPage,
  ShopConnectedPage,
  ShopHomePage,
  errorView,
} from "../../src/http/pages/merchant";
import { pageHeaders, prefersHtml } from "../../src/http/pages/respond";

const render = async (node: { toString(): string | Promise<string> }) => String(await node.toString());

describe("content negotiation", () => {
  it.each([
    ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true], // Chromium, Firefox
    ["text/html", true],
    ["*/*", false], // curl, fetch
    [undefined, false],
    ["", false],
    ["application/json", false],
    ["application/json, text/html", false],
    ["text/html;q=0.5, application/json", false],
    ["text/html, application/json;q=0.5", true],
    ["text/*", true],
    ["text/html;q=0", false],
  ])("Accept %s → HTML %s", (accept, html) => {
    expect(prefersHtml(accept)).toBe(html);
  });
});

describe("page headers", () => {
  it("forbid scripts and framing, unless the page names who may frame it", () => {
    const csp = pageHeaders()["content-security-policy"];
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain("script-src");
    expect(csp).toContain("frame-ancestors 'none'");
    const embedded = pageHeaders({ frameAncestors: ["https://admin.shopify.com", "https://acme.myshopify.com"] });
    expect(embedded["content-security-policy"]).toContain(
      "frame-ancestors https://admin.shopify.com https://acme.myshopify.com",
    );
    const injected = pageHeaders({ frameAncestors: ["https://x.com; script-src *"] });
    expect(injected["content-security-policy"]).toContain("frame-ancestors 'none'");
  });
});

describe("token states", () => {
  const now = Date.UTC(2026, 11, 2);
  const day = 86400_000;
  const row = (
    o: Partial<{
      status: "active" | "needs_reauth";
      expires_at: number | null;
      refresh_expires_at: number | null;
      has_refresh: number;
    }>,
  ) => ({
    status: "active" as const,
    expires_at: null,
    refresh_expires_at: null,
    has_refresh: 0,
    ...o,
  });
  it("tells active, expiring, needs re-auth and uninstalled apart", () => {
    expect(tokenState(row({}), { now })).toBe("active");
    expect(tokenState(row({ expires_at: now + 30 * day }), { now })).toBe("active");
    expect(tokenState(row({ expires_at: now + 2 * day }), { now })).toBe("expiring");
    expect(tokenState(row({ expires_at: now - 1 }), { now })).toBe("needs_reauth");
    expect(tokenState(row({ status: "needs_reauth" }), { now })).toBe("needs_reauth");
    expect(tokenState(undefined, { now })).toBe("needs_reauth");
    expect(tokenState(row({}), { now, uninstalled: true })).toBe("uninstalled");
  });
  it("judges a self-renewing Shopify token by its refresh token", () => {
    const hourly = { expires_at: now + 3600_000, has_refresh: 1 };
    expect(tokenState(row({ ...hourly, refresh_expires_at: now + 90 * day }), { now })).toBe("active");
    expect(tokenState(row({ ...hourly, refresh_expires_at: now + day }), { now })).toBe("expiring");
    expect(tokenState(row({ ...hourly, refresh_expires_at: now - day }), { now })).toBe("needs_reauth");
  });
});

describe("merchant pages", () => {
  it("the shop page names the shop and the account, says what syncs, and flags another account", async () => {
    const html = await render(
      ShopConnectedPage({
        shop: "acme.myshopify.com",
        userUuid: "0b6f3a52-1111-4222-8333-444455556666",
        sync: { state: "done", products: 3 },
        webhooksOk: true,
        otherAccount: false,
        facebookLoginHref: "/facebook/login",
      }),
    );
    expect(html).toMatch(/^<!DOCTYPE html><html lang="en">/);
    expect(html).toContain("<strong>acme.myshopify.com</strong> is connected.");
    expect(html).toContain("0b6f3a52-1111-4222-8333-444455556666");
    expect(html).toContain("3 products are");
    expect(html).toContain('href="/facebook/login"');
    expect(html).not.toContain("another account");
    const other = await render(
      ShopConnectedPage({
        shop: "acme.myshopify.com",
        userUuid: "0b6f3a52-1111-4222-8333-444455556666",
        sync: { state: "queued" },
        webhooksOk: false,
        otherAccount: true,
      }),
    );
    expect(other).toContain("already connected to another account");
    expect(other).toContain("We try again in a few minutes by ourselves");
  });

  it("the pages page escapes page names and lists which belong to another account", async () => {
    const html = await render(
      PagesConnectedPage({
        userUuid: "0b6f3a52-1111-4222-8333-444455556666",
        pages: [
          { id: "101", name: "<script>alert(1)</script>", otherAccount: false },
          { id: "102", name: "Agency client", otherAccount: true },
        ],
      }),
    );
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).not.toContain("<script>");
    expect(html).toContain("Belongs to another account");
    expect(html).toContain("One page was already connected to another account");
  });

  const home = {
    shop: "acme.myshopify.com",
    userUuid: "0b6f3a52-1111-4222-8333-444455556666",
    productCount: 12,
    lastSyncAt: Date.UTC(2026, 11, 2, 7, 30),
    pages: [{ id: "101", name: "Acme <b>Shoes</b>", needsLogin: false }],
    facebookLoginHref: "/facebook/login",
  };

  it("the shop's home page shows the account, the products, the last copy and the linked pages", async () => {
    const html = await render(ShopHomePage(home));
    expect(html).toContain("<title>acme.myshopify.com</title>");
    expect(html).toContain("<dt>Products</dt><dd>12</dd>");
    expect(html).toContain('<time datetime="2026-12-02T07:30:00.000Z">2026-12-02 07:30 UTC</time>');
    expect(html).toContain("Acme &lt;b&gt;Shoes&lt;/b&gt;");
    expect(html).toContain("Connect more Facebook Pages");
  });

  it("the shop's home page escapes the shop and account, and says when nothing was synced yet", async () => {
    const html = await render(
      ShopHomePage({
        ...home,
        shop: `<script>alert("x")</script>`,
        userUuid: `"><img src=x onerror=alert(1)>`,
        ...{ productCount: null, lastSyncAt: null, pages: [] },
      }),
    );
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;script&gt;");
    expect(html).toContain("not synced yet");
    expect(html).toContain("none connected yet");
    expect(html).toContain("Connect your Facebook Pages");
  });

  it("the shop's home page says plainly which Facebook Page needs a new login, and links to it", async () => {
    const html = await render(
      ShopHomePage({
        ...home,
        pages: [
          { id: "101", name: "Acme <b>Shoes</b>", needsLogin: true },
          { id: "102", name: "Acme Hats", needsLogin: false },
          { id: "103", name: null, needsLogin: true },
        ],
      }),
    );
    expect(html).toContain('role="alert"');
    expect(html).toContain("We can no longer reach <strong>Acme &lt;b&gt;Shoes&lt;/b&gt;</strong>:");
    expect(html).toContain("We can no longer reach <strong>Facebook Page 103</strong>:");
    expect(html).not.toContain("We can no longer reach <strong>Acme Hats");
    expect(html).not.toContain("<b>Shoes</b>");
    expect(html.match(/<a class="button" href="\/facebook\/login">Reconnect with Facebook<\/a>/g)).toHaveLength(2);
    expect(html).toContain("Acme Hats: connected");
    expect(html).toContain("Acme &lt;b&gt;Shoes&lt;/b&gt;: needs a new Facebook login");
  });

  it("the shop's home page shows no reconnect notice when every page is connected", async () => {
    const html = await render(ShopHomePage(home));
    expect(html).not.toContain("We can no longer reach");
    expect(html).not.toContain("Reconnect with Facebook");
    expect(html).not.toContain('role="alert"');
  });

  it("error pages use fixed words per code, never the error's text", async () => {
    for (const code of [
      "bad_request",
      "unauthorized",
      "forbidden",
      "upstream_error",
      "internal",
      "misconfigured",
    ] as const) {
      for (const path of ["/shopify/callback", "/facebook/callback", "/admin", "/x"]) {
        const view = errorView(code, path);
        expect(view.title.length).toBeGreaterThan(5);
        const html = await render(ErrorPage({ status: 500, ...view }));
        expect(html).not.toMatch(/Error:|PlatformError|at .*\.ts|GraphQL/);
      }
    }
    expect(errorView("forbidden", "/facebook/callback").action?.href).toBe("/facebook/login");
  });
});

describe("console times", () => {
  it("writes ages in words", () => {
    const now = Date.UTC(2026, 11, 2, 12);
    expect(age(now - 10_000, now)).toBe("just now");
    expect(age(now - 5 * 60_000, now)).toBe("5 min ago");
    expect(age(now - 3 * 3600_000, now)).toBe("3 h ago");
    expect(age(now - 3 * 86400_000, now)).toBe("3 days ago");
    expect(age(now + 2 * 86400_000, now)).toBe("in 2 days");
  });
});
