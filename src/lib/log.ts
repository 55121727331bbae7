/**
 * One JSON line per event, with the contract's sentence as `message` and the ids as fields,
 * so `wrangler tail` and Workers Logs can filter on them. Every line passes through `scrub`,
 * which removes registered secrets and anything shaped like a token.
 */

type Fields = Record<string, string | number | boolean | null | undefined>;
type Level = "info" | "warn" | "error";

const MAX_REDACTIONS = 2000;
/** Configured secrets: kept for the life of the isolate. */
const secrets = new Set<string>();
/** Tokens seen at work: the most recent MAX_REDACTIONS. */
const redactions = new Set<string>();

/**
 * Registers a secret or token so that it is removed from every later log line. `permanent` is for
 * configured secrets; tokens are kept while they are among the most recent MAX_REDACTIONS.
 */
export function redact(value: string | undefined | null, permanent = false): void {
  if (!value || value.length < 6) return;
  if (permanent) {
    secrets.add(value);
    return;
  }
  if (redactions.has(value) || secrets.has(value)) return;
  if (redactions.size >= MAX_REDACTIONS) {
    const oldest = redactions.values().next().value;
    if (oldest !== undefined) redactions.delete(oldest);
  }
  redactions.add(value);
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
  let out = text;
  for (const set of [secrets, redactions]) {
    for (const secret of set) if (out.includes(secret)) out = out.split(secret).join("[redacted]");
  }
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
