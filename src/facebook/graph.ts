import { z } from "zod";
import type { Config } from "../config";
import { redact } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { fetchWithRetry, type Verdict } from "../lib/retry";
import { appSecretProof } from "../lib/signatures";
import { pageTokenKey } from "../db/tokens";
import { tokenStore } from "../services";

type FacebookConfig = Config<"facebook">;

/** Meta's throttling codes (app, user, page, custom-rate and page-rate limits). */
const THROTTLE_CODES = new Set([4, 17, 32, 613, 80001]);

/** Meta's error object, `{error:{message,type,code,error_subcode,is_transient,fbtrace_id}}`. */
const graphErrorSchema = z.object({
  error: z
    .object({
      message: z.string().optional(),
      type: z.string().optional(),
      code: z.number().optional(),
      error_subcode: z.number().optional(),
      is_transient: z.boolean().optional(),
    })
    .loose(),
});

/**
 * One Graph API call with `appsecret_proof`, mapped to PlatformError: 190 is a dead token,
 * 4/17/32/613/80001 are throttling, 5xx and `is_transient` are retried here a few times. The
 * answer is the parsed JSON, for the caller to check with its schema.
 */
export async function graph(
  cfg: FacebookConfig,
  method: "GET" | "POST",
  path: string,
  params: Record<string, string>,
  accessToken?: string,
): Promise<unknown> {
  const url = new URL(`${cfg.FACEBOOK_GRAPH_ORIGIN}/${cfg.FACEBOOK_GRAPH_VERSION}/${path.replace(/^\/+/, "")}`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  if (accessToken) {
    redact(accessToken);
    url.searchParams.set("access_token", accessToken);
    url.searchParams.set("appsecret_proof", await appSecretProof(accessToken, cfg.FACEBOOK_APP_SECRET));
  }
  const read = async (response: Response): Promise<Verdict<unknown>> => {
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const parsedError = graphErrorSchema.safeParse(body);
    if (response.ok && body !== undefined && !parsedError.success) return { done: body };
    const error = parsedError.success ? parsedError.data.error : undefined;
    const code = error?.code;
    const message = `Graph API ${method} /${path} answered ${response.status}${code ? ` (code ${code})` : ""}: ${error?.message ?? "no error body"}`;
    const about = { status: response.status, code };
    if (code === 190 || code === 102)
      throw new PlatformError("facebook", "auth", message, { ...about, reason: "token_needs_reauth" });
    if (code !== undefined && THROTTLE_CODES.has(code)) {
      throw new PlatformError("facebook", "throttled", message, { ...about, retryAfterMs: 60_000 });
    }
    const transient = response.status >= 500 || error?.is_transient === true || code === 1 || code === 2;
    if (transient) return { retry: new PlatformError("facebook", "transient", message, about) };
    throw new PlatformError("facebook", "rejected", message, about);
  };
  return fetchWithRetry(() => fetch(url, { method, headers: { accept: "application/json" } }), read, {
    maxAttempts: 3,
    backoffBaseMs: 300,
    unreachable: (err) => new PlatformError("facebook", "transient", `Graph API unreachable: ${String(err)}`),
  });
}

/** Graph's cursor paging: `cursors.after` names a next page only while `next` is there. */
const graphPaging = z
  .object({ cursors: z.object({ after: z.string().optional() }).optional(), next: z.string().optional() })
  .optional();

/** A Graph connection, `{data: [item...], paging}`, as a field of an answer or the answer itself. */
export const connection = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), paging: graphPaging });

/** The cursor of the page after this one of a connection; undefined on the last page. */
export const nextCursor = (paging: z.output<typeof graphPaging>) => (paging?.next ? paging.cursors?.after : undefined);

interface GraphPage<T> {
  data: T[];
  /** Where the next page starts; undefined on the last page. */
  after?: string;
}

/**
 * One page of a Graph connection: GET `path` with `params`, from cursor `after` (the first page
 * without it). An answer that is not a connection of `item`s is `rejected`.
 */
export async function graphPage<T extends z.ZodType>(
  cfg: FacebookConfig,
  path: string,
  params: Record<string, string>,
  accessToken: string,
  item: T,
  after?: string,
): Promise<GraphPage<z.output<T>>> {
  const answer = await graph(cfg, "GET", path, after ? { ...params, after } : params, accessToken);
  const parsed = connection(item).safeParse(answer);
  if (!parsed.success) throw new PlatformError("facebook", "rejected", `unexpected answer from ${path}`);
  return { data: parsed.data.data, after: nextCursor(parsed.data.paging) };
}

/** Every item of a Graph connection, following the cursors, in at most `maxCalls` calls. */
export async function allGraphPages<T extends z.ZodType>(
  cfg: FacebookConfig,
  path: string,
  params: Record<string, string>,
  accessToken: string,
  item: T,
  maxCalls = 100,
): Promise<z.output<T>[]> {
  const items: z.output<T>[] = [];
  let after: string | undefined;
  for (let calls = 0; calls < maxCalls; calls++) {
    const page = await graphPage(cfg, path, params, accessToken, item, after);
    items.push(...page.data);
    after = page.after;
    if (!after) break;
  }
  return items;
}

/** The stored page token; throws `auth` when the page needs a new login. */
export async function pageToken(env: Env, pageId: string): Promise<string> {
  const token = await (await tokenStore(env)).get(pageTokenKey(pageId));
  if (!token) {
    throw new PlatformError("facebook", "auth", `no token stored for page ${pageId}`, { reason: "token_needs_reauth" });
  }
  if (token.status !== "active") {
    throw new PlatformError("facebook", "auth", `page ${pageId} needs a new login`, { reason: "token_already_marked" });
  }
  return token.accessToken;
}
