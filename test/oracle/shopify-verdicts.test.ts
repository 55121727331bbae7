import "@shopify/shopify-api/adapters/web-api";
import { ApiVersion, LogSeverity, shopifyApi } from "@shopify/shopify-api";
import { createHmac } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { shopifyTimestampProblem, verifyShopifyQuery, verifyShopifyWebhook } from "../../src/lib/signatures";
import { normalizeShop } from "../../src/spaces/keys";
import { randomHost, randomKey, randomShopInput, randomText, seeded, shuffle, type Random } from "./generate";

/**
 * The worker's verdicts against Shopify's own library (@shopify/shopify-api 13.1.0) on the same
 * generated inputs. Where the worker is deliberately stricter than the library, the case is named
 * below with why; every other disagreement fails.
 */

const SECRET = "oracle-secret-0123456789";
const shopify = shopifyApi({
  apiKey: "oracle-key",
  apiSecretKey: SECRET,
  scopes: ["read_products"],
  hostName: "worker.test",
  apiVersion: ApiVersion.October25,
  isEmbeddedApp: false,
  logger: { level: LogSeverity.Error, log: () => undefined },
});

const hmacHex = (message: string, secret = SECRET) => createHmac("sha256", secret).update(message).digest("hex");
const hmacBase64 = (body: string | Uint8Array, secret = SECRET) =>
  createHmac("sha256", secret).update(body).digest("base64");

/** Why the worker refuses a query the library may accept, or null when the two must agree. */
function deliberatelyStricterQuery(params: URLSearchParams): string | null {
  const keys = [...params.keys()];
  // The library turns the query into an object (the last value of a key wins) while code that reads
  // `params.get` sees the first: a signed value and a used value could differ. Shopify never repeats one.
  if (new Set(keys).size !== keys.length) return "a key appears twice";
  const signed = keys.filter((k) => k !== "hmac" && k !== "signature");
  const byCodeUnit = [...signed].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // Shopify's servers sort by code unit, the library by `localeCompare`: where the two orders differ
  // (upper and lower case, `_` against digits, canonically equal keys) no message is certain.
  // Shopify's own keys are lower-case ASCII words and never differ.
  if (byCodeUnit.some((k, i) => i > 0 && byCodeUnit[i - 1]!.localeCompare(k) >= 0)) return "key order is ambiguous";
  // The contract asks for a timestamp of whole seconds; the library reads it with Number(), which
  // also takes "", " 1e9 ", "0x65", "1.5", and no timestamp at all (NaN is never "too old").
  if (!/^\d{1,12}$/.test(params.get("timestamp") ?? "")) return "timestamp is missing or not whole seconds";
  return null;
}

