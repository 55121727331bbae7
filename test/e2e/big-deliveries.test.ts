import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { applyLocalMigrations, freePort, freshDevSecrets, startWorker } from "../../dev/local-stack";

/**
 * Big webhook deliveries against the worker under `wrangler dev`, over one real keep-alive
 * connection: signed bodies up to 8 MiB are accepted on both webhook routes, a larger one gets a
 * 413, and the connection still serves the next request (it used to be reset or answered 503).
 */

const MiB = 1024 * 1024;
const secrets = freshDevSecrets() as Record<"SHOPIFY_API_SECRET" | "FACEBOOK_APP_SECRET", string>;
const dir = mkdtempSync(join(tmpdir(), "big-deliveries-"));
const logs: string[] = [];
let worker: Awaited<ReturnType<typeof startWorker>>;
let port = 0;

beforeAll(async () => {
  const persistTo = join(dir, "state");
  applyLocalMigrations(persistTo);
  port = await freePort();
  // Spaces is not needed here: no delivery below writes to it.
  worker = await startWorker({
    port,
    vars: { ...secrets, SPACES_ENDPOINT: "http://127.0.0.1:9" },
    persistTo,
    debugger: false,
    logFile: false,
    log: (line) => logs.push(line),
  });
});

afterAll(async () => {
  await worker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One connection, kept alive and reused for every request of a test. */
function connection() {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const send = (
    method: string,
    path: string,
    opts: { body?: Buffer; headers?: Record<string, string>; chunked?: boolean } = {},
  ) =>
    new Promise<{ status: number; text: string; reused: boolean; headers: IncomingHttpHeaders }>((resolve, reject) => {
      const headers = { ...opts.headers };
      if (opts.body && !opts.chunked) headers["content-length"] = String(opts.body.length);
      const req = request({ host: "127.0.0.1", port, method, path, agent, headers }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (d: Buffer) => parts.push(d));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            text: Buffer.concat(parts).toString(),
            reused: req.reusedSocket,
            headers: res.headers,
          }),
        );
      });
      req.on("error", reject);
      if (!opts.body) return req.end();
      if (!opts.chunked) return req.end(opts.body);
      // Sent in pieces as a streaming client does, with no declared length.
      void (async () => {
        for (let at = 0; at < opts.body!.length; at += 64 * 1024) {
          if (!req.write(opts.body!.subarray(at, at + 64 * 1024))) await new Promise((r) => req.once("drain", r));
        }
        req.end();
      })().catch(reject);
    });
  return { send, close: () => agent.destroy() };
}

/** A products/update payload of about `bytes` bytes: one product with many variants. */
function productPayload(bytes: number): Buffer {
  const variant = (i: number) => ({ id: 40000000000 + i, title: `Variant ${i}`, sku: `SKU-${i}`, price: "19.99" });
  const count = Math.ceil(bytes / JSON.stringify(variant(1000)).length);
  return Buffer.from(
    JSON.stringify({
      id: 8000000001,
      title: "Big product",
      updated_at: "2026-12-02T08:00:00Z",
      variants: Array.from({ length: count }, (_, i) => variant(i)),
    }),
  );
}

const shopifyHeaders = (body: Buffer, secret = secrets.SHOPIFY_API_SECRET) => ({
  "content-type": "application/json",
  "x-shopify-hmac-sha256": createHmac("sha256", secret).update(body).digest("base64"),
  "x-shopify-topic": "products/update",
  "x-shopify-shop-domain": "big-deliveries.myshopify.com",
  "x-shopify-webhook-id": crypto.randomUUID(),
  "x-shopify-event-id": crypto.randomUUID(),
  "x-shopify-triggered-at": new Date().toISOString(),
  "x-shopify-api-version": "2026-10",
});

const metaHeaders = (body: Buffer) => ({
  "content-type": "application/json",
  "x-hub-signature-256": `sha256=${createHmac("sha256", secrets.FACEBOOK_APP_SECRET).update(body).digest("hex")}`,
});

