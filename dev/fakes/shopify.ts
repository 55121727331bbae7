import { randomBytes } from "node:crypto";
import {
  GraphQLError,
  execute,
  parse,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLFormattedError,
} from "graphql";
import type { IncomingMessage } from "node:http";
import { json, listen, type FakeResponse } from "./http";
import { bulkJsonl, hasConnection } from "./shopify-bulk";
import { consentPage, hostParam, oauthErrorPage, signedCallbackQuery } from "./shopify-consent";
import { SINGLE_QUERY_MAX_COST, actualQueryCost, requestedQueryCost } from "./shopify-cost";
import { adminSchema } from "./shopify-schema";
import {
  connection,
  editProduct,
  makeProduct,
  productNode,
  type ConnectionArgs,
  type Context,
  type ProductEdit,
  type ProductShape,
  type Raw,
} from "./shopify-catalogue";

/**
 * A fake Shopify for one or many shops that behaves as Shopify documents it:
 * - `GET /{shop}/admin/oauth/authorize`: the consent screen; "Install app" redirects to
 *   `redirect_uri` with `code, hmac, host, shop, state, timestamp`, signed as Shopify signs;
 * - `POST /{shop}/admin/oauth/access_token`: code → expiring offline token + refresh token
 *   (`expiring: "1"`), and `grant_type: refresh_token` (the refresh token is replaced at each use);
 * - `POST /{shop}/admin/api/{version}/graphql.json`: every document is parsed, validated and executed
 *   with graphql-js against a subset of the Admin API schema (shopify-schema.ts); its cost is computed
 *   from the document (shopify-cost.ts), refused over 1,000 points (`MAX_COST_EXCEEDED`) before it
 *   runs, and taken from a leaky bucket per shop whose size and restore rate follow the shop's plan
 *   (`THROTTLED` when short); `extensions.cost` on every answer;
 * - bulk operations (`bulkOperationRunQuery`): run without the cost limit, CREATED → RUNNING →
 *   COMPLETED as they are polled, the JSONL served at the operation's `url`; at most 5 running per
 *   shop (`OPERATION_IN_PROGRESS` beyond; `runningBulk` leaves some running, `finishBulk` ends them);
 *   the JSONL's storage can answer 503 (`faults` with `bulkDownloads: n`);
 * - faults on demand: HTTP 429 with `Retry-After`, 5xx, slow answers; a shop's grant revoked
 *   (`/_control/revoke-tokens`: 401 for its tokens, its refresh token refused).
 * Tests steer it through `/_control/*`.
 */

/** Restore rate (points a second) per plan, from Shopify's rate-limit table; the bucket holds 20 s of it. */
export const PLANS = {
  standard: { restoreRate: 100, displayName: "Basic" },
  advanced: { restoreRate: 200, displayName: "Advanced" },
  plus: { restoreRate: 1000, displayName: "Shopify Plus" },
  enterprise: { restoreRate: 2000, displayName: "Commerce Components" },
} as const;
export type Plan = keyof typeof PLANS;
const BUCKET_SECONDS = 20;
/** Bulk query operations that may run at once per shop (API 2026-01 and later). */
const MAX_CONCURRENT_BULK = 5;
/** Ids one `nodes` query may ask for. */
const NODES_MAX = 250;

interface Webhook {
  id: string;
  topic: string;
  callbackUrl: string;
  format: string;
  includeFields: string[];
  createdAt: string;
}

interface BulkOp {
  id: string;
  status: "CREATED" | "RUNNING" | "COMPLETED" | "FAILED";
  query: string;
  document: DocumentNode;
  createdAt: string;
  completedAt: string | null;
  objectCount: number;
  rootObjectCount: number;
  file: string | null;
  fileKey: string | null;
  fail: boolean;
}

