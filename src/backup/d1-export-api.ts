import { z } from "zod";
import { sleep } from "../lib/retry";
import { redact } from "../lib/log";

/** The Cloudflare API's answer to an export poll (an answer of another shape is a failed poll). */
const exportAnswerSchema = z.object({
  success: z.boolean().optional(),
  errors: z.array(z.object({ message: z.string() })).nullish(),
  result: z
    .object({
      status: z.string().nullish(),
      at_bookmark: z.string().nullish(),
      error: z.string().nullish(),
      result: z.object({ signed_url: z.string().nullish() }).nullish(),
    })
    .nullish(),
});

/**
 * The D1 export REST API (what `wrangler d1 export --remote` calls): POST
 * `/client/v4/accounts/{account}/d1/database/{id}/export` with `output_format: "polling"` until the
 * status is `complete`, then the dump is read from `result.signed_url`, as a stream.
 */
export async function* exportViaApi(opts: {
  origin: string;
  accountId: string;
  apiToken: string;
  databaseId: string;
  pollMs?: number;
  maxPolls?: number;
}): AsyncGenerator<Uint8Array> {
  redact(opts.apiToken);
  const url = `${opts.origin}/client/v4/accounts/${encodeURIComponent(opts.accountId)}/d1/database/${encodeURIComponent(opts.databaseId)}/export`;
  let bookmark: string | undefined;
  let signedUrl: string | undefined;
  for (let poll = 0; poll < (opts.maxPolls ?? 300); poll++) {
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${opts.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ output_format: "polling", ...(bookmark ? { current_bookmark: bookmark } : {}) }),
    });
    const parsed = exportAnswerSchema.safeParse(await res.json().catch(() => null));
    const body = parsed.success ? parsed.data : null;
    if (!res.ok || !body?.success || !body.result) {
      const detail = body?.errors?.map((e) => e.message).join("; ") ?? `HTTP ${res.status}`;
      throw new Error(`D1 export API answered ${res.status}: ${detail}`);
    }
    const { status, at_bookmark, error, result } = body.result;
    if (status === "complete" && result?.signed_url) {
      signedUrl = result.signed_url;
      break;
    }
    if (status === "error") throw new Error(`D1 export failed: ${error ?? "unknown error"}`);
    bookmark = at_bookmark ?? bookmark;
    await sleep(opts.pollMs ?? 1000);
  }
  if (!signedUrl) throw new Error("D1 export did not complete in time");
  const dump = await fetch(signedUrl);
  if (!dump.ok || !dump.body) throw new Error(`D1 export download answered ${dump.status}`);
  const reader = dump.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}
