import type { Config } from "../config";
import { describeError, log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import type { Token, TokenStore } from "../db/tokens";
import { shopTokenKey } from "../db/tokens";
import { requestToken } from "./oauth";

/** Refresh this long before expiry, so a token never dies in the middle of a sync. */
const REFRESH_MARGIN_MS = 5 * 60 * 1000;

/**
 * A shop's access token, refreshed before it expires. The new pair is stored with a
 * compare-and-swap on the old refresh token; a refresh that fails leaves the old pair in place.
 */
export class ShopAccess {
  private token: Token | null = null;
  /** One refresh attempt per use of the token, whatever its outcome, unless the token has expired. */
  private refreshTried = false;

  constructor(
    private readonly cfg: Config<"shopify">,
    private readonly tokens: TokenStore,
    readonly shop: string,
  ) {}

  /** A usable access token; throws `auth` when the shop has none (uninstalled, never installed). */
  async accessToken(): Promise<string> {
    const token = this.token ?? (await this.load());
    const left = token.expiresAt === undefined ? Infinity : token.expiresAt - Date.now();
    if (left < REFRESH_MARGIN_MS && (!this.refreshTried || left <= 0)) {
      this.refreshTried = true;
      return (await this.refresh(token)).accessToken;
    }
    return token.accessToken;
  }

  /** Called after a 401: refresh now if we can; throws `auth` when the token is beyond saving. */
  async afterUnauthorized(): Promise<string> {
    const token = await this.load();
    if (!token.refreshToken) throw this.dead(`token for ${this.shop} was rejected`);
    const next = await this.refresh(token, true);
    if (next.accessToken === token.accessToken) {
      throw this.dead(`token for ${this.shop} was rejected and could not be refreshed`);
    }
    return next.accessToken;
  }

  /** The token is beyond saving: the consumer marks it as needing a new install. */
  private dead(message: string) {
    return new PlatformError("shopify", "auth", message, { reason: "token_needs_reauth" });
  }

  private async load(): Promise<Token> {
    const token = await this.tokens.get(shopTokenKey(this.shop));
    if (!token) throw this.dead(`no token stored for ${this.shop}`);
    if (token.status !== "active") {
      throw new PlatformError("shopify", "auth", `token for ${this.shop} needs a new install`, {
        reason: "token_already_marked",
      });
    }
    this.token = token;
    return token;
  }

  private async refresh(token: Token, force = false): Promise<Token> {
    if (!token.refreshToken) return token;
    try {
      const grant = await requestToken(this.cfg, this.shop, { refreshToken: token.refreshToken });
      const next: Token = {
        key: token.key,
        accessToken: grant.accessToken,
        // Shopify rotates the refresh token on every use; keep the old one only if none came back.
        refreshToken: grant.refreshToken ?? token.refreshToken,
        expiresAt: grant.expiresAt,
        refreshExpiresAt: grant.refreshExpiresAt ?? token.refreshExpiresAt,
        scope: grant.scope ?? token.scope,
        status: "active",
      };
      if (await this.tokens.replaceAfterRefresh(token, next)) {
        this.token = next;
        log.info(`Token refreshed for ${this.shop}`, { shop: this.shop });
        return next;
      }
      // Another worker refreshed first: use what it stored.
      return await this.load();
    } catch (err) {
      // A concurrent refresh may have used the refresh token first: take the pair it stored.
      const stored = await this.tokens.get(token.key);
      if (stored && stored.refreshToken !== token.refreshToken && stored.status === "active") {
        this.token = stored;
        return stored;
      }
      log.warn(`Token refresh failed for ${this.shop}: ${describeError(err)}`, { shop: this.shop });
      const stillValid = token.expiresAt === undefined || token.expiresAt > Date.now();
      if (!force && stillValid) return token;
      if (err instanceof PlatformError && err.kind !== "rejected") throw err;
      throw this.dead(`token for ${this.shop} expired and could not be refreshed`);
    }
  }
}
