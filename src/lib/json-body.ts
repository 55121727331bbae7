import type { HonoRequest } from "hono";
import { validator } from "hono/validator";
import type { z } from "zod";
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

/**
 * Hono's JSON validator with a zod schema: the route reads the parsed body from
 * `c.req.valid("json")` (and a typed client `hc<typeof routes>` knows its shape). Anything else is
 * a 400 saying `usage`, in the one error shape. The body is read whatever its Content-Type says
 * (operators send it with curl), and an empty one counts as `{}`.
 */
export const zodJson = <S extends z.ZodType>(schema: S, usage: string) =>
  validator("json", async (labelled: unknown, c): Promise<z.output<S>> => {
    let body = labelled;
    if (!/^application\/([\w.-]+\+)?json\s*(;|$)/i.test(c.req.header("content-type") ?? "")) {
      try {
        const text = decoder.decode(await c.req.arrayBuffer());
        body = text.trim() ? JSON.parse(text) : {};
      } catch {
        throw badRequest(`Body is not valid JSON. ${usage}`);
      }
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw badRequest(usage);
    return parsed.data;
  });
