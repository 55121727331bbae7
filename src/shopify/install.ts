import type { Session } from "../db/sessions";
import { decideLoginIdentity } from "../identity/login-identity";
import { log } from "../lib/log";
import { linkStore } from "../services";
import type { ShopifyTokenGrant } from "./oauth";

/** What an install callback knows once Shopify granted a token. */
export interface InstallInput {
  shop: string;
  grant: ShopifyTokenGrant;
  /** The browser's session (its UUID and whether it proved it). */
  session: Pick<Session, "userUuid" | "proven">;
}

export interface InstallOutcome {
  shop: string;
  /** The shop's owner after the install: its files live under `users/<owner>/`. */
  owner: string;
  /** The UUID the browser is bound to now. Never another merchant's unless the shop is theirs. */
  browserUuid: string;
  /** The browser proved it is `browserUuid`'s merchant (see src/identity/login-identity.ts). */
  proven: boolean;
  /** The shop belongs to another account than the browser's: token refreshed, link kept. */
  otherAccount: boolean;
}

/**
 * The identity decision of an install (docs/identity.md; src/identity/login-identity.ts).
 * An install proves nothing by itself: a shop not linked yet goes to the session's UUID when the
 * session proved it, else to a new UUID; a linked shop keeps its owner, and a browser without a
 * UUID that reinstalls it sees that owner, unproven. The token is stored either way.
 */
export async function installShop(env: Env, input: InstallInput): Promise<InstallOutcome> {
  const { shop, grant, session } = input;
  const links = await linkStore(env);
  const current = await links.shopOwner(shop);
  const identity = decideLoginIdentity({
    session,
    provenAccounts: [],
    items: [shop],
    owners: new Map(current ? [[shop, current.userUuid]] : []),
  });
  // Linked only when it is not linked yet (then identity.proven holds); else the owner stays.
  const owner = await links.installShop(shop, grant, identity.userUuid);
  const otherAccount = owner !== identity.userUuid;
  if (otherAccount) {
    log.warn(`Shop ${shop} belongs to another account: token refreshed, link kept`, {
      shop,
      user_uuid: owner,
      session_uuid: identity.userUuid,
    });
  } else {
    log.info(`Shop installed: ${shop}`, { shop, user_uuid: owner });
  }
  return { shop, owner, browserUuid: identity.userUuid, proven: identity.proven, otherAccount };
}
