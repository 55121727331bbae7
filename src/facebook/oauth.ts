import type { Config } from "../config";
import { redact } from "../lib/log";
import { z } from "zod";
import { PlatformError } from "../lib/platform-error";
import { allGraphPages, graph } from "./graph";

type FacebookConfig = Config<"facebook">;

const LOGIN_SCOPES = ["pages_show_list", "pages_messaging", "pages_read_engagement", "pages_manage_metadata"];

export function dialogUrl(cfg: FacebookConfig, redirectUri: string, state: string): string {
  const url = new URL(`${cfg.FACEBOOK_DIALOG_ORIGIN}/${cfg.FACEBOOK_GRAPH_VERSION}/dialog/oauth`);
  url.searchParams.set("client_id", cfg.FACEBOOK_APP_ID);
  url.searchParams.set("redirect_uri", redirectUri);
  url.searchParams.set("state", state);
  url.searchParams.set("scope", LOGIN_SCOPES.join(","));
  return url.toString();
}

/** A user token from `oauth/access_token`; it is kept out of logs as soon as it is read. */
const tokenAnswerSchema = z.object({ access_token: z.string(), expires_in: z.number().optional() });

async function exchangeToken(cfg: FacebookConfig, params: Record<string, string>) {
  const answer = tokenAnswerSchema.safeParse(await graph(cfg, "GET", "oauth/access_token", params));
  if (!answer.success) throw new PlatformError("facebook", "rejected", "unexpected answer from oauth/access_token");
  redact(answer.data.access_token);
  return answer.data;
}

/** code → short-lived user token → long-lived user token (~60 days). */
export async function userTokenFromCode(cfg: FacebookConfig, code: string, redirectUri: string) {
  const short = await exchangeToken(cfg, {
    client_id: cfg.FACEBOOK_APP_ID,
    client_secret: cfg.FACEBOOK_APP_SECRET,
    redirect_uri: redirectUri,
    code,
  });
  const long = await exchangeToken(cfg, {
    grant_type: "fb_exchange_token",
    client_id: cfg.FACEBOOK_APP_ID,
    client_secret: cfg.FACEBOOK_APP_SECRET,
    fb_exchange_token: short.access_token,
  });
  return {
    accessToken: long.access_token,
    expiresAt: long.expires_in ? Date.now() + long.expires_in * 1000 : undefined,
  };
}

export interface GrantedPage {
  id: string;
  name: string;
  category: string | null;
  accessToken: string;
}

/** A page of `/me/accounts`; its token is kept out of logs as soon as it is read. */
const grantedPageSchema = z
  .object({
    id: z.union([z.string(), z.number()]).transform(String),
    name: z.string(),
    category: z.string().optional(),
    access_token: z.string(),
  })
  .transform((p): GrantedPage => {
    redact(p.access_token);
    return { id: p.id, name: p.name, category: p.category ?? null, accessToken: p.access_token };
  });

/** Every page of `/me/accounts`, following the cursors. Page tokens from a long-lived user token do not expire. */
export function grantedPages(cfg: FacebookConfig, userToken: string): Promise<GrantedPage[]> {
  const params = { fields: "id,name,category,access_token", limit: "100" };
  return allGraphPages(cfg, "me/accounts", params, userToken, grantedPageSchema);
}

/** The app-scoped id of the Facebook user who logged in (`GET /me`): what Meta's callbacks name. */
export async function facebookUserId(cfg: FacebookConfig, userToken: string): Promise<string> {
  const me = z
    .object({
      id: z
        .union([z.string(), z.number()])
        .transform(String)
        .pipe(z.string().regex(/^\d{1,32}$/)),
    })
    .safeParse(await graph(cfg, "GET", "me", { fields: "id" }, userToken));
  if (!me.success) throw new PlatformError("facebook", "rejected", "GET /me did not answer an app-scoped user id");
  return me.data.id;
}
