import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { config } from "../../src/config";
import { AppError } from "../../src/lib/errors";
import { spacesEndpoint } from "../../src/storage/spaces";

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
