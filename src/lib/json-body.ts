import { badRequest } from "./errors";

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Parses a raw request body as UTF-8 JSON; a 400 for anything else. */
export function parseJsonBody(raw: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(raw));
  } catch {
    throw badRequest("Body is not valid JSON");
  }
}

/** Webhooks carry JSON: a Content-Type that says otherwise is a 400 (a missing one is tolerated). */
export function requireJsonContentType(contentType: string | undefined): void {
  if (contentType && !/^application\/json\s*(;|$)/i.test(contentType.trim())) {
    throw badRequest("Content-Type must be application/json");
  }
}
