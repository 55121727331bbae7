import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { AppError } from "./lib/errors";
import { describeError, log } from "./lib/log";
import { adminRoutes } from "./routes/admin";
import { healthRoutes } from "./routes/health";
import { facebookRoutes } from "./facebook/routes";
import { shopifyRoutes } from "./shopify/routes";

export type AppEnv = { Bindings: Env };

/** Largest request body accepted (webhook deliveries included). */
const MAX_BODY_BYTES = 1024 * 1024;

export const app = new Hono<AppEnv>();

/** Messenger deliveries: Meta batches up to 1,000 entries in one signed body. */
const MAX_WEBHOOK_BODY_BYTES = 8 * 1024 * 1024;

app.use((c, next) => {
  const maxSize = /^\/facebook\/webhook$/.test(c.req.path) ? MAX_WEBHOOK_BODY_BYTES : MAX_BODY_BYTES;
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new AppError("payload_too_large", `Request body is larger than ${maxSize} bytes`);
    },
  })(c, next);
});

app.route("/", healthRoutes);
app.route("/shopify", shopifyRoutes);
app.route("/facebook", facebookRoutes);
app.route("/admin", adminRoutes);

app.notFound((c) =>
  c.json({ error: { code: "not_found", message: `No route for ${c.req.method} ${new URL(c.req.url).pathname}` } }, 404),
);

app.onError((err, c) => {
  if (err instanceof AppError) {
    if (err.status >= 500) log.error(err.message, { path: new URL(c.req.url).pathname, code: err.code });
    return c.json(err.toBody(), err.status);
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    const code = status === 413 ? "payload_too_large" : status < 500 ? "bad_request" : "internal";
    return c.json({ error: { code, message: err.message || "Request failed" } }, status);
  }
  log.error(`Unhandled error: ${describeError(err)}`, { path: new URL(c.req.url).pathname });
  return c.json({ error: { code: "internal", message: "Internal error" } }, 500);
});
