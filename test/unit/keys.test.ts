import { describe, expect, it } from "vitest";
import {
  conversationKey,
  normalizeShop,
  pageMetadataKey,
  shopMetadataKey,
  shopProductsKey,
} from "../../src/spaces/keys";

const UUID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

describe("Spaces keys of the contract", () => {
  it("builds the exact keys", () => {
    expect(pageMetadataKey(UUID, "123")).toBe(`users/${UUID}/facebook/123/page_metadata.json`);
    expect(conversationKey(UUID, "123", "456")).toBe(`users/${UUID}/facebook/123/conversations/456.json`);
    expect(shopMetadataKey(UUID, "acme-7cu19ngr.myshopify.com")).toBe(
      `users/${UUID}/shopify/acme-7cu19ngr.myshopify.com/shop_metadata.json`,
    );
    expect(shopProductsKey(UUID, "acme-7cu19ngr.myshopify.com")).toBe(
      `users/${UUID}/shopify/acme-7cu19ngr.myshopify.com/shop_products.json`,
    );
  });

  it.each([
    ["../x", "123", "456"],
    [UUID, "../123", "456"],
    [UUID, "123", "4/5"],
    [UUID, "123", ".."],
    [UUID, "123", "%2e%2e"],
    [UUID, "123", "45\u00006"],
    [UUID.toUpperCase(), "123", "456"],
    [UUID, "", "456"],
  ])("refuses ids that could leave users/<uuid>/ (%s, %s, %s)", (uuid, page, sender) => {
    expect(() => conversationKey(uuid, page, sender)).toThrow(/invalid/);
  });

  it("refuses shop domains that are not *.myshopify.com", () => {
    expect(() => shopProductsKey(UUID, "evil.com/x.myshopify.com")).toThrow(/invalid shop/);
    expect(() => shopProductsKey(UUID, "../x.myshopify.com")).toThrow(/invalid shop/);
  });
});

describe("normalizeShop (anchored *.myshopify.com)", () => {
  it.each([
    ["acme-7cu19ngr", "acme-7cu19ngr.myshopify.com"],
    ["acme-7cu19ngr.myshopify.com", "acme-7cu19ngr.myshopify.com"],
    ["ACME-7cu19ngr.myshopify.com", "acme-7cu19ngr.myshopify.com"],
    ["ACME-7cu19ngr", "acme-7cu19ngr.myshopify.com"],
  ])("accepts %s", (input, expected) => expect(normalizeShop(input)).toBe(expected));

  it.each([
    "evil.com/x.myshopify.com",
    "shop.myshopify.com.evil.test",
    "shop.evil.test",
    "-shop.myshopify.com",
    "sh op",
    "..",
    "../acme",
    "acme.myshopify.com:443",
    "acme\u0430.myshopify.com",
    "аcme", // Cyrillic a
    "a.b.myshopify.com",
    "",
    "x".repeat(70),
    // As Shopify's library refuses them (test/oracle compares the two on generated inputs).
    " shop",
    "shop\t",
    "acme.myshopify.com\n",
    "SHOP.MYSHOPIFY.COM",
    "ACME-7cu19ngr.MyShopify.com",
    "\u212acme.myshopify.com", // Kelvin sign, which lower-cases to k
  ])("refuses %j", (input) => expect(normalizeShop(input)).toBeNull());
});