interface ShopState {
  domain: string;
  products: Raw[];
  /** Products made so far (a created one gets the next index). */
  madeProducts: number;
  /** This shop's Admin API requests and the points they took. */
  calls: { graphql: number; points: number };
  accessTokens: Map<string, number>;
  refreshTokens: Set<string>;
  codes: Set<string>;
  webhooks: Webhook[];
  nextWebhookId: number;
  available: number;
  lastRestore: number;
  restoreRate: number;
  maximumAvailable: number;
  plan: Plan;
  name: string;
  bulkOps: BulkOp[];
  failNextBulk: boolean;
  /** Shopify's single-query limit; a test may lower it to see a client shrink its pages. */
  maxQueryCost: number;
}

/** An operation Shopify accepted for a shop, as `bulkOperationRunQuery` creates it. */
function newBulkOp(
  s: ShopState,
  query: string,
  document: DocumentNode,
  status: BulkOp["status"],
  fail = false,
): BulkOp {
  const op: BulkOp = {
    id: `gid://shopify/BulkOperation/${Date.now()}${s.bulkOps.length}`,
    status,
    query,
    document,
    createdAt: new Date().toISOString(),
    completedAt: null,
    objectCount: 0,
    rootObjectCount: 0,
    file: null,
    fileKey: null,
    fail,
  };
  s.bulkOps.push(op);
  return op;
}

const isRunning = (op: BulkOp) => op.status === "CREATED" || op.status === "RUNNING";

export interface ShopifyFakeOptions {
  apiKey: string;
  apiSecret: string;
  port?: number;
  /** The app's name on the consent screen. */
  appName?: string;
}

const webhookNode = (w: Webhook) => ({
  __typename: "WebhookSubscription",
  id: w.id,
  topic: w.topic,
  format: w.format,
  includeFields: w.includeFields,
  endpoint: { __typename: "WebhookHttpEndpoint", callbackUrl: w.callbackUrl },
  createdAt: w.createdAt,
  updatedAt: w.createdAt,
});

/** Shopify's wording and codes for the validation errors an app meets. */
function shopifyError(err: GraphQLError): GraphQLFormattedError {
  const locations = err.locations ? [...err.locations] : undefined;
  let m = /^Cannot query field "([^"]+)" on type "([^"]+)"/.exec(err.message);
  if (m)
    return {
      message: `Field '${m[1]}' doesn't exist on type '${m[2]}'`,
      locations,
      extensions: { code: "undefinedField", typeName: m[2], fieldName: m[1] },
    };
  m = /^Unknown argument "([^"]+)" on field "[^".]+\.([^"]+)"/.exec(err.message);
  if (m)
    return {
      message: `Field '${m[2]}' doesn't accept argument '${m[1]}'`,
      locations,
      extensions: { code: "argumentNotAccepted", name: m[2], typeName: "Field", argumentName: m[1] },
    };
  m = /^Field "([^"]+)" argument "([^"]+)" of type "[^"]+" is required/.exec(err.message);
  if (m)
    return {
      message: `Field '${m[1]}' is missing required arguments: ${m[2]}`,
      locations,
      extensions: { code: "missingRequiredArguments", className: "Field", name: m[1], arguments: m[2] },
    };
  return { message: err.message, locations };
}

