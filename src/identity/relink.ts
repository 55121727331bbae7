import { AppError, badRequest } from "../lib/errors";
import { log } from "../lib/log";
import { isNumericId, isUserUuid, normalizeShop, pagePrefix, shopPrefix } from "../spaces/keys";
import { linkStore, spaces } from "../services";
import { sha256Hex } from "../lib/signatures";
import { conversationStub, pageIndexStub } from "../conversations/durable-object";

/** What the operator moves: one shop or one page. */
export type RelinkTarget = { shop: string } | { page: string };

export interface RelinkInput {
  target: RelinkTarget;
  to: string;
  /**
   * Where the files are, when the link already points at `to` (a relink that stopped half-way):
   * the files still under `from` are moved.
   */
  from?: string;
}

export interface RelinkOutcome {
  kind: "shop" | "page";
  id: string;
  from: string;
  to: string;
  /** Objects copied, verified byte for byte, then deleted under the old UUID. */
  moved: string[];
  /** Objects already under the new UUID (written there after the link moved): kept, old copy deleted. */
  kept: string[];
  linkChanged: boolean;
}

/**
 * The one way a link changes owner (`npm run relink`). The link moves first (journaled), so every
 * write from then on goes under the new UUID; then each object under the old
 * `users/<from>/shopify/<shop>/` or `users/<from>/facebook/<page_id>/` is copied, read back and
 * compared, and only then deleted. An object the new owner already has is newer (written after the
 * move) and is kept. Run again with `from` if it stopped half-way.
 */
export async function relink(env: Env, input: RelinkInput, progress: (line: string) => void = () => undefined) {
  const { to } = input;
  if (!isUserUuid(to)) throw badRequest("to must be a user UUID (lowercase, 8-4-4-4-12)");
  if (input.from !== undefined && !isUserUuid(input.from)) throw badRequest("from must be a user UUID");
  const links = await linkStore(env);
  let kind: "shop" | "page";
  let id: string;
  let owner: string | undefined;
  if ("shop" in input.target) {
    const shop = normalizeShop(input.target.shop);
    if (!shop) throw badRequest("shop must be a *.myshopify.com domain");
    kind = "shop";
    id = shop;
    owner = (await links.shopOwner(shop))?.userUuid;
  } else {
    if (!isNumericId(input.target.page)) throw badRequest("page must be a numeric page id");
    kind = "page";
    id = input.target.page;
    owner = (await links.pageOwner(id))?.userUuid;
  }
  if (!owner) throw new AppError("not_found", `${kind} ${id} is not linked to any user`);

  let from = owner;
  let linkChanged = false;
  if (owner !== to) {
    if (kind === "shop") await links.relinkShop(id, to);
    else await links.relinkPage(id, to);
    linkChanged = true;
    progress(`link of ${kind} ${id} moved from ${owner} to ${to} (journaled)`);
  } else if (input.from && input.from !== to) {
    from = input.from;
  } else {
    return { kind, id, from, to, moved: [], kept: [], linkChanged } satisfies RelinkOutcome;
  }

  const prefixOf = (uuid: string) => (kind === "shop" ? shopPrefix(uuid, id) : pagePrefix(uuid, id));
  const oldPrefix = prefixOf(from);
  const newPrefix = prefixOf(to);
  const store = spaces(env);
  const keys = await store.listKeys(oldPrefix);
  progress(`${keys.length} objects under ${oldPrefix}`);
  const moved: string[] = [];
  const kept: string[] = [];
  for (const key of keys) {
    const target = newPrefix + key.slice(oldPrefix.length);
    if ((await store.storedHashes(target)) !== null) {
      kept.push(target);
    } else {
      await store.copy(key, target);
      // Compared as bytes: attachments are not text.
      const [original, copy] = await Promise.all([store.getBytes(key), store.getBytes(target)]);
      if (original === null || copy === null || (await sha256Hex(copy)) !== (await sha256Hex(original))) {
        throw new AppError("unavailable", `Copy of ${key} to ${target} did not verify; nothing deleted, run again`);
      }
      moved.push(target);
    }
    await store.delete(key);
    progress(`${key} → ${target}`);
  }
  if (kind === "page") {
    // Conversation files name their attachments' keys: each is written again under the new owner.
    const senders = await pageIndexStub(env, id).senders();
    for (const sender of senders) await conversationStub(env, id, sender).reupload();
    progress(`${senders.length} conversation files to be written again under ${to}`);
  }
  log.info(`Relinked ${kind} ${id} from ${from} to ${to}: ${moved.length} objects moved, ${kept.length} kept`, {
    kind,
    id,
    from,
    to,
    moved: moved.length,
    kept: kept.length,
  });
  return { kind, id, from, to, moved, kept, linkChanged } satisfies RelinkOutcome;
}
