import { validator } from "hono/validator";
import type { z } from "zod";
import { drain, tooLarge } from "./body-limit";
import { badRequest, unauthorized } from "./errors";
import { streamingVerifier, type WebhookSignature } from "./signatures";

/**
 * Largest signed webhook delivery: a Shopify product is a whole REST resource (up to 2,048
 * variants, several MB) and Meta batches up to 1,000 entries in one delivery.
 */
export const MAX_WEBHOOK_BODY_BYTES = 8 * 1024 * 1024;

/** Webhooks carry JSON: a Content-Type that says otherwise is a 400 (a missing one is tolerated). */
function requireJsonContentType(contentType: string | null): void {
  if (contentType && !/^application\/json\s*(;|$)/i.test(contentType.trim())) {
    throw badRequest("Content-Type must be application/json");
  }
}

/**
 * A webhook delivery's JSON body. Without a well-formed signature header (`signature` null) it is
 * refused (401) before its body is read (then dropped behind the answer: `dropUnreadBody`).
 * Otherwise the body is read once, as it streams: each chunk is hashed and decoded as it arrives and
 * then dropped, so no copy of the raw bytes is held; over MAX_WEBHOOK_BODY_BYTES is a 413, a
 * signature that does not verify a 401, then the Content-Type and the JSON are checked (400).
 */
export async function readSignedJson(
  req: Request,
  signature: WebhookSignature | null,
  failure: string,
): Promise<unknown> {
  if (!signature) throw unauthorized(failure);
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_WEBHOOK_BODY_BYTES) {
    if (req.body) await drain(req.body.getReader(), 0);
    throw tooLarge(MAX_WEBHOOK_BODY_BYTES);
  }
  const verifier = streamingVerifier(signature);
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  let text = "";
  let utf8 = true;
  let size = 0;
  const reader = req.body?.getReader();
  for (;;) {
    if (!reader) break;
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_WEBHOOK_BODY_BYTES) {
      await drain(reader, size);
      throw tooLarge(MAX_WEBHOOK_BODY_BYTES);
    }
    verifier.update(value);
    if (!utf8) continue;
    try {
      text += decoder.decode(value, { stream: true });
    } catch {
      // Not text: still hashed to the end, so a forgery gets its 401 before this 400.
      utf8 = false;
      text = "";
    }
  }
  if (!verifier.matches()) throw unauthorized(failure);
  requireJsonContentType(req.headers.get("content-type"));
  try {
    if (!utf8) throw new Error("not UTF-8");
    return JSON.parse(text + decoder.decode());
  } catch {
    throw badRequest("Body is not valid JSON");
  }
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
        const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(await c.req.arrayBuffer());
        body = text.trim() ? JSON.parse(text) : {};
      } catch {
        throw badRequest(`Body is not valid JSON. ${usage}`);
      }
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw badRequest(usage);
    return parsed.data;
  });
