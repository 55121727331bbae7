import type { TokenStateRow } from "../db/tokens";

/** What the operator needs to know of a credential, from its bookkeeping only. */
export type TokenState = "active" | "expiring" | "needs_reauth" | "uninstalled";

/** A credential that stops working within this long is shown as expiring. */
export const EXPIRING_WITHIN_MS = 7 * 24 * 3600 * 1000;

/**
 * The state of a shop's or page's token. Uninstalled wins (the merchant removed the app); no
 * token, a token the platform refused, or one whose last renewal has run out needs a new install
 * or login; one whose renewal runs out within a week is expiring. A Shopify access token that
 * lives an hour but renews itself is active: what matters is the refresh token's life.
 */
export function tokenState(
  token: Pick<TokenStateRow, "status" | "expires_at" | "refresh_expires_at" | "has_refresh"> | undefined,
  opts: { uninstalled?: boolean; now?: number } = {},
): TokenState {
  if (opts.uninstalled) return "uninstalled";
  if (!token || token.status === "needs_reauth") return "needs_reauth";
  const now = opts.now ?? Date.now();
  const deadline = token.has_refresh ? token.refresh_expires_at : token.expires_at;
  if (deadline === null) return "active";
  if (deadline <= now) return "needs_reauth";
  return deadline - now < EXPIRING_WITHIN_MS ? "expiring" : "active";
}

export const TOKEN_STATE_LABEL: Record<TokenState, string> = {
  active: "active",
  expiring: "expiring",
  needs_reauth: "needs re-auth",
  uninstalled: "uninstalled",
};
