import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request, type ClientRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectIsolateHeap, heapFigure, type HeapSampler } from "../../dev/isolate-heap";
import { applyLocalMigrations, freePort, freshDevSecrets, startWorker } from "../../dev/local-stack";

/**
 * Webhook deliveries of the largest accepted size against the worker under `wrangler dev`, with the
 * isolate's heap read through wrangler's inspector (dev/isolate-heap.ts). An unsigned one is refused
 * (401) from its headers: the answer comes while the client has sent only the first piece of its
 * body, the body is dropped behind the answer, and the isolate's heap never holds it whole. A signed one is
 * hashed as it streams.
 */

const MiB = 1024 * 1024;
/** The largest body a webhook route accepts (MAX_WEBHOOK_BODY_BYTES). */
const BODY_BYTES = 8 * MiB;
/** Unsigned deliveries sent at once to each route. */
const AT_ONCE = 4;
/** The piece of a body sent before the client waits for an answer. */
const FIRST_PIECE = 64 * 1024;
/** How long the client waits for an answer after the first piece before it sends the rest anyway. */
const EARLY_ANSWER_MS = 3000;
/** How long a sender waits for its connection to take more before it gives up. */
const STALL_MS = 5000;
/**
 * What the isolate may grow by while the unsigned deliveries are refused, against the bytes sent: the
 * bodies pass through the runtime's read buffers piece by piece and are collected as garbage, none is
 * held whole (reading them whole, as the worker once did, grew it by all of them).
 */
const ALLOWED_GROWTH_SHARE = 1 / 2;

const secrets = freshDevSecrets() as Record<"SHOPIFY_API_SECRET" | "FACEBOOK_APP_SECRET", string>;
const dir = mkdtempSync(join(tmpdir(), "unsigned-deliveries-"));
let worker: Awaited<ReturnType<typeof startWorker>>;
let heap: HeapSampler;
let port = 0;

beforeAll(async () => {
  const persistTo = join(dir, "state");
  applyLocalMigrations(persistTo);
  port = await freePort();
  const inspectorPort = await freePort();
  worker = await startWorker({
    port,
    inspectorPort,
    // As deployed: wrangler's own middleware would otherwise read every unread body in the isolate.
    drainUnreadBodies: false,
    // Spaces is not needed here: no delivery below writes to it.
    vars: { ...secrets, SPACES_ENDPOINT: "http://127.0.0.1:9" },
    persistTo,
  });
  heap = await connectIsolateHeap(inspectorPort);
});

afterAll(async () => {
  heap?.close();
  await worker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Delivery {
  status: number;
  text: string;
  /** Whether the answer came before the client sent more than the first piece. */
  early: boolean;
}

/**
 * Writes `body` from `at` on, in pieces, until it ends or the connection is gone or takes nothing
 * for STALL_MS (a sender's own timeout).
 */
async function writeRest(req: ClientRequest, body: Buffer, at: number) {
  for (; at < body.length && !req.destroyed; at += FIRST_PIECE) {
    if (!req.write(body.subarray(at, at + FIRST_PIECE))) {
      const moved = await new Promise<boolean>((resolve) => {
        const go = (value: boolean) => () => {
          clearTimeout(timer);
          req.off("drain", onDrain);
          req.off("close", onClose);
          resolve(value);
        };
        const onDrain = go(true);
        const onClose = go(false);
        const timer = setTimeout(go(false), STALL_MS);
        req.on("drain", onDrain);
        req.on("close", onClose);
      });
      if (!moved) return void req.destroy();
    }
  }
  if (!req.destroyed) await new Promise((r) => req.end(r));
}

/**
 * One POST on its own connection: the headers and the first piece of the body, then a wait for an
 * early answer, then the rest of the body whatever the answer (as a client that does not listen
 * sends it). Resolves once both the answer and the body are through. `chunked` declares no length.
 */
function deliverOnce(path: string, body: Buffer, headers: Record<string, string>, chunked: boolean) {
  const agent = new Agent({ keepAlive: false });
  let sending: Promise<void> | null = null;
  const sendRest = (req: ClientRequest) => (sending ??= writeRest(req, body, FIRST_PIECE));
  return new Promise<Delivery>((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path,
        agent,
        headers: chunked ? headers : { ...headers, "content-length": String(body.length) },
      },
      (res) => {
        const early = sending === null;
        const parts: Buffer[] = [];
        res.on("data", (d: Buffer) => parts.push(d));
        res.on("end", () => {
          const answer = { status: res.statusCode!, text: Buffer.concat(parts).toString(), early };
          void sendRest(req).then(() => resolve(answer));
        });
      },
    );
    // Once answered, the worker may close the connection while the rest is still being sent.
    req.on("error", (err) => (sending ? undefined : reject(err)));
    req.write(body.subarray(0, FIRST_PIECE));
    setTimeout(() => void sendRest(req), EARLY_ANSWER_MS);
  }).finally(() => agent.destroy());
}

