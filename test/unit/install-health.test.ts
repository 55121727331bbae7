import { describe, expect, it } from "vitest";
import { installHealth, scopeSet } from "../../src/shopify/install-health";
import type { InstallRecord } from "../../src/db/shop-lifecycle";

const NOW = 1_800_000_000_000;
const healthy: InstallRecord = {
  shop: "acme.myshopify.com",
  userUuid: "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
  installedAt: NOW - 1000,
  uninstalledAt: null,
  lastSyncedAt: null,
  productCount: null,
  token: {
    status: "active",
    scope: "read_products",
    expiresAt: NOW + 60_000,
    refreshExpiresAt: null,
    hasRefreshToken: true,
  },
};
const withToken = (token: Partial<NonNullable<InstallRecord["token"]>>): InstallRecord => ({
  ...healthy,
  token: { ...healthy.token!, ...token },
});

describe("installHealth: the merchant's page or OAuth again", () => {
  it.each([
    ["an active token with the wanted scopes", healthy, "read_products", true],
    ["an expired access token that can still be refreshed", withToken({ expiresAt: NOW - 1 }), "read_products", true],
    ["a token that does not expire", withToken({ expiresAt: null, hasRefreshToken: false }), "read_products", true],
    [
      "scopes in another order, with spaces",
      withToken({ scope: "write_products, read_orders" }),
      "read_orders,write_products",
      true,
    ],
    [
      "a write scope granted for read+write",
      withToken({ scope: "write_products" }),
      "read_products,write_products",
      true,
    ],
  ] as const)("healthy: %s", (_name, install, wanted, expected) => {
    expect(installHealth(install, wanted, NOW).healthy).toBe(expected);
  });

  it.each([
    ["never installed", null, "read_products", "not installed"],
    ["uninstalled", { ...healthy, uninstalledAt: NOW - 1 }, "read_products", "uninstalled"],
    ["no token", { ...healthy, token: null }, "read_products", "no token"],
    ["a token that needs a new install", withToken({ status: "needs_reauth" }), "read_products", "needs reauth"],
    [
      "access and refresh tokens both expired",
      withToken({ expiresAt: NOW - 1, refreshExpiresAt: NOW - 1 }),
      "read_products",
      "token expired",
    ],
    [
      "expired, no refresh token",
      withToken({ expiresAt: NOW - 1, hasRefreshToken: false }),
      "read_products",
      "token expired",
    ],
    ["a scope added to SHOPIFY_SCOPES", healthy, "read_products,read_orders", "scopes changed"],
    [
      "a scope removed from SHOPIFY_SCOPES",
      withToken({ scope: "read_products,read_orders" }),
      "read_products",
      "scopes changed",
    ],
    ["granted scopes unknown", withToken({ scope: null }), "read_products", "scopes changed"],
  ] as const)("OAuth again: %s", (_name, install, wanted, reason) => {
    expect(installHealth(install, wanted, NOW)).toEqual({ healthy: false, reason });
  });

  it("scopeSet: write implies read, blanks dropped", () => {
    expect([...scopeSet(" read_products , write_products,,read_orders")].sort()).toEqual([
      "read_orders",
      "write_products",
    ]);
  });
});
