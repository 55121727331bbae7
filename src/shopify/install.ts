import { log } from "../lib/log";
import { linkStore } from "../services";
import type { ShopifyTokenGrant } from "./oauth";

/** What an install callback knows once Shopify granted a token. */
export interface InstallInput {
  shop: string;
  grant: ShopifyTokenGrant;
  /** The user UUID the browser's session is already bound to, if any. */
  sessionUuid: string | null;
}

export interface InstallOutcome {
  shop: string;
  /** The shop's owner after the install: its files live under `users/<owner>/`. */
  owner: string;
  /** The UUID the browser is bound to: the session's, else the owner. Never another merchant's. */
  browserUuid: string;
  /** The shop was already linked to a UUID other than the session's: token refreshed, link kept. */
  otherAccount: boolean;
}

/**
 * The identity decision of an install (docs/identity.md). The candidate UUID is the
 * session's, else the shop's existing owner, else a new one; the store links the shop to it only
 * when the shop is not linked yet, and returns whoever owns it. The token is stored either way.
 */
export async function installShop(env: Env, input: InstallInput): Promise<InstallOutcome> {
  const { shop, grant, sessionUuid } = input;
  const links = await linkStore(env);
  const candidate = sessionUuid ?? (await links.shopOwner(shop))?.userUuid ?? crypto.randomUUID();
  const owner = await links.installShop(shop, grant, candidate);
  const browserUuid = sessionUuid ?? owner;
  const otherAccount = owner !== browserUuid;
  if (otherAccount) {
    log.warn(`Shop ${shop} belongs to another account: token refreshed, link kept`, {
      shop,
      user_uuid: owner,
      session_uuid: browserUuid,
    });
  } else {
    log.info(`Shop installed: ${shop}`, { shop, user_uuid: owner });
  }
  return { shop, owner, browserUuid, otherAccount };
}