describe("big deliveries under wrangler dev, on one keep-alive connection", () => {
  it("a 5 MB signed product webhook is accepted, and the next request reuses the connection", async () => {
    const conn = connection();
    const body = productPayload(5 * 1000 * 1000);
    expect(body.length).toBeGreaterThan(5 * 1000 * 1000);
    expect(body.length).toBeLessThan(8 * MiB);
    const first = await conn.send("POST", "/shopify/webhook", { body, headers: shopifyHeaders(body) });
    expect(first.status, first.text).toBe(200);
    // The worker's log reaches this process through wrangler's output, a moment after the answer.
    await vi.waitFor(
      () =>
        expect(logs.join("\n")).toContain(
          "Received products/update event from big-deliveries.myshopify.com: product 8000000001",
        ),
      { timeout: 5000 },
    );
    const next = await conn.send("GET", "/no-such-route");
    expect(next).toMatchObject({ status: 404, reused: true });
    conn.close();
  });

  it.each([
    ["with a declared length", false],
    ["sent chunked, length unknown", true],
  ])("a 9 MB body gets 413 %s, and the next request on the connection works", async (_name, chunked) => {
    const conn = connection();
    const warmup = await conn.send("GET", "/no-such-route");
    expect(warmup.status).toBe(404);
    const body = productPayload(9 * 1000 * 1000);
    expect(body.length).toBeGreaterThan(8 * MiB);
    const big = await conn.send("POST", "/shopify/webhook", { body, headers: shopifyHeaders(body), chunked });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.text)).toMatchObject({ error: { code: "payload_too_large" } });
    expect(big.reused).toBe(true);
    const small = Buffer.from(JSON.stringify({ id: 8000000002, title: "Small" }));
    const next = await conn.send("POST", "/shopify/webhook", { body: small, headers: shopifyHeaders(small) });
    expect(next.status, next.text).toBe(200);
    expect(next.reused).toBe(true);
    conn.close();
  });

  it("a big body is verified before it is parsed: unsigned, 401 (not a parse error)", async () => {
    const conn = connection();
    const body = Buffer.concat([productPayload(5 * 1000 * 1000), Buffer.from("{not json")]);
    const res = await conn.send("POST", "/shopify/webhook", { body, headers: shopifyHeaders(body, "guess") });
    expect(res.status).toBe(401);
    conn.close();
  });

  it("Messenger: a 5 MB signed delivery is accepted, 9 MB gets 413, the connection stays usable", async () => {
    const conn = connection();
    // Meta batches up to 1,000 entries; here each carries a change of a field the worker ignores.
    const delivery = (bytes: number) => {
      const pad = "x".repeat(Math.ceil(bytes / 1000));
      const entry = (i: number) => ({
        id: "100000000000001",
        time: 1764662400000 + i,
        changes: [{ field: "feed", value: { item: "status", message: pad } }],
      });
      return Buffer.from(JSON.stringify({ object: "page", entry: Array.from({ length: 1000 }, (_, i) => entry(i)) }));
    };
    const ok = delivery(5 * 1000 * 1000);
    const accepted = await conn.send("POST", "/facebook/webhook", { body: ok, headers: metaHeaders(ok) });
    expect(accepted.status, accepted.text).toBe(200);
    const big = delivery(9 * 1000 * 1000);
    const refused = await conn.send("POST", "/facebook/webhook", { body: big, headers: metaHeaders(big) });
    expect(refused.status).toBe(413);
    const next = await conn.send("GET", "/no-such-route");
    expect(next).toMatchObject({ status: 404, reused: true });
    conn.close();
  });

  it("elsewhere the limit stays 1 MiB", async () => {
    const conn = connection();
    const body = Buffer.alloc(2 * MiB, "a");
    const res = await conn.send("POST", "/facebook/data-deletion", {
      body,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text)).toMatchObject({ error: { message: "Request body is larger than 1048576 bytes" } });
    const next = await conn.send("GET", "/no-such-route");
    expect(next).toMatchObject({ status: 404, reused: true });
    conn.close();
  });
});
