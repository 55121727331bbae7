import { z } from "zod";
import type { Config } from "../config";
import { redact } from "../lib/log";
import { PlatformError, backoffMs, sleep } from "../lib/platform-error";
import { appSecretProof } from "../lib/signatures";

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
 * 4/17/32/613/80001 are throttling, 5xx and `is_transient` are retried here a few times.
 */
export async function graph<T>(
  cfg: FacebookConfig,
  method: "GET" | "POST",
  path: string,
  params: Record<string, string>,
  accessToken?: string,
): Promise<T> {
  const url = new URL(`${cfg.FACEBOOK_GRAPH_ORIGIN}/${cfg.FACEBOOK_GRAPH_VERSION}/${path.replace(/^\/+/, "")}`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  if (accessToken) {
    redact(accessToken);
    url.searchParams.set("access_token", accessToken);
    url.searchParams.set("appsecret_proof", await appSecretProof(accessToken, cfg.FACEBOOK_APP_SECRET));
  }
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(url, { method, headers: { accept: "application/json" } });
    } catch (err) {
      if (attempt < 2) {
        await sleep(backoffMs(attempt, 300));
        continue;
      }
      throw new PlatformError("facebook", "transient", `Graph API unreachable: ${String(err)}`);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const parsedError = graphErrorSchema.safeParse(body);
    if (response.ok && body !== undefined && !parsedError.success) return body as T;
    const error = parsedError.success ? parsedError.data.error : undefined;
    const code = error?.code;
    const message = `Graph API ${method} /${path} answered ${response.status}${code ? ` (code ${code})` : ""}: ${error?.message ?? "no error body"}`;
    if (code === 190 || code === 102)
      throw new PlatformError("facebook", "auth", message, undefined, response.status, code);
    if (code !== undefined && THROTTLE_CODES.has(code)) {
      throw new PlatformError("facebook", "throttled", message, 60_000, response.status, code);
    }
    const transient = response.status >= 500 || error?.is_transient === true || code === 1 || code === 2;
    if (transient && attempt < 2) {
      await sleep(backoffMs(attempt, 300));
      continue;
    }
    throw new PlatformError(
      "facebook",
      transient ? "transient" : "rejected",
      message,
      undefined,
      response.status,
      code,
    );
  }
}
