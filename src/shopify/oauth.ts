import { z } from "zod";
import type { Config } from "../config";
import { PlatformError } from "../lib/platform-error";
import { redact } from "../lib/log";

type ShopifyConfig = Config<"shopify">;

/** Where a shop's admin lives: SHOPIFY_ADMIN_ORIGIN with `{shop}` filled in. */
export const adminOrigin = (cfg: ShopifyConfig, shop: string) => cfg.SHOPIFY_ADMIN_ORIGIN.replaceAll("{shop}", shop);

export function authorizeUrl(cfg: ShopifyConfig, shop: string, redirectUri: string, state: string): string {
  const url = new URL(`${adminOrigin(cfg, shop)}/admin/oauth/authorize`);
  url.searchParams.set("client_id", cfg.SHOPIFY_API_KEY);
  url.searchParams.set("scope", cfg.SHOPIFY_SCOPES);
  url.searchParams.set("redirect_uri", redirectUri);
  url.searchParams.set("state", state);
  return url.toString();
}

export interface ShopifyTokenGrant {
  accessToken: string;
  scope?: string;
  expiresAt?: number;
  refreshToken?: string;
  refreshExpiresAt?: number;
}

/** The token endpoint's answer: the token is required; another field of the wrong type reads as absent. */
const tokenAnswerSchema = z.object({
  access_token: z.string().min(1),
  scope: z.string().optional().catch(undefined),
  expires_in: z.number().positive().optional().catch(undefined),
  refresh_token: z.string().optional().catch(undefined),
  refresh_token_expires_in: z.number().positive().optional().catch(undefined),
});

/**
 * POST /admin/oauth/access_token, for a code (`expiring: "1"`: an expiring offline token with a
 * refresh token) or a refresh token (the answer carries a new refresh token).
 */
export async function requestToken(
  cfg: ShopifyConfig,
  shop: string,
  grant: { code: string } | { refreshToken: string },
): Promise<ShopifyTokenGrant> {
  const body =
    "code" in grant
      ? { client_id: cfg.SHOPIFY_API_KEY, client_secret: cfg.SHOPIFY_API_SECRET, code: grant.code, expiring: "1" }
      : {
          client_id: cfg.SHOPIFY_API_KEY,
          client_secret: cfg.SHOPIFY_API_SECRET,
          refresh_token: grant.refreshToken,
          grant_type: "refresh_token",
        };
  let response: Response;
  try {
    response = await fetch(`${adminOrigin(cfg, shop)}/admin/oauth/access_token`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    throw new PlatformError("shopify", "transient", `token endpoint unreachable for ${shop}: ${String(err)}`);
  }
  const text = await response.text();
  if (!response.ok) {
    const kind = response.status >= 500 ? "transient" : response.status === 429 ? "throttled" : "rejected";
    throw new PlatformError("shopify", kind, `token endpoint answered ${response.status} for ${shop}`, {
      status: response.status,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PlatformError("shopify", "transient", `token endpoint answered non-JSON for ${shop}`);
  }
  const parsed = tokenAnswerSchema.safeParse(json);
  if (!parsed.success) {
    throw new PlatformError("shopify", "rejected", `token endpoint answered without access_token for ${shop}`);
  }
  const answer = parsed.data;
  const accessToken = answer.access_token;
  redact(accessToken);
  const now = Date.now();
  const seconds = (v: number | undefined) => (v === undefined ? undefined : now + v * 1000);
  const refreshToken = answer.refresh_token;
  redact(refreshToken);
  return {
    accessToken,
    scope: answer.scope,
    expiresAt: seconds(answer.expires_in),
    refreshToken,
    refreshExpiresAt: seconds(answer.refresh_token_expires_in),
  };
}
