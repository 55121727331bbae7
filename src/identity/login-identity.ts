/**
 * Which user UUID an install or a login acts for (docs/identity.md), for Shopify installs
 * and Facebook logins alike.
 *
 * A UUID grows (takes a shop or page not linked before) only through a login that proves its
 * merchant: the browser's session is proven for it (its login created the UUID, or a Facebook user
 * who linked one of its pages logged in), or this login is a Facebook login by such a user. A
 * browser that reaches a UUID only because its login named something already linked (an agency's
 * login naming a merchant's page, a reinstall of the merchant's shop from a new browser) is bound to
 * it unproven: it may refresh those links, but new shops and pages go to another UUID, made by this
 * login and proven from then on. A linked shop or page never moves.
 */

export interface BrowserIdentity {
  /** The UUID the browser's session is bound to, if any. */
  userUuid: string | null;
  /** The session's own login proved it is that UUID's merchant. */
  proven: boolean;
}

export interface LoginIdentityInput {
  session: BrowserIdentity;
  /**
   * The UUIDs this login proves itself the merchant of, the most recently used first: for a
   * Facebook login, the owners of the pages its Facebook user linked; none for a Shopify install.
   */
  provenAccounts: readonly string[];
  /** The shops or pages the login names. */
  items: readonly string[];
  /** Their current owners (an item that is not linked is absent). */
  owners: ReadonlyMap<string, string>;
}

export interface LoginIdentity {
  /** The UUID the browser is bound to afterwards: the answer's `user_uuid`. */
  userUuid: string;
  /** The browser proved it is `userUuid`'s merchant: its later logins may link to it too. */
  proven: boolean;
  /** Items not linked yet: linked to `userUuid` now (only ever when `proven`). */
  toLink: string[];
  /** Items linked to `userUuid` already. */
  own: string[];
  /** Items of another account: token refreshed, link and files untouched. */
  foreign: string[];
}

export function decideLoginIdentity(
  input: LoginIdentityInput,
  newUuid: () => string = () => crypto.randomUUID(),
): LoginIdentity {
  const { session, provenAccounts, items, owners } = input;
  const linkedTo = new Set(items.map((id) => owners.get(id)).filter((o): o is string => o !== undefined));
  const unlinked = items.filter((id) => !owners.has(id));
  const home =
    (session.proven ? session.userUuid : null) ??
    provenAccounts.find((uuid) => uuid === session.userUuid) ??
    provenAccounts.find((uuid) => linkedTo.has(uuid)) ??
    provenAccounts[0] ??
    null;
  let userUuid: string;
  let proven = true;
  if (home !== null) userUuid = home;
  // Something new and no proof: a UUID of this login's own, which it proves by creating it.
  else if (unlinked.length) userUuid = newUuid();
  else if (session.userUuid !== null) [userUuid, proven] = [session.userUuid, false];
  // Only what one merchant has linked already: the browser sees that merchant, without proof.
  else if (linkedTo.size === 1) [userUuid, proven] = [[...linkedTo][0]!, false];
  else userUuid = newUuid();
  const result: LoginIdentity = { userUuid, proven, toLink: [], own: [], foreign: [] };
  for (const id of items) {
    const owner = owners.get(id);
    if (owner === undefined) result.toLink.push(id);
    else if (owner === userUuid) result.own.push(id);
    else result.foreign.push(id);
  }
  return result;
}
