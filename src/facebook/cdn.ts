/**
 * Meta's CDN: the bytes behind an attachment's or a profile picture's URL, copied into Spaces
 * before the URL expires.
 */
import { readAtMost } from "../lib/body-limit";
import { PlatformError } from "../lib/platform-error";
import { spaces } from "../services";

/** What became of one copy (`stored`: its bytes are in Spaces at `path`, under the given folder). */
export type CopyOutcome =
  | { status: "stored"; path: string; contentType: string; size: number }
  | { status: "expired" | "too_large" | "unavailable"; size?: number };

/** The largest attachment copied: Meta's own limit for a Messenger attachment (25 MB). */
export const MAX_COPY_BYTES = 25 * 1024 * 1024;

/** What Meta's CDN answers for a URL past its expiry (signed URLs): the bytes are gone for good. */
const EXPIRED_STATUSES = new Set([403, 404, 410]);

/** File name endings for the content types a customer sends most; anything else keeps none. */
const EXTENSIONS: Record<string, string> = {
  "image/jpeg": ".jpg",
  "image/png": ".png",
  "image/gif": ".gif",
  "image/webp": ".webp",
  "video/mp4": ".mp4",
  "audio/mpeg": ".mp3",
  "audio/mp4": ".m4a",
  "audio/aac": ".aac",
  "application/pdf": ".pdf",
};
export const extensionOf = (contentType: string) => EXTENSIONS[contentType] ?? "";

/** Reads a body of unknown length, at most `limit` bytes; null past it. */
async function readBounded(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array | null> {
  const reader = body.getReader();
  const read = await readAtMost(reader, limit);
  if ("bytes" in read) return read.bytes;
  await reader.cancel();
  return null;
}

/**
 * Copies the bytes at a Meta CDN URL to `key` (private, with the answer's content type), streamed
 * when the length is known. An expired URL and one over MAX_COPY_BYTES are outcomes, not
 * failures; a network fault or a 5xx throws `transient`, so the caller tries again. The URL never
 * goes into an error message (it is a customer's file).
 */
export async function copyUrlToSpaces(env: Env, url: string, key: string, pathFor: (type: string) => string) {
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: "*/*" } });
  } catch (err) {
    throw new PlatformError("facebook", "transient", `download failed (${err instanceof Error ? err.name : "error"})`);
  }
  const discard = () => res.body?.cancel().catch(() => undefined);
  if (EXPIRED_STATUSES.has(res.status)) {
    await discard();
    return { status: "expired" } as const;
  }
  if (res.status === 429 || res.status >= 500) {
    await discard();
    throw new PlatformError("facebook", "transient", `download answered ${res.status}`, { status: res.status });
  }
  if (!res.ok || !res.body) {
    await discard();
    return { status: "unavailable" } as const;
  }
  const declared = res.headers.get("content-length");
  const length = declared !== null && /^\d+$/.test(declared) ? Number(declared) : null;
  if (length !== null && length > MAX_COPY_BYTES) {
    await discard();
    return { status: "too_large", size: length } as const;
  }
  const contentType =
    res.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase() || "application/octet-stream";
  const path = pathFor(contentType);
  if (length !== null) {
    await spaces(env).put(key + path, res.body, { contentLength: length, contentType });
    return { status: "stored", path, contentType, size: length } as const;
  }
  const bytes = await readBounded(res.body, MAX_COPY_BYTES);
  if (!bytes) return { status: "too_large" } as const;
  await spaces(env).put(key + path, bytes, { contentType });
  return { status: "stored", path, contentType, size: bytes.byteLength } as const;
}
