import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { AppError } from "./lib/errors";
import { describeError, log } from "./lib/log";
import { adminRoutes } from "./routes/admin";
import { consoleRoutes } from "./routes/console";
import { errorResponse } from "./pages/error-response";
import { healthRoutes } from "./routes/health";
import { facebookRoutes } from "./facebook/routes";
import { shopifyRoutes } from "./shopify/routes";

export type AppEnv = { Bindings: Env };

/** Largest request body accepted (webhook deliveries included). */
const MAX_BODY_BYTES = 1024 * 1024;

export const app = new Hono<AppEnv>();

app.use(
  bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new AppError("payload_too_large", `Request body is larger than ${MAX_BODY_BYTES} bytes`);
    },
  }),
);

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
