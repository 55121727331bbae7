import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorCode } from "../../lib/errors";
import { ErrorPage, errorView } from "./merchant";
import { respond } from "./respond";

/**
 * The answer to a failed request: the `{"error":{code,message}}` body to programs, a page in words
 * to browsers (chosen from the code and the route, never from the message).
 */
export function errorResponse(
  c: Context,
  body: { error: { code: ErrorCode | "not_found"; message: string } },
  status: ContentfulStatusCode,
) {
  return respond(
    c,
    body,
    () => <ErrorPage status={status} {...errorView(body.error.code, new URL(c.req.url).pathname)} />,
    status,
  );
}
