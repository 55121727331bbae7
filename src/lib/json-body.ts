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
