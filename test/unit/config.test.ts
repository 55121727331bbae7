import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { config, isSecureOrigin } from "../../src/config";
import { AppError } from "../../src/lib/errors";
import { spacesEndpoint } from "../../src/spaces/client";

describe("configuration", () => {
  it("names a missing or malformed secret or var", () => {
    const attempt = (overrides: Record<string, string | undefined>, part: Parameters<typeof config>[1]) => {
      try {
        config({ ...env, ...overrides }, part);
        return "ok";
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
        return (err as AppError).message;
      }
    };
    expect(attempt({ SHOPIFY_API_SECRET: undefined }, "shopify")).toMatch(/SHOPIFY_API_SECRET is missing/);
    expect(attempt({ SPACES_BUCKET: "" }, "spaces")).toMatch(/SPACES_BUCKET is missing/);
    expect(attempt({ TOKEN_ENCRYPTION_KEY: "abc" }, "crypto")).toMatch(
      /TOKEN_ENCRYPTION_KEY must be base64 of 32 bytes/,
    );
    expect(attempt({ SHOPIFY_API_VERSION: "latest" }, "shopify")).toMatch(/SHOPIFY_API_VERSION/);
    expect(attempt({ SHOPIFY_ADMIN_ORIGIN: "https://example.com" }, "shopify")).toMatch(/SHOPIFY_ADMIN_ORIGIN/);
    expect(attempt({ FACEBOOK_GRAPH_VERSION: "25" }, "facebook")).toMatch(/FACEBOOK_GRAPH_VERSION/);
    expect(attempt({ SPACES_ENDPOINT: "ftp://x" }, "spaces")).toMatch(/SPACES_ENDPOINT/);
    expect(attempt({ ADMIN_TOKEN: "short" }, "admin")).toMatch(/ADMIN_TOKEN/);
    expect(attempt({}, "shopify")).toBe("ok");
  });

  it("requires https:// for every platform, API and Spaces origin, except on loopback", () => {
    const attempt = (name: string, value: string, part: Parameters<typeof config>[1]) => {
      try {
        config({ ...env, [name]: value }, part);
        return "ok";
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
        expect((err as AppError).code).toBe("misconfigured");
        return (err as AppError).message;
      }
    };
    const origins: [string, Parameters<typeof config>[1], string][] = [
      ["SHOPIFY_ADMIN_ORIGIN", "shopify", "{shop}"],
      ["PUBLIC_URL", "shopify", ""],
      ["PUBLIC_URL", "facebook", ""],
      ["FACEBOOK_GRAPH_ORIGIN", "facebook", ""],
      ["FACEBOOK_DIALOG_ORIGIN", "facebook", ""],
      ["CLOUDFLARE_API_ORIGIN", "backup", ""],
      ["SPACES_ENDPOINT", "spaces", ""],
    ];
    for (const [name, part, path] of origins) {
      const refused = new RegExp(`${name} must be an https:// URL`);
      expect(attempt(name, `http://example.com/${path}`, part)).toMatch(refused);
      expect(attempt(name, `http://127.0.0.1.example.com/${path}`, part)).toMatch(refused);
      expect(attempt(name, `http://localhost.evil.test/${path}`, part)).toMatch(refused);
      expect(attempt(name, `http://10.0.0.1:9000/${path}`, part)).toMatch(refused);
      expect(attempt(name, `ws://127.0.0.1/${path}`, part)).toMatch(refused);
      for (const ok of [
        `https://example.com/${path}`,
        `http://127.0.0.1:9001/${path}`,
        `http://localhost:8787/${path}`,
        `http://[::1]:9000/${path}`,
      ]) {
        expect(attempt(name, ok, part)).toBe("ok");
      }
    }
    expect(isSecureOrigin("https://{shop}")).toBe(true);
    expect(isSecureOrigin("http://{shop}")).toBe(false);
  });

  it("applies the contract's defaults to empty vars", () => {
    const cfg = config({ ...env, SHOPIFY_API_VERSION: "", SHOPIFY_ADMIN_ORIGIN: "" }, "shopify");
    expect(cfg.SHOPIFY_API_VERSION).toBe("2026-10");
    expect(cfg.SHOPIFY_ADMIN_ORIGIN).toBe("https://{shop}");
    const fb = config({ ...env, FACEBOOK_GRAPH_ORIGIN: "", FACEBOOK_GRAPH_VERSION: "" }, "facebook");
    expect(fb.FACEBOOK_GRAPH_ORIGIN).toBe("https://graph.facebook.com");
    expect(fb.FACEBOOK_GRAPH_VERSION).toBe("v25.0");
  });

  it("derives the Spaces endpoint from the region, path-style only off Spaces hosts", () => {
    expect(spacesEndpoint({ SPACES_REGION: "ams3", SPACES_ENDPOINT: undefined })).toEqual({
      endpoint: "https://ams3.digitaloceanspaces.com",
      forcePathStyle: false,
    });
    expect(spacesEndpoint({ SPACES_REGION: "nyc3", SPACES_ENDPOINT: "http://127.0.0.1:9000/" })).toEqual({
      endpoint: "http://127.0.0.1:9000",
      forcePathStyle: true,
    });
  });
});