/**
 * What `wrangler dev`'s proxy answers (503) when the worker closes a connection the proxy is still
 * writing a body to: the worker's own answer is lost in the local proxy, which Cloudflare does not
 * have, so the delivery is sent again.
 */
const DEV_PROXY_LOST = "Your worker restarted mid-request";
let resentByDevProxy = 0;

async function deliver(path: string, body: Buffer, headers: Record<string, string>, chunked: boolean) {
  for (let attempt = 1; ; attempt++) {
    const answer = await deliverOnce(path, body, headers, chunked);
    if (answer.status !== 503 || !answer.text.startsWith(DEV_PROXY_LOST) || attempt === 3) return answer;
    resentByDevProxy++;
  }
}

/** A JSON body of exactly `bytes` bytes. */
function jsonOf(bytes: number): Buffer {
  const head = '{"object":"page","entry":[],"pad":"';
  return Buffer.from(head + "x".repeat(bytes - head.length - 2) + '"}');
}

const shopifyHeaders = (extra: Record<string, string> = {}) => ({
  "content-type": "application/json",
  "x-shopify-topic": "products/update",
  "x-shopify-shop-domain": "unsigned.myshopify.com",
  "x-shopify-webhook-id": crypto.randomUUID(),
  "x-shopify-triggered-at": new Date().toISOString(),
  "x-shopify-api-version": "2026-10",
  ...extra,
});
const metaHeaders = (extra: Record<string, string> = {}) => ({ "content-type": "application/json", ...extra });
const metaSignature = (body: Buffer) =>
  `sha256=${createHmac("sha256", secrets.FACEBOOK_APP_SECRET).update(body).digest("hex")}`;

describe("webhook bodies under wrangler dev, the isolate's heap read through the inspector", () => {
  it("a signed 8 MiB Messenger delivery, chunked, is hashed as it streams and accepted", async () => {
    const body = jsonOf(BODY_BYTES);
    const before = await heap.read();
    heap.start();
    const answer = await deliver(
      "/facebook/webhook",
      body,
      metaHeaders({ "x-hub-signature-256": metaSignature(body) }),
      true,
    );
    const peak = await heap.stopSampling();
    expect(answer.status, answer.text).toBe(200);
    expect(answer.early).toBe(false);
    console.log(`isolate heap: ${heapFigure(before)} before, peak ${heapFigure(peak)} for one signed 8 MiB delivery`);
  });

  it(`${AT_ONCE} unsigned 8 MiB bodies to each route, plain and chunked: 401 from the headers, the bodies dropped, none held whole`, async () => {
    // The routes' code is loaded and warm before the baseline.
    const small = jsonOf(1024);
    const warm = await deliver(
      "/facebook/webhook",
      small,
      metaHeaders({ "x-hub-signature-256": metaSignature(small) }),
      false,
    );
    expect(warm.status, warm.text).toBe(200);
    const body = jsonOf(BODY_BYTES);
    const before = await heap.read();

    heap.start();
    const answers = await Promise.all([
      ...Array.from({ length: AT_ONCE }, (_, i) => deliver("/shopify/webhook", body, shopifyHeaders(), i % 2 === 1)),
      ...Array.from({ length: AT_ONCE }, (_, i) => deliver("/facebook/webhook", body, metaHeaders(), i % 2 === 1)),
      // A malformed header is no signature either.
      deliver("/facebook/webhook", body, metaHeaders({ "x-hub-signature-256": "sha256=guess" }), false),
      deliver("/shopify/webhook", body, shopifyHeaders({ "x-shopify-hmac-sha256": "not-base64" }), true),
    ]);
    // The last pieces sent have had time to arrive.
    await new Promise((r) => setTimeout(r, 1000));
    const peak = await heap.stopSampling();

    for (const answer of answers) {
      expect(answer, answer.text).toMatchObject({ status: 401, early: true });
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: "unauthorized" } });
    }
    console.log(
      `isolate heap: ${heapFigure(before)} before, peak ${heapFigure(peak)} while ${answers.length} unsigned 8 MiB bodies were refused` +
        ` (${resentByDevProxy} sent again after wrangler dev's proxy lost the answer)`,
    );
    expect(peak - before).toBeLessThan(answers.length * BODY_BYTES * ALLOWED_GROWTH_SHARE);
  });
});
