import { createHmac } from "node:crypto";

/**
 * Shopify's OAuth consent screen, as far as an app sees it: the page a merchant is sent to by the
 * authorize URL, and the redirect back to the app once they click "Install app".
 */

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/**
 * The callback query Shopify builds: `code, host, shop, state, timestamp`, signed with a hex
 * HMAC-SHA256 of the other parameters, sorted by key and encoded as `URLSearchParams` does (this is
 * what `@shopify/shopify-api` `validateHmac` checks).
 */
export function signedCallbackQuery(params: Record<string, string>, secret: string): URLSearchParams {
  const sorted = new URLSearchParams(
    Object.entries(params)
      .filter(([k]) => k !== "hmac" && k !== "signature")
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const hmac = createHmac("sha256", secret).update(sorted.toString()).digest("hex");
  const out = new URLSearchParams(sorted);
  out.set("hmac", hmac);
  return out;
}

/** The admin's `host` parameter: base64 of `admin.shopify.com/store/<name>` (padding kept). */
export const hostParam = (shop: string) =>
  Buffer.from(`admin.shopify.com/store/${shop.replace(/\.myshopify\.com$/, "")}`).toString("base64");

const page = (title: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}
button{background:#008060;color:#fff;border:0;border-radius:.5rem;padding:.7rem 1.4rem;font-size:1rem}</style>
</head><body>${body}</body></html>`;

export function oauthErrorPage(message: string): string {
  return page("Oauth error", `<h1>Oauth error invalid_request</h1><p>${escapeHtml(message)}</p>`);
}

/** The consent screen: the app, the shop, the scopes asked for, and a plain form to install. */
export function consentPage(opts: {
  appName: string;
  shop: string;
  scope: string;
  approveAction: string;
  hidden: Record<string, string>;
}): string {
  const scopes = opts.scope
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => `<li><code>${escapeHtml(s)}</code></li>`)
    .join("");
  const inputs = Object.entries(opts.hidden)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join("");
  return page(
    `Install ${opts.appName}`,
    `<p>${escapeHtml(opts.shop)}</p>
<h1>Install ${escapeHtml(opts.appName)}</h1>
<p>This app will be able to:</p><ul>${scopes || "<li>(no access scopes)</li>"}</ul>
<form method="get" action="${escapeHtml(opts.approveAction)}">${inputs}<button type="submit">Install app</button></form>`,
  );
}
