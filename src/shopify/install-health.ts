import type { InstallRecord } from "../db/shop-lifecycle";

/**
 * Whether a shop's install can serve the merchant as it is, or needs OAuth again: what the app URL
 * (`GET /shopify`) decides between the merchant's page and the authorize URL.
 */
export type InstallHealth =
  | { healthy: true; install: InstallRecord }
  | {
      healthy: false;
      reason: "not installed" | "uninstalled" | "no token" | "needs reauth" | "token expired" | "scopes changed";
    };

/**
 * A scope list as a set: split on commas, trimmed, and `read_x` dropped where `write_x` is there
 * (Shopify grants and reports the write scope alone; it implies the read one).
 */
export function scopeSet(scopes: string): Set<string> {
  const all = new Set(
    scopes
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );
  for (const s of all) if (s.startsWith("read_") && all.has(`write_${s.slice(5)}`)) all.delete(s);
  return all;
}

const sameScopes = (a: string, b: string) => {
  const left = scopeSet(a);
  const right = scopeSet(b);
  return left.size === right.size && [...left].every((s) => right.has(s));
};

/** Healthy: installed, an active token that is alive or refreshable, granted exactly the wanted scopes. */
export function installHealth(install: InstallRecord | null, wantedScopes: string, now = Date.now()): InstallHealth {
  if (!install) return { healthy: false, reason: "not installed" };
  if (install.uninstalledAt !== null) return { healthy: false, reason: "uninstalled" };
  const token = install.token;
  if (!token) return { healthy: false, reason: "no token" };
  if (token.status !== "active") return { healthy: false, reason: "needs reauth" };
  const accessAlive = token.expiresAt === null || token.expiresAt > now;
  const refreshAlive = token.hasRefreshToken && (token.refreshExpiresAt === null || token.refreshExpiresAt > now);
  if (!accessAlive && !refreshAlive) return { healthy: false, reason: "token expired" };
  if (token.scope === null || !sameScopes(token.scope, wantedScopes))
    return { healthy: false, reason: "scopes changed" };
  return { healthy: true, install };
}
