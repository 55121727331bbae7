import { Hono } from "hono";
import type { AppEnv } from "./env";
import { HTTPException } from "hono/http-exception";
import { dropUnreadBody, limitBody } from "./lib/body-limit";
import { AppError } from "./lib/errors";
import { describeError, log } from "./lib/log";
import { adminRoutes } from "./http/admin";
import { consoleRoutes } from "./http/console";
import { errorResponse } from "./http/pages/error-response";
import { healthRoutes } from "./http/health";
import { loginRateLimit } from "./http/session";
import { facebookRoutes } from "./http/facebook";
import { shopifyRoutes } from "./http/shopify";

/** Largest request body accepted, but for webhook deliveries. */
const MAX_BODY_BYTES = 1024 * 1024;
/**
 * Webhook deliveries are read by their routes (`readSignedJson`): refused from their headers when
 * unsigned (the body dropped behind the answer: `dropUnreadBody`), hashed as they stream, limited
 * to their own maximum.
 */
const WEBHOOK_PATHS = new Set(["/shopify/webhook", "/facebook/webhook"]);

export const app = new Hono<AppEnv>();

const limitOtherBodies = limitBody(() => MAX_BODY_BYTES);
app.use((c, next) =>
  c.req.method === "POST" && WEBHOOK_PATHS.has(new URL(c.req.url).pathname)
    ? dropUnreadBody(c, next)
    : limitOtherBodies(c, next),
);

// Each login creates a session and a state: a per-client limit before any row is written
// (the Shopify redirects call limitLogin themselves, GET /shopify only when it redirects).
app.use("/facebook/login", loginRateLimit);

app.route("/", healthRoutes);
app.route("/shopify", shopifyRoutes);
app.route("/facebook", facebookRoutes);
app.route("/admin", adminRoutes);
app.route("/admin", consoleRoutes);

app.notFound((c) =>
  errorResponse(
    c,
    { error: { code: "not_found", message: `No route for ${c.req.method} ${new URL(c.req.url).pathname}` } },
    404,
  ),
);

app.onError((err, c) => {
  if (err instanceof AppError) {
    if (err.status >= 500) log.error(err.message, { path: new URL(c.req.url).pathname, code: err.code });
    return errorResponse(c, err.toBody(), err.status);
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    const code = status === 413 ? "payload_too_large" : status < 500 ? "bad_request" : "internal";
    return errorResponse(c, { error: { code, message: err.message || "Request failed" } }, status);
  }
  log.error(`Unhandled error: ${describeError(err)}`, { path: new URL(c.req.url).pathname });
  return errorResponse(c, { error: { code: "internal", message: "Internal error" } }, 500);
});
