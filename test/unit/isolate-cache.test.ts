import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { backupAuth } from "../../src/backup/auth";
import { config } from "../../src/config";
import "../../src/facebook/webhooks";
import {
  IsolateCache,
  isolateCache,
  listIsolateCaches,
  resetIsolateCaches,
  secretKey,
} from "../../src/lib/isolate-cache";
import { redact, scrub } from "../../src/lib/log";
import "../../src/lib/signatures";
import "../../src/http/health";
import { tokenCipher } from "../../src/services";
import "../../src/db/group-commit";
import "../../src/spaces/client";

describe("IsolateCache", () => {
  it("evicts the least recently used entry past its bound", () => {
    const cache = new IsolateCache<string, number>({ why: "test", maxEntries: 2 });
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).toBe(1); // "b" is now the oldest use
    cache.set("c", 3);
    expect([cache.get("a"), cache.get("b"), cache.get("c")]).toEqual([1, undefined, 3]);
    expect(cache.size).toBe(2);
  });

  it("forgets an entry once it is ttlMs old", () => {
    const cache = new IsolateCache<string, number>({ why: "test", maxEntries: 10, ttlMs: 1000 });
    cache.set("a", 1, 5000);
    expect(cache.get("a", 5999)).toBe(1);
    expect(cache.get("a", 6000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("getOrCreate creates once and shares the value", () => {
    const cache = new IsolateCache<string, object>({ why: "test", maxEntries: 10 });
    let created = 0;
    const make = () => ({ n: ++created });
    expect(cache.getOrCreate("k", make)).toBe(cache.getOrCreate("k", make));
    expect(created).toBe(1);
  });

  it("a secret key is a SHA-256 digest, not the secret", () => {
    const key = secretKey("endpoint", "the-spaces-secret");
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(key).not.toContain("the-spaces-secret");
    expect(secretKey("endpoint", "another-secret")).not.toBe(key);
  });
});

describe("the registry", () => {
  it("lists every cache that outlives a request, each with a reason", () => {
    const caches = listIsolateCaches();
    expect(caches.map((c) => c.name).sort()).toEqual(
      [
        "catalogue.change-trips",
        "config.parsed-parts",
        "console.spaces-views",
        "crypto.backup-auth",
        "crypto.hmac-keys",
        "crypto.token-ciphers",
        "facebook.webhook-recorded",
        "facebook.writable-pages",
        "health.last-probe-errors",
        "health.probes",
        "log.redactions",
        "log.secrets",
        "spaces.clients",
        "spaces.per-config",
        "spaces.spare-part-buffers",
        "storage.commit-groups",
      ].sort(),
    );
    for (const cache of caches) expect(cache.why.length).toBeGreaterThan(20);
  });

  it("resetIsolateCaches empties every registered cache", async () => {
    const first = isolateCache<string, number>("test.first", { why: "a test cache", maxEntries: 4 });
    const second = isolateCache<string, number>("test.second", { why: "a test cache", maxEntries: 4, ttlMs: 60_000 });
    first.set("a", 1);
    second.set("b", 2);
    const cipher = await tokenCipher(env);
    const auth = await backupAuth(env);
    const crypto = config(env, "crypto");
    redact("token-seen-at-work");
    expect(scrub("x token-seen-at-work y")).toBe("x [redacted] y");
    expect(await tokenCipher(env)).toBe(cipher);

    resetIsolateCaches();

    expect([first.size, second.size]).toEqual([0, 0]);
    expect(await tokenCipher(env)).not.toBe(cipher);
    expect(await backupAuth(env)).not.toBe(auth);
    expect(config(env, "crypto")).not.toBe(crypto);
    expect(scrub("x token-seen-at-work y")).toBe("x token-seen-at-work y");
  });

  it("refuses a name declared twice", () => {
    isolateCache("test.once", { why: "a test cache", maxEntries: 1 });
    expect(() => isolateCache("test.once", { why: "a test cache", maxEntries: 1 })).toThrow(/twice/);
  });
});
