/**
 * Who owns the pages of a Facebook login (docs/identity.md): a linked page never moves.
 * Unlinked pages go to the session's UUID; else to the one owner of the login's linked pages, if
 * there is exactly one (the same merchant in a new browser); else to a new UUID. Never to an owner
 * picked by the order of the pages.
 */

export interface PageOwnership {
  /** The UUID the login acts for: unlinked pages are linked to it, the browser is bound to it. */
  userUuid: string;
  /** Pages to link now (they had no owner). */
  toLink: string[];
  /** Pages already linked to `userUuid`. */
  own: string[];
  /** Pages that belong to another account: token refreshed, link and files untouched. */
  foreign: string[];
}

export function choosePageOwners(
  sessionUuid: string | null,
  pageIds: string[],
  currentOwners: ReadonlyMap<string, string>,
  newUuid: () => string = () => crypto.randomUUID(),
): PageOwnership {
  const owners = new Set(pageIds.map((id) => currentOwners.get(id)).filter((o): o is string => o !== undefined));
  const userUuid = sessionUuid ?? (owners.size === 1 ? [...owners][0]! : newUuid());
  const result: PageOwnership = { userUuid, toLink: [], own: [], foreign: [] };
  for (const id of pageIds) {
    const owner = currentOwners.get(id);
    if (owner === undefined) result.toLink.push(id);
    else if (owner === userUuid) result.own.push(id);
    else result.foreign.push(id);
  }
  return result;
}
