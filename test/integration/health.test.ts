import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { resetIsolateCaches } from "../../src/lib/isolate-cache";
import { control } from "../helpers";

const health = () => exports.default.fetch("https://worker.test/health");

describe("GET /health", () => {
  afterEach(async () => {
    await control("spaces", "mode", { mode: "up" });
    resetIsolateCaches();
  });

  it("reports D1 and Spaces as booleans", async () => {
    resetIsolateCaches();
    const res = await health();
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", d1: { tokens: true, sessions: true }, spaces: true });
  });

  it("503 degraded when Spaces is down, with no error text; the details are behind the admin token", async () => {
    await control("spaces", "mode", { mode: "down" });
    resetIsolateCaches();
    const res = await health();
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ status: "degraded", d1: { tokens: true, sessions: true }, spaces: false });
    expect(text).not.toMatch(/bucket|Spaces |HTTP|error/i);

    const anonymous = await exports.default.fetch("https://worker.test/admin/status.json");
    expect(anonymous.status).toBe(401);
    const status = await exports.default.fetch("https://worker.test/admin/status.json", {
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    expect(status.status).toBe(200);
    // What /health keeps to itself: the last error of each probe and the row counts.
    const { details } = await status.json<any>();
    expect(details.last_probe_errors.spaces.error).toMatch(/head-bucket/);
    expect(details.d1.tokens).toMatchObject({ tokens: expect.any(Number), shops: expect.any(Number) });
    expect(details.d1.sessions).toMatchObject({ sessions: expect.any(Number) });
  });

  it("a flood of /health probes Spaces at most once every few seconds", async () => {
    resetIsolateCaches();
    await control("spaces", "mode", { mode: "up" });
    await health();
    // Spaces goes down: the cached probe still answers for the next requests of this isolate.
    await control("spaces", "mode", { mode: "down" });
    const answers = await Promise.all(Array.from({ length: 50 }, () => health().then((r) => r.status)));
    expect(new Set(answers)).toEqual(new Set([200]));
    resetIsolateCaches();
    expect((await health()).status).toBe(503);
  });
});
