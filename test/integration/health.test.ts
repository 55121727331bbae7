import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("GET /health", () => {
  it("reports D1 and Spaces as ok", async () => {
    const res = await exports.default.fetch("https://worker.test/health");
    const body = await res.json<any>();
    expect(body).toMatchObject({
      status: "ok",
      d1: { tokens: { ok: true }, sessions: { ok: true } },
      spaces: { ok: true },
    });
    expect(res.status).toBe(200);
  });
});
