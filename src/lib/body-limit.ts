import type { Context, MiddlewareHandler } from "hono";
import { AppError } from "./errors";

/**
 * Request bodies over a limit get a 413 JSON error, and the connection stays usable: the rest of
 * the body is read and dropped before the answer (a client that is still sending when the answer
 * comes otherwise sees its connection reset, and a keep-alive connection is lost with it).
 *
 * Why not Hono's `bodyLimit`: it answers 413 without reading the rest, which is that reset. The
 * e2e test (big deliveries under wrangler dev) sends 9 MB bodies, with a declared length and
 * chunked, on one keep-alive connection: both get the 413 and the next request is served on the
 * same connection; before the drain they were reset or answered 503.
 */

/** Beyond the limit, at most this much is drained; a client that sends more loses its connection. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

export const tooLarge = (max: number) => new AppError("payload_too_large", `Request body is larger than ${max} bytes`);

/** Reads and drops the rest of a body (up to DRAIN_LIMIT_BYTES), so the connection stays usable. */
export async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, alreadyRead: number): Promise<void> {
  let read = alreadyRead;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    read += value.byteLength;
    if (read > DRAIN_LIMIT_BYTES) {
      await reader.cancel();
      return;
    }
  }
}

/**
 * Reads a stream to its end into one array, unless it passes `limit` bytes: then how many were
 * read, the rest left in `reader` for the caller to drain or cancel.
 */
export async function readAtMost(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  limit: number,
): Promise<{ bytes: Uint8Array } | { over: number }> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) return { over: size };
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return { bytes };
}

/** A refused body is dropped for at most this long; a client still sending then loses its connection. */
const DROP_FOR_MS = 30_000;
/** The one buffer a refused body is read into, piece after piece. */
const DROP_BUFFER_BYTES = 64 * 1024;

/** Reads and drops a body into one reused buffer (a BYOB reader fills the same memory each time). */
async function dropInPlace(body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader({ mode: "byob" });
  const deadline = Date.now() + DROP_FOR_MS;
  let buffer: ArrayBuffer = new ArrayBuffer(DROP_BUFFER_BYTES);
  let read = 0;
  for (;;) {
    const { done, value } = await reader.read(new Uint8Array(buffer));
    if (done || !value) return;
    read += value.byteLength;
    if (read > DRAIN_LIMIT_BYTES || Date.now() > deadline) return void (await reader.cancel());
    buffer = value.buffer;
  }
}

/**
 * A body refused unread (an unsigned webhook delivery): the answer goes out at once and the body is
 * dropped behind it. The runtime reads no request whose answer is complete, so the answer's body
 * ends only once the request's is dropped: a client still sending gets its answer and keeps its
 * connection, where a body left unread resets it (and a proxy in front may lose the answer).
 */
export const dropUnreadBody: MiddlewareHandler = async (c, next) => {
  await next();
  const unread = c.req.raw.body;
  if (!unread || unread.locked) return;
  const answer = c.res;
  const held = new TransformStream<Uint8Array, Uint8Array>();
  const sent = (async () => {
    if (answer.body) await answer.body.pipeTo(held.writable, { preventClose: true });
    await dropInPlace(unread).catch(() => undefined);
    await held.writable.close();
  })();
  c.executionCtx.waitUntil(sent.catch(() => undefined));
  c.res = new Response(held.readable, answer);
};

/** Limits request bodies to `maxBytes(c)` bytes, whether their length is declared or not. */
export function limitBody(maxBytes: (c: Context) => number): MiddlewareHandler {
  return async (c, next) => {
    const body = c.req.raw.body;
    if (!body) return next();
    const max = maxBytes(c);
    const declared = c.req.raw.headers.get("content-length");
    if (declared !== null && !c.req.raw.headers.has("transfer-encoding")) {
      // The runtime holds a body to its declared length: only the declaration needs checking.
      if (Number(declared) <= max) return next();
      await drain(body.getReader(), 0);
      throw tooLarge(max);
    }
    // Length unknown (chunked): counted while read, and handed on as bytes.
    const reader = body.getReader();
    const read = await readAtMost(reader, max);
    if ("over" in read) {
      await drain(reader, read.over);
      throw tooLarge(max);
    }
    const bytes = read.bytes;
    c.req.raw = new Request(c.req.raw, { body: bytes });
    return next();
  };
}
