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
 * `acme-7cu19ngr` or `acme-7cu19ngr.myshopify.com` (any case) to `acme-7cu19ngr.myshopify.com`;
 * null for anything else (paths, other hosts, look-alike characters, dots, ports).
 */
export function normalizeShop(input: string | undefined | null): string | null {
  if (!input) return null;
  const lower = input.trim().toLowerCase();
  const domain = lower.includes(".") ? lower : `${lower}.myshopify.com`;
  return SHOP_DOMAIN.test(domain) ? domain : null;
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

export const shopPrefix = (uuid: string, shop: string) =>
  `${userPrefix(uuid)}/shopify/${check("shop domain", shop, isShopDomain)}/`;

export const shopMetadataKey = (uuid: string, shop: string) => `${shopPrefix(uuid, shop)}shop_metadata.json`;

export const shopProductsKey = (uuid: string, shop: string) => `${shopPrefix(uuid, shop)}shop_products.json`;
