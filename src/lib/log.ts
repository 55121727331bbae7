/**
 * One JSON line per event, with a fixed sentence as `message` and the ids as fields,
 * so `wrangler tail` and Workers Logs can filter on them. Every line passes through `scrub`,
 * which removes registered secrets and anything shaped like a token.
 *
 * Why a scrubber of our own: Workers Logs and `wrangler tail` redact nothing. It finds every
 * registered value in one pass over a line (see `byTailHash`); checking each value with `includes`
 * cost about 0.1 ms a line once a poll had registered MAX_REDACTIONS tokens.
 */

import { registerIsolateCache } from "./isolate-cache";

type Fields = Record<string, string | number | boolean | null | undefined>;
type Level = "info" | "warn" | "error";

const MAX_REDACTIONS = 2000;
/** Configured secrets: kept for the life of the isolate. */
const secrets = new Set<string>();
/** Tokens seen at work: the most recent MAX_REDACTIONS. */
const redactions = new Set<string>();

/**
 * Every registered value, found by a hash of its last WINDOW characters, so that a line is
 * scrubbed in one pass over its characters however many values are registered.
 */
const WINDOW = 6; // the shortest value `redact` registers
const HASH_BASE = 31;
let HASH_DROP = 1; // HASH_BASE ** WINDOW, to drop the character leaving the window
for (let i = 0; i < WINDOW; i++) HASH_DROP = Math.imul(HASH_DROP, HASH_BASE);
const byTailHash = new Map<number, string[]>();

registerIsolateCache({
  name: "log.secrets",
  why: "configured secrets, removed from every log line; not bounded by count: the environment has a handful",
  maxEntries: null,
  ttlMs: null,
  clear: () => {
    for (const value of secrets) index(value, false);
    secrets.clear();
  },
});
registerIsolateCache({
  name: "log.redactions",
  why: "tokens seen at work, removed from later log lines; the oldest goes first",
  maxEntries: MAX_REDACTIONS,
  ttlMs: null,
  clear: () => {
    for (const value of redactions) index(value, false);
    redactions.clear();
  },
});

function tailHash(value: string): number {
  let h = 0;
  for (let i = value.length - WINDOW; i < value.length; i++) h = (Math.imul(h, HASH_BASE) + value.charCodeAt(i)) | 0;
  return h;
}

function index(value: string, add: boolean): void {
  const h = tailHash(value);
  const bucket = byTailHash.get(h) ?? [];
  const at = bucket.indexOf(value);
  if (add && at < 0) bucket.push(value);
  else if (!add && at >= 0) bucket.splice(at, 1);
  if (bucket.length) byTailHash.set(h, bucket);
  else byTailHash.delete(h);
}

/**
 * Registers a secret or token so that it is removed from every later log line. `permanent` is for
 * configured secrets; tokens are kept while they are among the most recent MAX_REDACTIONS.
 */
export function redact(value: string | undefined | null, permanent = false): void {
  if (!value || value.length < WINDOW || secrets.has(value)) return;
  if (permanent) {
    if (redactions.delete(value)) index(value, false);
    secrets.add(value);
    index(value, true);
    return;
  }
  if (redactions.has(value)) return;
  if (redactions.size >= MAX_REDACTIONS) {
    const oldest = redactions.values().next().value;
    if (oldest !== undefined) {
      redactions.delete(oldest);
      index(oldest, false);
    }
  }
  redactions.add(value);
  index(value, true);
}

/** Replaces every occurrence of every registered value (overlapping ones too) with "[redacted]". */
function removeRegistered(text: string): string {
  if (byTailHash.size === 0) return text;
  let spans: [number, number][] | null = null;
  let h = 0;
  for (let i = 0; i < text.length; i++) {
    h = (Math.imul(h, HASH_BASE) + text.charCodeAt(i)) | 0;
    if (i >= WINDOW) h = (h - Math.imul(HASH_DROP, text.charCodeAt(i - WINDOW))) | 0;
    if (i < WINDOW - 1) continue;
    const candidates = byTailHash.get(h);
    if (!candidates) continue;
    for (const value of candidates) {
      const start = i + 1 - value.length;
      if (start >= 0 && text.startsWith(value, start)) (spans ??= []).push([start, i + 1]);
    }
  }
  if (!spans) return text;
  spans.sort((a, b) => a[0] - b[0]);
  let out = "";
  let at = 0;
  for (let k = 0; k < spans.length;) {
    const start = spans[k]![0];
    let end = spans[k++]![1];
    while (k < spans.length && spans[k]![0] <= end) end = Math.max(end, spans[k++]![1]);
    out += `${text.slice(at, start)}[redacted]`;
    at = end;
  }
  return out + text.slice(at);
}

// Token shapes from Shopify (shpat_, shpua_, shprt_, ...), Meta (EAA...), and credentials in query
// strings or JSON, in case a URL or an upstream error body reaches a log line.
const TOKEN_PATTERNS: [RegExp, string][] = [
  [/\bshp(?:at|ua|rt|ca|ss)_[A-Za-z0-9]+/g, "[redacted]"],
  [/\bEAA[A-Za-z0-9]{10,}/g, "[redacted]"],
  [
    /\b(access_token|refresh_token|client_secret|fb_exchange_token|appsecret_proof|code|hub\.verify_token)=[^&\s"'\\]+/g,
    "$1=[redacted]",
  ],
  [/(\\?"(?:access_token|refresh_token|client_secret)\\?"\s*:\s*\\?")[^"\\]*/g, "$1[redacted]"],
];

/** Removes registered secrets and token-shaped strings from a text. */
export function scrub(text: string): string {
  let out = removeRegistered(text);
  for (const [pattern, replacement] of TOKEN_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

type Sink = (line: string) => void;
let sink: Sink | null = null;

/** Tests capture every line here instead of the console; by default lines go to the console. */
export function setLogSink(next: Sink | null): void {
  sink = next;
}

function write(level: Level, message: string, fields?: Fields): void {
  const line = scrub(JSON.stringify({ level, message, ...fields }));
  if (sink) return sink(line);
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

export const log = {
  info: (message: string, fields?: Fields) => write("info", message, fields),
  warn: (message: string, fields?: Fields) => write("warn", message, fields),
  error: (message: string, fields?: Fields) => write("error", message, fields),
};

/** A short, safe description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return scrub(`${err.name}: ${err.message}`).slice(0, 500);
  return scrub(String(err)).slice(0, 500);
}

/**
 * Which fields of a value may be logged: `keep` a number, boolean or short id as it is, `length` a
 * string as its length only (`"[42 chars]"`: customers' words), an object its listed keys, an array
 * (one shape in a list) each item. Anything not listed is left out, so a field the platform adds
 * later stays out of the logs until it is listed.
 */
export type LogShape = "keep" | "length" | readonly [LogShape] | { readonly [key: string]: LogShape };

/** `value` reduced to the fields `shape` allows. */
export function allowListed(value: unknown, shape: LogShape): unknown {
  if (shape === "keep") return value === null || typeof value === "object" ? undefined : value;
  if (shape === "length") return typeof value === "string" ? `[${value.length} chars]` : undefined;
  if (Array.isArray(shape)) return Array.isArray(value) ? value.map((item) => allowListed(item, shape[0])) : undefined;
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(shape as { readonly [key: string]: LogShape })) {
    if (!Object.hasOwn(value, key)) continue;
    const kept = allowListed((value as Record<string, unknown>)[key], inner);
    if (kept !== undefined) out[key] = kept;
  }
  return out;
}
