import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

await applyD1Migrations(env.TOKENS_DB, env.TEST_MIGRATIONS_TOKENS);
await applyD1Migrations(env.SESSIONS_DB, env.TEST_MIGRATIONS_SESSIONS);
