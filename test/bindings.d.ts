import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS_TOKENS: D1Migration[];
      TEST_MIGRATIONS_SESSIONS: D1Migration[];
      /** Control origins of the platform fakes (tests only). */
      FAKE_SHOPIFY: string;
      FAKE_GRAPH: string;
      /** The fault proxy in front of the S3 stand-in. */
      FAKE_SPACES: string;
      /** The monitoring receiver: heartbeats and alerts sent to it (dev/fakes/monitor.ts). */
      FAKE_MONITOR: string;
      /** A spare database for restore round trips (tests only). */
      RESTORE_DB: D1Database;
    }
  }
}
export {};
