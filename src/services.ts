import { journalRows, type RowJournal } from "./backup/journal";
import { config, perEncryptionKeys } from "./config";
import { isolateCache, isolateWeakCache } from "./lib/isolate-cache";
import { TokenCipher } from "./lib/token-cipher";
import { DeletionStore } from "./db/facebook-deletions";
import { FacebookUserStore } from "./db/facebook-users";
import { Spaces } from "./spaces/client";
import { SessionStore } from "./db/sessions";
import { ShopLifecycle } from "./db/shop-lifecycle";
import { TokenStore } from "./db/tokens";
import { LinkStore } from "./db/links";

/** The storage services, built from the environment on first use and reused within an isolate. */

const ciphers = isolateCache<string, Promise<TokenCipher>>("crypto.token-ciphers", {
  why: "the imported AES keys per set of token encryption keys (keyed by their SHA-256)",
  maxEntries: 8,
});

/** The token cipher of this environment: the current key, and previous ones to read with. */
export const tokenCipher = (env: Env): Promise<TokenCipher> =>
  perEncryptionKeys(ciphers, env, (current, previous) => TokenCipher.create(current, previous));

export async function tokenStore(env: Env): Promise<TokenStore> {
  return new TokenStore(env.TOKENS_DB, await tokenCipher(env), rowJournal(env));
}

/** Shop and page links, written with their tokens and journaled (see src/db/links.ts). */
export const linkStore = async (env: Env) => new LinkStore(env.TOKENS_DB, await tokenStore(env));

/** Facebook users and their page grants, journaled (see src/db/facebook-users.ts). */
export const facebookUserStore = (env: Env) => new FacebookUserStore(env.TOKENS_DB, rowJournal(env));

/** Meta's data deletion requests, journaled (see src/db/facebook-deletions.ts). */
export const deletionStore = (env: Env) => new DeletionStore(env.TOKENS_DB, rowJournal(env));

/** Journals the current state of a store's changed rows (see src/backup/journal.ts). */
export const rowJournal =
  (env: Env): RowJournal =>
  (refs, deadlineMs) =>
    journalRows(env, () => spaces(env), refs, deadlineMs);

export const sessionStore = (env: Env) => new SessionStore(env.SESSIONS_DB);

/** One Spaces client per parsed configuration: building one hashes the credentials for its cache key. */
const spacesClients = isolateWeakCache<object, Spaces>(
  "spaces.per-config",
  "the Spaces client of each parsed configuration (it lives as long as its environment object)",
);

export const spaces = (env: Env) => {
  const cfg = config(env, "spaces");
  return spacesClients.getOrCreate(cfg, () => new Spaces(cfg));
};

/** Installs and uninstalls of shops, journalled (see src/db/shop-lifecycle.ts). */
export const shopLifecycle = (env: Env) => new ShopLifecycle(env.TOKENS_DB, rowJournal(env));