/** A query as Shopify might send it, and as a broken or hostile client might. */
function randomQuery(r: Random, nowS: number): { query: string; kind: string } {
  const entries: [string, string][] = [
    ["code", r.chance(0.7) ? "0907a61c0c8d55e99db179b68161bc00" : randomText(r)],
    ["shop", r.chance(0.8) ? "acme-7cu19ngr.myshopify.com" : randomShopInput(r)],
    ["host", randomHost(r)],
  ];
  if (r.chance(0.8)) entries.push(["state", r.chance(0.5) ? "0.6784241404160823" : randomText(r)]);
  const offsets = [0, 0, 0, 1, -1, 30, -30, 89, -89, 90, -90, 91, -91, 3600, -3600, -nowS];
  const timestamp = nowS + r.pick(offsets);
  const timestampForms = [
    String(timestamp),
    String(timestamp),
    String(timestamp),
    `0${timestamp}`,
    ` ${timestamp}`,
    `${timestamp} `,
    `${timestamp}.5`,
    `+${timestamp}`,
    `0x${timestamp.toString(16)}`,
    "",
    "abc",
  ];
  if (r.chance(0.93)) entries.push(["timestamp", r.pick(timestampForms)]);
  const extras = r.int(4);
  for (let i = 0; i < extras; i++) {
    const key = randomKey(r);
    if (!entries.some(([k]) => k === key)) entries.push([key, randomText(r)]);
  }
  if (r.chance(0.1)) entries.push([...r.pick(entries)]);
  if (r.chance(0.1)) entries.push(["signature", randomText(r)]);
  const shuffled = shuffle(r, entries);
  const signed = shuffled.filter(([k]) => k !== "hmac" && k !== "signature");
  // As the library builds its message (an object: the last value of a key wins; localeCompare order).
  const asObject = Object.entries(Object.fromEntries(signed)).sort(([a], [b]) => a.localeCompare(b));
  const libraryMessage = new URLSearchParams(asObject).toString();
  const hmacs: [string, () => string | null][] = [
    ["valid", () => hmacHex(libraryMessage)],
    ["valid", () => hmacHex(libraryMessage)],
    ["valid", () => hmacHex(libraryMessage)],
    [
      "code-unit order",
      () => hmacHex(new URLSearchParams([...signed].sort(([a], [b]) => (a < b ? -1 : 1))).toString()),
    ],
    ["upper-case hex", () => hmacHex(libraryMessage).toUpperCase()],
    ["values not encoded", () => hmacHex(asObject.map(([k, v]) => `${k}=${v}`).join("&"))],
    ["another secret", () => hmacHex(libraryMessage, "guess")],
    ["one digit changed", () => hmacHex(libraryMessage).replace(/^./, (c) => (c === "0" ? "1" : "0"))],
    ["truncated", () => hmacHex(libraryMessage).slice(0, 63)],
    ["whitespace", () => ` ${hmacHex(libraryMessage)}`],
    ["empty", () => ""],
    ["missing", () => null],
  ];
  // Half of them signed as the library signs, so that acceptance is exercised as much as refusal.
  const [kind, make] = r.chance(0.5) ? hmacs[0]! : r.pick(hmacs);
  const hmac = make();
  const all: [string, string][] = hmac === null ? shuffled : [...shuffled, ["hmac", hmac]];
  if (hmac !== null && r.chance(0.05)) all.push(["hmac", hmac]);
  const ordered = shuffle(r, all);
  // Mostly encoded as a browser or Shopify would; sometimes with %20 for spaces or characters raw.
  const encoded = new URLSearchParams(ordered).toString();
  const query = r.chance(0.8)
    ? encoded
    : r.chance(0.5)
      ? encoded.replace(/\+/g, "%20")
      : ordered.map(([k, v]) => `${encodeURIComponent(k)}=${v.replace(/[&#%+]/g, encodeURIComponent)}`).join("&");
  return { query, kind };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("callback and app-URL HMAC: the worker and utils.validateHmac", () => {
  it("agree on 4,000 generated queries, the worker stricter only where listed", async () => {
    const r = seeded(13);
    const tally: Record<string, number> = {};
    const count = (k: string) => (tally[k] = (tally[k] ?? 0) + 1);
    for (let i = 0; i < 4000; i++) {
      // Every position within a second: the library truncates now to whole seconds.
      const nowMs = Date.UTC(2026, 11, 2, 8, 0, r.int(60)) + r.pick([0, 1, 499, 500, 999]);
      vi.useFakeTimers({ now: nowMs, toFake: ["Date"] });
      const { query, kind } = randomQuery(r, Math.trunc(nowMs / 1000));
      const url = new URL(`https://worker.test/shopify?${query}`);
      // As the library's own callback reads a request: an object of the query's entries.
      const library = await shopify.utils
        .validateHmac(Object.fromEntries(url.searchParams.entries()))
        .catch(() => false);
      const params = url.searchParams;
      const worker =
        (await verifyShopifyQuery(params, SECRET)) && shopifyTimestampProblem(params.get("timestamp"), nowMs) === null;
      vi.useRealTimers();
      if (worker === library) {
        count(library ? "both accept" : "both refuse");
        continue;
      }
      const why = deliberatelyStricterQuery(params);
      // The worker is never more lenient than the library, and stricter only for a listed reason.
      expect({ query, kind, worker, library, why }).toMatchObject({ worker: false, library: true });
      expect(why, `unlisted disagreement on ${query} (${kind})`).not.toBeNull();
      count(`worker stricter: ${why}`);
    }
    // Each class of input really occurred, so the comparison covered it.
    expect(tally["both accept"]).toBeGreaterThan(300);
    expect(tally["both refuse"]).toBeGreaterThan(1500);
    expect(tally["worker stricter: a key appears twice"]).toBeGreaterThan(5);
    expect(tally["worker stricter: key order is ambiguous"]).toBeGreaterThan(5);
    expect(tally["worker stricter: timestamp is missing or not whole seconds"]).toBeGreaterThan(5);
  });

  it("agree on the cases the issue names", async () => {
    const nowS = Math.trunc(Date.now() / 1000);
    const values = {
      code: "c0de",
      shop: "acme-7cu19ngr.myshopify.com",
      state: "a b&c=d+e%f/g?h#i 😀 é 中文",
      timestamp: String(nowS),
      host: btoa("admin.shopify.com/store/acme-7cu19ngr"),
    };
    expect(values.host).toMatch(/=$/);
    const message = new URLSearchParams(Object.entries(values).sort(([a], [b]) => a.localeCompare(b))).toString();
    for (const [hmac, expected] of [
      [hmacHex(message), true],
      [hmacHex(message).toUpperCase(), false],
    ] as const) {
      const params = new URLSearchParams({ ...values, hmac });
      const url = new URL(`https://worker.test/shopify?${params}`);
      expect(await shopify.utils.validateHmac(Object.fromEntries(url.searchParams))).toBe(expected);
      expect(await verifyShopifyQuery(url.searchParams, SECRET)).toBe(expected);
    }
  });
});

describe("timestamp edges: the worker and utils.validateHmac", () => {
  it("agree at every offset from -200 s to +200 s and every position within the second", async () => {
    const values = { code: "c", shop: "acme.myshopify.com", state: "s" };
    for (const ms of [0, 1, 500, 999]) {
      const nowMs = Date.UTC(2026, 11, 2, 8, 0, 0) + ms;
      const nowS = Math.trunc(nowMs / 1000);
      for (let offset = -200; offset <= 200; offset++) {
        const entries = { ...values, timestamp: String(nowS + offset) };
        const message = new URLSearchParams(Object.entries(entries).sort(([a], [b]) => a.localeCompare(b))).toString();
        const query = { ...entries, hmac: hmacHex(message) };
        vi.useFakeTimers({ now: nowMs, toFake: ["Date"] });
        const library = await shopify.utils.validateHmac(query).catch(() => false);
        const params = new URLSearchParams(query);
        const worker =
          (await verifyShopifyQuery(params, SECRET)) &&
          shopifyTimestampProblem(params.get("timestamp"), nowMs) === null;
        vi.useRealTimers();
        expect({ offset, ms, worker }).toEqual({ offset, ms, worker: library });
        expect(library).toBe(Math.abs(offset) <= 90);
      }
    }
  });
});

describe("webhook HMAC: the worker and webhooks.validate", () => {
  it("agree on 3,000 generated deliveries", async () => {
    const r = seeded(14);
    const tally: Record<string, number> = {};
    for (let i = 0; i < 3000; i++) {
      const body = r.chance(0.5)
        ? JSON.stringify({ id: r.int(1e9), title: randomText(r), body_html: randomText(r, 20) })
        : randomText(r, 12);
      const right = hmacBase64(body);
      const headerForms: [string, string][] = [
        ["valid", right],
        ["valid", right],
        ["valid", right],
        ["no padding", right.replace(/=+$/, "")],
        ["url-safe alphabet", right.replace(/\+/g, "-").replace(/\//g, "_")],
        ["hex", createHmac("sha256", SECRET).update(body).digest("hex")],
        ["another secret", hmacBase64(body, "guess")],
        ["body re-serialised", hmacBase64(body.trim() + " ")],
        ["truncated", right.slice(0, 40)],
        ["surrounding whitespace", ` ${right}\t`],
        ["inner whitespace", `${right.slice(0, 10)} ${right.slice(10)}`],
        ["sha1", createHmac("sha1", SECRET).update(body).digest("base64")],
        ["lower-cased", right.toLowerCase()],
      ];
      const [kind, header] = r.pick(headerForms);
      const headers = new Headers({
        "content-type": "application/json",
        "x-shopify-hmac-sha256": header,
        "x-shopify-topic": "products/update",
        "x-shopify-shop-domain": "acme.myshopify.com",
        "x-shopify-api-version": "2026-10",
        "x-shopify-webhook-id": crypto.randomUUID(),
      });
      const request = new Request("https://worker.test/shopify/webhook", { method: "POST", headers, body });
      const library = (await shopify.webhooks.validate({ rawBody: body, rawRequest: request })).valid;
      // The worker reads the same header from the same request, and hashes the bytes it was sent.
      const raw = new Uint8Array(await request.clone().arrayBuffer());
      const worker = await verifyShopifyWebhook(raw, headers.get("x-shopify-hmac-sha256"), SECRET);
      expect({ body, kind, worker }).toEqual({ body, kind, worker: library });
      const key = `${library ? "accept" : "refuse"}`;
      tally[key] = (tally[key] ?? 0) + 1;
    }
    expect(tally.accept).toBeGreaterThan(500);
    expect(tally.refuse).toBeGreaterThan(1000);
  });

  it("both refuse an empty body, even when it is signed", async () => {
    const headers = new Headers({
      "x-shopify-hmac-sha256": hmacBase64(""),
      "x-shopify-topic": "products/update",
      "x-shopify-shop-domain": "acme.myshopify.com",
      "x-shopify-api-version": "2026-10",
      "x-shopify-webhook-id": "1",
    });
    const request = new Request("https://worker.test/shopify/webhook", { method: "POST", headers });
    expect((await shopify.webhooks.validate({ rawBody: "", rawRequest: request })).valid).toBe(false);
    expect(await verifyShopifyWebhook(new Uint8Array(), hmacBase64(""), SECRET)).toBe(false);
  });
});

/** Why the worker refuses a shop the library accepts, or null when the two must agree. */
function deliberatelyStricterShop(shop: string): string | null {
  // The contract knows one kind of shop domain (it becomes a Spaces key and an Admin API host).
  if (/\.(shopify\.com|myshopify\.io|shop\.dev)\/*$/.test(shop) && !/\.myshopify\.com\/*$/.test(shop))
    return "a Shopify-internal domain, not *.myshopify.com";
  if (shop.startsWith("admin.")) return "an admin URL, not a shop domain";
  // The library returns the input with its slashes, which is not a host name.
  if (/\/$/.test(shop)) return "trailing slashes";
  // Host names have no `_` (the library's pattern allows it) and labels have at most 63 characters.
  if (shop.includes("_")) return "an underscore";
  if (shop.split(".")[0]!.length > 63) return "a name longer than a DNS label (63 characters)";
  return null;
}

describe("shop names: normalizeShop and utils.sanitizeShop", () => {
  it("agree on 5,000 generated shops, the worker stricter only where listed", () => {
    const r = seeded(15);
    const tally: Record<string, number> = {};
    for (let i = 0; i < 5000; i++) {
      const input = randomShopInput(r);
      const worker = normalizeShop(input);
      // A bare name is, by the contract, the name with .myshopify.com: judged as the library judges that.
      const asLibrarySees = input.includes(".") ? input : `${input}.myshopify.com`;
      const library = shopify.utils.sanitizeShop(asLibrarySees);
      if (library !== null && worker !== null) {
        // The same shop; the worker's copy is the lower-case domain used for keys and hosts.
        expect({ input, worker }).toEqual({ input, worker: library.toLowerCase() });
        tally["both accept"] = (tally["both accept"] ?? 0) + 1;
      } else if (library === null) {
        expect({ input, worker }).toEqual({ input, worker: null });
        tally["both refuse"] = (tally["both refuse"] ?? 0) + 1;
      } else {
        const why = deliberatelyStricterShop(asLibrarySees);
        expect(why, `unlisted disagreement on ${JSON.stringify(input)}`).not.toBeNull();
        tally[`worker stricter: ${why}`] = (tally[`worker stricter: ${why}`] ?? 0) + 1;
      }
    }
    expect(tally["both accept"]).toBeGreaterThan(400);
    expect(tally["both refuse"]).toBeGreaterThan(1500);
    expect(Object.keys(tally).filter((k) => k.startsWith("worker stricter")).length).toBeGreaterThanOrEqual(4);
  });

  it.each([61, 62, 63])("a %d-character name, a valid DNS label, is accepted by both", (length) => {
    const shop = `${"a".repeat(length - 1)}1.myshopify.com`;
    expect(shopify.utils.sanitizeShop(shop)).toBe(shop);
    expect(normalizeShop(shop)).toBe(shop);
    expect(normalizeShop(shop.split(".")[0])).toBe(shop);
  });

  it("a 64-character name is no DNS label: the library accepts it, the worker does not (listed)", () => {
    const shop = `${"a".repeat(64)}.myshopify.com`;
    expect(shopify.utils.sanitizeShop(shop)).toBe(shop);
    expect(normalizeShop(shop)).toBeNull();
    expect(deliberatelyStricterShop(shop)).not.toBeNull();
  });

  it.each([
    " shop",
    "shop\t",
    "SHOP.MYSHOPIFY.COM",
    " acme.myshopify.com",
    "acme.myshopify.com\n",
    "acme.MyShopify.com",
  ])("both refuse %j", (input) => {
    expect(shopify.utils.sanitizeShop(input.includes(".") ? input : `${input}.myshopify.com`)).toBeNull();
    expect(normalizeShop(input)).toBeNull();
  });
});
