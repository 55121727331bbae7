import { journalRows, type JournalTable } from "./backup/journal";
import { config } from "./config";
import { TokenCipher } from "./lib/token-cipher";
import { Spaces } from "./storage/spaces";
import { SessionStore } from "./storage/sessions";
import { TokenStore } from "./storage/tokens";

/** The storage services, built from the environment on first use and reused within an isolate. */

const ciphers = new Map<string, Promise<TokenCipher>>();

/** The token cipher of this environment: the current key, and previous ones to read with. */
export function tokenCipher(env: Env): Promise<TokenCipher> {
  const cfg = config(env, "crypto");
  const previous = (cfg.TOKEN_ENCRYPTION_KEY_PREVIOUS ?? "").split(",").filter(Boolean);
  const cacheKey = [cfg.TOKEN_ENCRYPTION_KEY, ...previous].join(",");
  let cipher = ciphers.get(cacheKey);
  if (!cipher) {
    cipher = TokenCipher.create(cfg.TOKEN_ENCRYPTION_KEY, previous);
    ciphers.set(cacheKey, cipher);
  }
  return cipher;
}

export async function tokenStore(env: Env): Promise<TokenStore> {
  return new TokenStore(env.TOKENS_DB, await tokenCipher(env), (keys) =>
    journal(
      env,
      keys.map((key) => ({ table: "tokens", key })),
    ),
  );
}

/** Journals the current state of changed token and link rows (see src/backup/journal.ts). */
export const journal = (env: Env, refs: { table: JournalTable; key: string }[], deadlineMs?: number) =>
  journalRows(env, () => spaces(env), refs, deadlineMs);

export const sessionStore = (env: Env) => new SessionStore(env.SESSIONS_DB);

export const spaces = (env: Env) => new Spaces(config(env, "spaces"));
