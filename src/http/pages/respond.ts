import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * Content negotiation for routes that serve people and programs: HTML when `Accept` prefers
 * text/html (a browser's navigation), the JSON otherwise (curl, fetch, the platforms), so JSON
 * clients get exactly what they got before.
 */

/** The q-value `accept` gives a media type (exact, then `type/*`, then `*\/*`); 0 when refused. */
function quality(accept: string, type: string): number {
  const [major] = type.split("/");
  let best = -1;
  let specificity = -1;
  for (const part of accept.split(",")) {
    const [range = "", ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    const value = q === undefined ? 1 : Math.min(1, Number(q) || 0);
    const level = range === type ? 2 : range === `${major}/*` ? 1 : range === "*/*" ? 0 : -1;
    if (level > specificity) {
      specificity = level;
      best = value;
    }
  }
  return Math.max(0, best);
}

/** True when this `Accept` header ranks text/html above application/json. */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const html = quality(accept, "text/html");
  return html > 0 && html > quality(accept, "application/json");
}

export interface PageOptions {
  /**
   * Origins allowed to frame the page (Shopify's admin, for an embedded app's page: pass
   * `https://admin.shopify.com` and `https://<shop>`). None by default.
   */
  frameAncestors?: string[];
}

/**
 * Headers of every page: no script can run (the pages have none), nothing is cached, forms post
 * only here, and nothing frames it unless `frameAncestors` says who may.
 */
export function pageHeaders(opts: PageOptions = {}): Record<string, string> {
  const ancestors = opts.frameAncestors?.filter((o) => /^https:\/\/[a-z0-9.-]+$/.test(o)).join(" ") || "'none'";
  return {
    "content-security-policy": `default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors ${ancestors}`,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  };
}

/** A rendered page as the response, with the page headers. */
export async function page(
  c: Context,
  element: string | Promise<string>,
  status: ContentfulStatusCode = 200,
  opts: PageOptions = {},
) {
  const html = await element;
  for (const [name, value] of Object.entries(pageHeaders(opts))) c.header(name, value);
  c.header("vary", "Accept");
  return c.html(html, status);
}

/** True when this `Accept` header ranks application/json above text/html. */
function prefersJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const json = quality(accept, "application/json");
  return json > 0 && json > quality(accept, "text/html");
}

export interface RespondOptions extends PageOptions {
  /**
   * The page unless the client ranks JSON first (no `Accept`, or both alike, gets the page): for a
   * URL people open, such as the Shopify app URL. Otherwise JSON unless HTML is ranked first.
   */
  pageByDefault?: boolean;
}

/**
 * Answers `json` to programs and `view()` to browsers, with the same status. `view` is only
 * called when a page is wanted.
 */
export async function respond<T extends object>(
  c: Context,
  json: T,
  view: () => string | Promise<string>,
  status: ContentfulStatusCode = 200,
  opts: RespondOptions = {},
) {
  const accept = c.req.header("accept");
  if (opts.pageByDefault ? !prefersJson(accept) : prefersHtml(accept)) return page(c, view(), status, opts);
  c.header("vary", "Accept");
  return c.json(json, status);
}