export async function startShopifyFake(opts: ShopifyFakeOptions) {
  const schema = adminSchema();
  const shops = new Map<string, ShopState>();
  const bulkFiles = new Map<string, BulkOp>();
  let faults: { kind: "429" | "500" | "slow"; times: number; retryAfter?: string; delayMs?: number }[] = [];
  /** Bulk result downloads still to answer 503, as the storage behind the signed URL can. */
  let bulkDownloadFaults = 0;
  let tokenTtlSeconds = 3600;
  const freshCalls = () => ({
    graphql: 0,
    token: 0,
    refresh: 0,
    throttled: 0,
    costExceeded: 0,
    bulkRuns: 0,
    bulkDownloads: 0,
    /** Points taken from the buckets (actualQueryCost summed). */
    points: 0,
  });
  const calls = freshCalls();
  /** Every token handed out, so a leak check can look for them. */
  const issued: string[] = [];
  let origin = "";

  const setPlan = (s: ShopState, plan: Plan, restoreRate?: number) => {
    s.plan = plan;
    s.restoreRate = restoreRate ?? PLANS[plan].restoreRate;
    s.maximumAvailable = s.restoreRate * BUCKET_SECONDS;
    s.available = s.maximumAvailable;
    s.lastRestore = Date.now();
  };

  const shopState = (shop: string): ShopState => {
    let s = shops.get(shop);
    if (!s) {
      s = {
        domain: shop,
        products: [],
        madeProducts: 0,
        calls: { graphql: 0, points: 0 },
        accessTokens: new Map(),
        refreshTokens: new Set(),
        codes: new Set(),
        webhooks: [],
        nextWebhookId: 1,
        available: 0,
        lastRestore: 0,
        restoreRate: 0,
        maximumAvailable: 0,
        plan: "standard",
        name: shop.split(".")[0]!,
        bulkOps: [],
        failNextBulk: false,
        maxQueryCost: SINGLE_QUERY_MAX_COST,
      };
      setPlan(s, "standard");
      shops.set(shop, s);
    }
    return s;
  };

  const issueToken = (s: ShopState) => {
    const access = `shpua_${randomBytes(16).toString("hex")}`;
    const refresh = `shprt_${randomBytes(16).toString("hex")}`;
    issued.push(access, refresh);
    s.accessTokens.set(access, Date.now() + tokenTtlSeconds * 1000);
    s.refreshTokens.add(refresh);
    return {
      access_token: access,
      scope: "read_products",
      expires_in: tokenTtlSeconds,
      refresh_token: refresh,
      refresh_token_expires_in: 7776000,
    };
  };

  const restore = (s: ShopState) => {
    const now = Date.now();
    s.available = Math.min(s.maximumAvailable, s.available + ((now - s.lastRestore) / 1000) * s.restoreRate);
    s.lastRestore = now;
  };

  const throttleStatus = (s: ShopState) => ({
    maximumAvailable: s.maximumAvailable,
    currentlyAvailable: Math.floor(s.available),
    restoreRate: s.restoreRate,
  });

  const bulkNode = (op: BulkOp) => ({
    __typename: "BulkOperation",
    id: op.id,
    status: op.status,
    errorCode: op.status === "FAILED" ? "INTERNAL_SERVER_ERROR" : null,
    type: "QUERY",
    query: op.query,
    createdAt: op.createdAt,
    completedAt: op.completedAt,
    objectCount: String(op.objectCount),
    rootObjectCount: String(op.rootObjectCount),
    fileSize: op.file === null ? null : String(Buffer.byteLength(op.file)),
    url: op.fileKey ? `${origin}/_bulk/${op.fileKey}.jsonl` : null,
    partialDataUrl: null,
  });

  /** A bulk operation moves one step each time it is looked at: CREATED → RUNNING → COMPLETED. */
  function advance(s: ShopState, op: BulkOp) {
    if (op.status === "CREATED") op.status = "RUNNING";
    else if (op.status === "RUNNING") {
      op.completedAt = new Date().toISOString();
      if (op.fail) {
        op.status = "FAILED";
        return;
      }
      const result = execute({ schema, document: op.document, rootValue: root(s), contextValue: { bulk: true } });
      const lines = bulkJsonl(schema, op.document, (result as ExecutionResult).data ?? {});
      op.objectCount = lines.length;
      op.rootObjectCount = lines.filter((l) => !l.includes('"__parentId":')).length;
      op.file = lines.length ? `${lines.join("\n")}\n` : null;
      op.fileKey = lines.length ? randomBytes(12).toString("hex") : null;
      if (op.fileKey) bulkFiles.set(op.fileKey, op);
      op.status = "COMPLETED";
    }
  }

  /** The resolvers of one shop: QueryRoot and Mutation fields. */
  function root(s: ShopState) {
    const shopDomain = s.domain;
    const node = (id: string) => {
      const op = s.bulkOps.find((o) => o.id === id);
      if (op) {
        advance(s, op);
        return bulkNode(op);
      }
      const hook = s.webhooks.find((w) => w.id === id);
      if (hook) return webhookNode(hook);
      const product = s.products.find((p) => p.id === id);
      return product ? productNode(product) : null;
    };
    return {
      shop: {
        __typename: "Shop",
        id: `gid://shopify/Shop/${shopDomain.length}`,
        name: s.name,
        email: `owner@${shopDomain}`,
        contactEmail: `owner@${shopDomain}`,
        myshopifyDomain: shopDomain,
        primaryDomain: { id: "gid://shopify/Domain/1", url: `https://${shopDomain}`, host: shopDomain },
        currencyCode: "USD",
        description: null,
        ianaTimezone: "UTC",
        plan: { displayName: PLANS[s.plan].displayName, partnerDevelopment: false, shopifyPlus: s.plan === "plus" },
      },
      product: ({ id }: { id: string }) => {
        const product = s.products.find((p) => p.id === id);
        return product ? productNode(product) : null;
      },
      products: (args: ConnectionArgs, ctx: Context) => connection(s.products.map(productNode), args, ctx),
      productsCount: ({ limit }: { limit?: number | null }) => {
        const total = s.products.length;
        return limit != null && total > limit
          ? { count: limit, precision: "AT_LEAST" }
          : { count: total, precision: "EXACT" };
      },
      webhookSubscriptions: (
        args: ConnectionArgs & { topics?: string[] | null; callbackUrl?: string | null; format?: string | null },
        ctx: Context,
      ) =>
        connection(
          s.webhooks
            .filter((w) => !args.topics || args.topics.includes(w.topic))
            .filter((w) => !args.callbackUrl || w.callbackUrl === args.callbackUrl)
            .filter((w) => !args.format || w.format === args.format)
            .map(webhookNode),
          args,
          ctx,
        ),
      node: ({ id }: { id: string }) => node(id),
      // As Shopify: in the order asked, null where nothing has the id; at most NODES_MAX ids.
      nodes: ({ ids }: { ids: string[] }) => {
        if (ids.length > NODES_MAX) throw new Error(`The input must not contain more than ${NODES_MAX} values.`);
        return ids.map(node);
      },
      currentBulkOperation: () => {
        const op = s.bulkOps.at(-1);
        if (!op) return null;
        advance(s, op);
        return bulkNode(op);
      },
      webhookSubscriptionCreate: ({
        topic,
        webhookSubscription: input,
      }: {
        topic: string;
        webhookSubscription: { callbackUrl?: string | null; format?: string | null; includeFields?: string[] | null };
      }) => {
        const callbackUrl = input.callbackUrl ?? "";
        const taken = s.webhooks.some((w) => w.topic === topic && w.callbackUrl === callbackUrl);
        if (taken || !/^https?:\/\/[^/]/.test(callbackUrl)) {
          return {
            webhookSubscription: null,
            userErrors: [
              {
                field: ["webhookSubscription", "callbackUrl"],
                message: taken ? "Address for this topic has already been taken" : "Address is invalid",
              },
            ],
          };
        }
        const hook: Webhook = {
          id: `gid://shopify/WebhookSubscription/${s.nextWebhookId++}`,
          topic,
          callbackUrl,
          format: input.format ?? "JSON",
          includeFields: input.includeFields ?? [],
          createdAt: new Date().toISOString(),
        };
        s.webhooks.push(hook);
        return { webhookSubscription: webhookNode(hook), userErrors: [] };
      },
      webhookSubscriptionDelete: ({ id }: { id: string }) => {
        const index = s.webhooks.findIndex((w) => w.id === id);
        if (index < 0)
          return {
            deletedWebhookSubscriptionId: null,
            userErrors: [{ field: ["id"], message: "Webhook subscription does not exist" }],
          };
        s.webhooks.splice(index, 1);
        return { deletedWebhookSubscriptionId: id, userErrors: [] };
      },
      bulkOperationRunQuery: ({ query }: { query: string }) => {
        const invalid = (message: string) => ({
          bulkOperation: null,
          userErrors: [{ code: "INVALID", field: ["query"], message }],
        });
        let document: DocumentNode;
        try {
          document = parse(query);
        } catch (err) {
          return invalid(`Invalid bulk query: ${(err as Error).message}`);
        }
        const errors = validate(schema, document);
        if (errors.length) return invalid(`Invalid bulk query: ${shopifyError(errors[0]!).message}`);
        if (!hasConnection(schema, document)) return invalid("Bulk queries must contain at least one connection.");
        const running = s.bulkOps.filter(isRunning);
        if (running.length >= MAX_CONCURRENT_BULK)
          return {
            bulkOperation: null,
            userErrors: [
              {
                code: "OPERATION_IN_PROGRESS",
                field: null,
                message: `A bulk query operation for this app and shop is already in progress: ${running[0]!.id}.`,
              },
            ],
          };
        calls.bulkRuns++;
        const op = newBulkOp(s, query, document, "CREATED", s.failNextBulk);
        s.failNextBulk = false;
        return { bulkOperation: bulkNode(op), userErrors: [] };
      },
    };
  }

  /** One GraphQL request: parse, validate, cost, bucket, execute, refund the unused points. */
  function graphql(s: ShopState, query: string, variables: Record<string, unknown>, operationName?: string) {
    restore(s);
    const answer = (body: Record<string, unknown>, requested: number, actual: number | null) =>
      json({
        ...body,
        extensions: {
          cost: { requestedQueryCost: requested, actualQueryCost: actual, throttleStatus: throttleStatus(s) },
        },
      });
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch (err) {
      const e = err as GraphQLError;
      return answer({ errors: [{ message: e.message, locations: e.locations }] }, 0, 0);
    }
    const invalid = validate(schema, document);
    if (invalid.length) return answer({ errors: invalid.map(shopifyError) }, 0, 0);
    const requested = requestedQueryCost(schema, document, variables, operationName);
    if (requested > s.maxQueryCost) {
      calls.costExceeded++;
      return answer(
        {
          errors: [
            {
              message: `Query cost is ${requested}, which exceeds the single query max cost limit (${s.maxQueryCost}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n`,
              extensions: { code: "MAX_COST_EXCEEDED", cost: requested, maxCost: s.maxQueryCost },
            },
          ],
        },
        requested,
        null,
      );
    }
    if (requested > s.available) {
      calls.throttled++;
      return answer(
        {
          errors: [
            {
              message: "Throttled",
              extensions: { code: "THROTTLED", documentation: "https://shopify.dev/api/usage/rate-limits" },
            },
          ],
        },
        requested,
        null,
      );
    }
    s.available -= requested;
    const result = execute({
      schema,
      document,
      rootValue: root(s),
      contextValue: { bulk: false },
      variableValues: variables,
      operationName,
    }) as ExecutionResult;
    const actual = Math.min(requested, actualQueryCost(schema, document, result.data, variables, operationName));
    s.available = Math.min(s.maximumAvailable, s.available + (requested - actual));
    calls.points += actual;
    s.calls.points += actual;
    const body: Record<string, unknown> = {};
    if (result.errors?.length) body.errors = result.errors.map((e) => e.toJSON());
    body.data = result.data ?? null;
    return answer(body, requested, actual);
  }

  /** The consent screen and the merchant's click on "Install app". */
  function authorize(shop: string, url: URL, approve: boolean): FakeResponse {
    const html = (text: string, status = 200): FakeResponse => ({
      status,
      text,
      headers: { "content-type": "text/html; charset=utf-8" },
    });
    const q = url.searchParams;
    const clientId = q.get("client_id") ?? "";
    if (clientId !== opts.apiKey)
      return html(oauthErrorPage(`Could not find Shopify API application with api_key ${clientId}`), 400);
    const redirectUri = q.get("redirect_uri") ?? "";
    if (!/^https?:\/\/[^/]/.test(redirectUri))
      return html(oauthErrorPage("The redirect_uri is missing or not a valid URL."), 400);
    const fields = {
      client_id: clientId,
      scope: q.get("scope") ?? "",
      redirect_uri: redirectUri,
      state: q.get("state") ?? "",
    };
    if (!approve)
      return html(
        consentPage({
          appName: opts.appName ?? "Messenger sales bot",
          shop,
          scope: fields.scope,
          approveAction: `/${shop}/admin/oauth/authorize/approve`,
          hidden: fields,
        }),
      );
    const code = randomBytes(16).toString("hex");
    shopState(shop).codes.add(code);
    const params: Record<string, string> = {
      code,
      host: hostParam(shop),
      shop,
      timestamp: String(Math.floor(Date.now() / 1000)),
    };
    if (fields.state) params.state = fields.state;
    const target = new URL(redirectUri);
    const query = signedCallbackQuery(params, opts.apiSecret);
    return { status: 302, text: "", headers: { location: `${target.origin}${target.pathname}?${query}` } };
  }

  /** The bulk result at its signed URL; its storage can answer 503 (`faults` with `bulkDownloads: n`). */
  function bulkDownload(key: string): FakeResponse {
    const op = bulkFiles.get(key);
    if (!op?.file) return json({ error: "NoSuchKey" }, 404);
    if (bulkDownloadFaults > 0) {
      bulkDownloadFaults--;
      return { status: 503, text: "Service Unavailable", headers: { "content-type": "text/plain" } };
    }
    calls.bulkDownloads++;
    return { text: op.file, headers: { "content-type": "application/jsonl" } };
  }

  /** A fault a test asked for, taken before the shop's endpoints answer; null when none is due. */
  async function dueFault(): Promise<FakeResponse | null> {
    const fault = faults[0];
    if (!fault) return null;
    if (--fault.times <= 0) faults.shift();
    if (fault.kind === "429")
      return json({ errors: "Exceeded 2 calls per second for api client." }, 429, {
        "retry-after": fault.retryAfter ?? "1.0",
      });
    if (fault.kind === "500") return json({ errors: "Internal Server Error" }, 500);
    await new Promise((r) => setTimeout(r, fault.delayMs ?? 2000));
    return null;
  }

  /** `POST /{shop}/admin/oauth/access_token`: a code or a refresh token for a new pair. */
  function accessToken(s: ShopState, payload: Record<string, any>): FakeResponse {
    if (payload.client_id !== opts.apiKey || payload.client_secret !== opts.apiSecret) {
      return json({ error: "invalid_client", error_description: "Client authentication failed" }, 401);
    }
    if (payload.grant_type === "refresh_token") {
      calls.refresh++;
      if (!s.refreshTokens.delete(payload.refresh_token))
        return json({ error: "invalid_grant", error_description: "refresh token is invalid" }, 400);
      return json(issueToken(s));
    }
    calls.token++;
    if (!s.codes.delete(payload.code))
      return json(
        { error: "invalid_request", error_description: "authorization code was not found or was already used" },
        400,
      );
    if (payload.expiring !== "1")
      return json({ access_token: `shpat_${randomBytes(16).toString("hex")}`, scope: "read_products" });
    return json(issueToken(s));
  }

  /** `POST /{shop}/admin/api/{version}/graphql.json`, with the shop's access token. */
  function adminApi(s: ShopState, payload: Record<string, any>, token: unknown): FakeResponse {
    calls.graphql++;
    s.calls.graphql++;
    const expiry = typeof token === "string" ? s.accessTokens.get(token) : undefined;
    if (!expiry || expiry < Date.now()) {
      return json({ errors: "[API] Invalid API key or access token (unrecognized login or wrong password)" }, 401);
    }
    if (typeof payload.query !== "string") return json({ errors: [{ message: "No query string was present" }] });
    return graphql(s, payload.query, payload.variables ?? {}, payload.operationName ?? undefined);
  }

  const SHOP = "([a-z0-9][a-z0-9-]*\\.myshopify\\.com)";
  interface Route {
    method: "GET" | "POST";
    path: RegExp;
    handle: (m: RegExpExecArray, req: IncomingMessage, url: URL, body: Buffer) => Promise<FakeResponse> | FakeResponse;
  }
  /** A shop's POST endpoint: faults first, then the JSON body, then the handler. */
  const shopEndpoint =
    (handle: (s: ShopState, payload: Record<string, any>, req: IncomingMessage) => FakeResponse) =>
    async (m: RegExpExecArray, req: IncomingMessage, _url: URL, body: Buffer) => {
      const s = shopState(m[1]!);
      const fault = await dueFault();
      if (fault) return fault;
      let payload: Record<string, any>;
      try {
        payload = JSON.parse(body.toString() || "{}");
      } catch {
        return json({ errors: "Invalid JSON in request body" }, 400);
      }
      return handle(s, payload, req);
    };
  const routes: Route[] = [
    {
      method: "POST",
      path: /^\/_control\/[a-z-]+$/,
      handle: (_m, _req, url, body) => control(url, body.length ? JSON.parse(body.toString()) : {}),
    },
    { method: "GET", path: /^\/_control\/state$/, handle: (_m, _req, url) => control(url, {}) },
    { method: "GET", path: /^\/_bulk\/([0-9a-f]+)\.jsonl$/, handle: (m) => bulkDownload(m[1]!) },
    {
      method: "GET",
      path: new RegExp(`^/${SHOP}/admin/oauth/authorize(/approve)?$`),
      handle: (m, _req, url) => authorize(m[1]!, url, Boolean(m[2])),
    },
    { method: "POST", path: new RegExp(`^/${SHOP}/admin/oauth/access_token$`), handle: shopEndpoint(accessToken) },
    {
      method: "POST",
      path: new RegExp(`^/${SHOP}/admin/api/\\d{4}-\\d{2}/graphql\\.json$`),
      handle: shopEndpoint((s, payload, req) => adminApi(s, payload, req.headers["x-shopify-access-token"])),
    },
  ];

  const fake = await listen(async (req, url, body) => {
    for (const route of routes) {
      const m = route.method === req.method ? route.path.exec(url.pathname) : null;
      if (m) return route.handle(m, req, url, body);
    }
    return json({ errors: "Not Found" }, 404);
  }, opts.port);
  origin = fake.origin;

  /** Products `count` of `shape`, replacing the shop's catalogue. */
  const seedProducts = (s: ShopState, count: number, shape: ProductShape) => {
    s.products = Array.from({ length: count }, (_, i) => makeProduct(i, shape));
    s.madeProducts = count;
  };

  /** `/_control/*`: how tests steer the fake, one small handler each. */
  const controls: Record<string, (body: any, url: URL) => FakeResponse> = {
    reset: () => {
      shops.clear();
      bulkFiles.clear();
      faults = [];
      bulkDownloadFaults = 0;
      tokenTtlSeconds = 3600;
      Object.assign(calls, freshCalls());
      return json({ ok: true });
    },
    shop: (body) => {
      const s = shopState(body.shop);
      if (body.products !== undefined) seedProducts(s, body.products, body);
      if (body.name) s.name = body.name;
      if (body.plan !== undefined || body.restoreRate !== undefined)
        setPlan(s, (body.plan ?? s.plan) as Plan, body.restoreRate);
      if (body.available !== undefined) s.available = body.available;
      if (body.failNextBulk !== undefined) s.failNextBulk = Boolean(body.failNextBulk);
      if (body.finishBulk)
        for (const op of s.bulkOps.filter(isRunning)) {
          op.status = "COMPLETED";
          op.completedAt = new Date().toISOString();
        }
      // Bulk operations of this app left running (by an earlier job): they count against the limit.
      for (let i = 0; i < (body.runningBulk ?? 0); i++) {
        const query = "{ products { edges { node { id } } } }";
        newBulkOp(s, query, parse(query), "RUNNING");
      }
      if (body.maxQueryCost !== undefined) s.maxQueryCost = body.maxQueryCost ?? SINGLE_QUERY_MAX_COST;
      return json({ ok: true, throttleStatus: throttleStatus(s) });
    },
    product: (
      body: { shop: string; index?: number; create?: boolean; delete?: boolean } & ProductEdit & ProductShape,
    ) => {
      // A merchant's edit in the admin: one product created, changed or deleted.
      const s = shopState(body.shop);
      if (body.create) {
        const product = makeProduct(s.madeProducts++, body);
        editProduct(product, body, s.madeProducts - 1);
        s.products.push(product);
        return json({ ok: true, id: product.id });
      }
      const id = `gid://shopify/Product/${1000000 + (body.index ?? 0)}`;
      const at = s.products.findIndex((p) => p.id === id);
      if (at < 0) return json({ error: "no such product" }, 404);
      if (body.delete) s.products.splice(at, 1);
      else editProduct(s.products[at]!, body, body.index ?? 0);
      return json({ ok: true, id, product: body.delete ? null : s.products[at] });
    },
    code: (body) => {
      const code = randomBytes(8).toString("hex");
      shopState(body.shop).codes.add(code);
      return json({ code });
    },
    grant: (body) => {
      // A token as if issued by an install long ago (for seeding many shops at once).
      for (const grant of body.grants ?? [body]) {
        const s = shopState(grant.shop);
        s.accessTokens.set(grant.access_token, Date.now() + 365 * 24 * 3600 * 1000);
        if (grant.products !== undefined) seedProducts(s, grant.products, grant);
        if (body.plan !== undefined || body.restoreRate !== undefined)
          setPlan(s, (body.plan ?? s.plan) as Plan, body.restoreRate);
      }
      return json({ ok: true });
    },
    "delete-webhook": (body) => {
      // What Shopify does to a subscription after 8 failed deliveries in a row.
      const s = shopState(body.shop);
      const before = s.webhooks.length;
      s.webhooks = s.webhooks.filter((w) => !(w.topic === body.topic || w.id === body.id));
      return json({ ok: true, deleted: before - s.webhooks.length });
    },
    issued: () => json({ tokens: issued }),
    "token-ttl": (body) => {
      tokenTtlSeconds = body.seconds;
      return json({ ok: true });
    },
    "revoke-tokens": (body) => {
      // What a revoked grant looks like to the app: every access token answers 401 and the
      // refresh token is refused, until the merchant approves the app again.
      const s = shopState(body.shop);
      s.accessTokens.clear();
      s.refreshTokens.clear();
      return json({ ok: true });
    },
    "expire-tokens": (body) => {
      const s = shopState(body.shop);
      for (const key of s.accessTokens.keys()) s.accessTokens.set(key, 0);
      return json({ ok: true });
    },
    faults: (body) => {
      faults = body.faults ?? [];
      bulkDownloadFaults = body.bulkDownloads ?? 0;
      return json({ ok: true });
    },
    state: (_body, url) => {
      const s = shops.get(String(url.searchParams.get("shop")));
      if (s) restore(s);
      return json({
        calls,
        shopCalls: s?.calls ?? { graphql: 0, points: 0 },
        webhooks: s?.webhooks ?? [],
        liveTokens: s ? [...s.accessTokens.values()].filter((t) => t > Date.now()).length : 0,
        refreshTokens: s?.refreshTokens.size ?? 0,
        throttleStatus: s ? throttleStatus(s) : null,
        bulkOperations: s?.bulkOps.map((o) => ({ id: o.id, status: o.status, objectCount: o.objectCount })) ?? [],
      });
    },
  };

  function control(url: URL, body: any): FakeResponse {
    const handler = controls[url.pathname.slice("/_control/".length)];
    return handler ? handler(body, url) : json({ error: "unknown control" }, 404);
  }

  return { ...fake, shops, calls };
}
