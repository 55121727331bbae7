import { badRequest } from "../lib/errors";

/**
 * Spaces keys of the contract. Every id is validated before it becomes part of a key, so nothing
 * from a request can point outside `users/<uuid>/`.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NUMERIC_ID = /^[0-9]{1,32}$/;
const SHOP_DOMAIN = /^[a-z0-9][a-z0-9-]{0,59}\.myshopify\.com$/;

export const isUserUuid = (value: string) => UUID.test(value);
export const isNumericId = (value: string) => NUMERIC_ID.test(value);
const isShopDomain = (value: string) => SHOP_DOMAIN.test(value);

/**
 * A shop as Shopify's library (`utils.sanitizeShop`) accepts it, narrowed to what a shop domain can
 * be: the name may be in any case, the `.myshopify.com` suffix is lower case, nothing around it.
 */
const SHOP_INPUT = /^[a-zA-Z0-9][a-zA-Z0-9-]{0,59}\.myshopify\.com$/;

/**
 * `acme-7cu19ngr` or `acme-7cu19ngr.myshopify.com` to `acme-7cu19ngr.myshopify.com` (the name
 * lower-cased); null for anything else: whitespace, paths, ports, other hosts, a suffix not in lower
 * case, look-alike characters. A bare name is taken as Shopify's library takes `<name>.myshopify.com`.
 */
export function normalizeShop(input: string | undefined | null): string | null {
  if (!input) return null;
  const domain = input.includes(".") ? input : `${input}.myshopify.com`;
  // Checked before lower-casing: some non-ASCII letters lower-case to ASCII ones (K, U+212A, to k).
  return SHOP_INPUT.test(domain) ? domain.toLowerCase() : null;
}

function check(kind: string, value: string, valid: (v: string) => boolean): string {
  if (!valid(value)) throw badRequest(`invalid ${kind}`);
  return value;
}

const userPrefix = (uuid: string) => `users/${check("user uuid", uuid, isUserUuid)}`;

/** Everything of one page under its owner: `users/<uuid>/facebook/<page_id>/`. */
export const pagePrefix = (uuid: string, pageId: string) =>
  `${userPrefix(uuid)}/facebook/${check("page id", pageId, isNumericId)}/`;

export const pageMetadataKey = (uuid: string, pageId: string) =>
  `${userPrefix(uuid)}/facebook/${check("page id", pageId, isNumericId)}/page_metadata.json`;

export const conversationKey = (uuid: string, pageId: string, senderId: string) =>
  `${userPrefix(uuid)}/facebook/${check("page id", pageId, isNumericId)}/conversations/${check("sender id", senderId, isNumericId)}.json`;

/** One customer's files beside their conversation: attachments and profile picture. */
export const conversationFolder = (uuid: string, pageId: string, senderId: string) =>
  `${pagePrefix(uuid, pageId)}conversations/${check("sender id", senderId, isNumericId)}/`;

export const shopPrefix = (uuid: string, shop: string) =>
  `${userPrefix(uuid)}/shopify/${check("shop domain", shop, isShopDomain)}/`;

export const shopMetadataKey = (uuid: string, shop: string) => `${shopPrefix(uuid, shop)}shop_metadata.json`;

export const shopProductsKey = (uuid: string, shop: string) => `${shopPrefix(uuid, shop)}shop_products.json`;
