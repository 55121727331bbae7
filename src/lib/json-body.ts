import type { HonoRequest } from "hono";
import { badRequest, unauthorized } from "./errors";

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Parses a raw request body as UTF-8 JSON; a 400 for anything else. */
function parseJsonBody(raw: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(raw));
  } catch {
    throw badRequest("Body is not valid JSON");
  }
}

/** Webhooks carry JSON: a Content-Type that says otherwise is a 400 (a missing one is tolerated). */
function requireJsonContentType(contentType: string | undefined): void {
  if (contentType && !/^application\/json\s*(;|$)/i.test(contentType.trim())) {
    throw badRequest("Content-Type must be application/json");
  }
}

/**
 * A webhook's JSON body, read once as raw bytes: the signature is checked on exactly those bytes
 * (401 when it does not verify), then the Content-Type and the JSON (400).
 */
export async function readSignedJson(
  req: HonoRequest,
  verify: (raw: Uint8Array) => Promise<boolean>,
  failure: string,
): Promise<unknown> {
  const raw = new Uint8Array(await req.arrayBuffer());
  if (!(await verify(raw))) throw unauthorized(failure);
  requireJsonContentType(req.header("content-type"));
  return parseJsonBody(raw);
}
