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

/** How long the runtime may go on dropping a refused body after the answer. */
const DISCARD_FOR_MS = 30_000;

/**
 * A body refused unread (an unsigned webhook delivery): after the answer, the runtime reads and drops
 * it by piping it to a native sink, so it never passes through the isolate's heap, and a client still
 * sending gets the answer and keeps its connection instead of seeing it reset.
 */
export function discardUnread(body: ReadableStream | null, waitUntil: (work: Promise<unknown>) => void): void {
  if (!body) return;
  const sink = new crypto.DigestStream("SHA-256");
  waitUntil(body.pipeTo(sink, { signal: AbortSignal.timeout(DISCARD_FOR_MS) }).catch(() => undefined));
}

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
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await drain(reader, size);
        throw tooLarge(max);
      }
      chunks.push(value);
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.byteLength;
    }
    c.req.raw = new Request(c.req.raw, { body: bytes });
    return next();
  };
}
