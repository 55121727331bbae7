import { z } from "zod";
import { AppError } from "./lib/errors";
import { fromBase64 } from "./lib/encoding";
import { isolateWeakCache, secretKey, type IsolateCache } from "./lib/isolate-cache";
import { redact } from "./lib/log";

/**
 * The environment, validated with zod at the request or cron that needs each part, so a missing or
 * malformed secret or var is a clear error naming it, never a crash at start-up.
 */

const required = (name: string) =>
  z
    .string({ error: `${name} is missing` })
    .trim()
    .min(1, { error: `${name} is missing` });

const optional = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() ? v.trim() : undefined));

/** Hosts where plain `http://` is allowed: this machine only (local stacks, fakes, tests). */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * True for an `https://` URL, or an `http://` one on a loopback host. A typo such as
 * `http://graph.facebook.com` would send client secrets and API tokens in the clear: refused.
 */
export function isSecureOrigin(value: string): boolean {
  let url: URL;
  try {
    // `{shop}` is not a valid host character; any shop-shaped name stands in for it.
    url = new URL(value.replaceAll("{shop}", "shop.myshopify.com"));
  } catch {
    return false;
  }
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname);
}

const secureOrigin = (name: string) =>
  optional.refine((v) => v === undefined || (/^https?:\/\/[^\s]+$/.test(v) && isSecureOrigin(v)), {
    error: `${name} must be an https:// URL (http:// only for 127.0.0.1, localhost or [::1])`,
  });

const base64Key32 = (name: string) =>
  required(name).refine((v) => fromBase64(v)?.length === 32, { error: `${name} must be base64 of 32 bytes` });

const schemas = {
  spaces: z.object({
    SPACES_KEY: required("SPACES_KEY"),
    SPACES_SECRET: required("SPACES_SECRET"),
    SPACES_BUCKET: required("SPACES_BUCKET").regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
      error: "SPACES_BUCKET must be a valid bucket name",
    }),
    SPACES_REGION: optional
      .transform((v) => v ?? "nyc3")
      .refine((v) => /^[a-z0-9-]+$/.test(v), { error: "SPACES_REGION must be a region slug like nyc3" }),
    SPACES_ENDPOINT: secureOrigin("SPACES_ENDPOINT"),
  }),
  crypto: z.object({
    TOKEN_ENCRYPTION_KEY: base64Key32("TOKEN_ENCRYPTION_KEY"),
    TOKEN_ENCRYPTION_KEY_PREVIOUS: optional,
  }),
  shopify: z.object({
    SHOPIFY_API_KEY: required("SHOPIFY_API_KEY"),
    SHOPIFY_API_SECRET: required("SHOPIFY_API_SECRET"),
    SHOPIFY_SCOPES: optional.transform((v) => v ?? "read_products"),
    SHOPIFY_API_VERSION: optional
      .transform((v) => v ?? "2026-10")
      .refine((v) => /^\d{4}-(01|04|07|10)$/.test(v), { error: "SHOPIFY_API_VERSION must look like 2026-10" }),
    SHOPIFY_ADMIN_ORIGIN: secureOrigin("SHOPIFY_ADMIN_ORIGIN")
      .transform((v) => v ?? "https://{shop}")
      .refine((v) => /^https?:\/\/\S*\{shop\}/.test(v), { error: "SHOPIFY_ADMIN_ORIGIN must contain {shop}" }),
    PUBLIC_URL: secureOrigin("PUBLIC_URL"),
  }),
  facebook: z.object({
    FACEBOOK_APP_ID: required("FACEBOOK_APP_ID"),
    FACEBOOK_APP_SECRET: required("FACEBOOK_APP_SECRET"),
    FACEBOOK_VERIFY_TOKEN: required("FACEBOOK_VERIFY_TOKEN"),
    FACEBOOK_GRAPH_VERSION: optional
      .transform((v) => v ?? "v25.0")
      .refine((v) => /^v\d+\.\d+$/.test(v), { error: "FACEBOOK_GRAPH_VERSION must look like v25.0" }),
    FACEBOOK_GRAPH_ORIGIN: secureOrigin("FACEBOOK_GRAPH_ORIGIN").transform((v) => v ?? "https://graph.facebook.com"),
    FACEBOOK_DIALOG_ORIGIN: secureOrigin("FACEBOOK_DIALOG_ORIGIN").transform((v) => v ?? "https://www.facebook.com"),
    PUBLIC_URL: secureOrigin("PUBLIC_URL"),
  }),
  backup: z.object({
    BACKUP_RETENTION: optional
      .transform((v) => Number(v ?? "7"))
      .refine((v) => Number.isInteger(v) && v >= 1 && v <= 365, {
        error: "BACKUP_RETENTION must be a whole number of backups from 1 to 365",
      }),
    CLOUDFLARE_ACCOUNT_ID: optional,
    CLOUDFLARE_API_TOKEN: optional,
    CLOUDFLARE_API_ORIGIN: secureOrigin("CLOUDFLARE_API_ORIGIN").transform((v) => v ?? "https://api.cloudflare.com"),
    TOKENS_DATABASE_ID: optional,
    SESSIONS_DATABASE_ID: optional,
  }),
  /** Monitoring: both optional; with neither set nothing is sent. */
  alerts: z.object({
    BACKUP_HEARTBEAT_URL: secureOrigin("BACKUP_HEARTBEAT_URL"),
    ALERTS_WEBHOOK_URL: secureOrigin("ALERTS_WEBHOOK_URL"),
  }),
  admin: z.object({
    ADMIN_TOKEN: required("ADMIN_TOKEN").min(16, { error: "ADMIN_TOKEN must be at least 16 characters" }),
  }),
};

type Schemas = typeof schemas;
export type Config<K extends keyof Schemas> = z.output<Schemas[K]>;

const SECRET_NAMES = [
  "SHOPIFY_API_SECRET",
  "FACEBOOK_APP_SECRET",
  "FACEBOOK_VERIFY_TOKEN",
  "SPACES_SECRET",
  "TOKEN_ENCRYPTION_KEY",
  "TOKEN_ENCRYPTION_KEY_PREVIOUS",
  "ADMIN_TOKEN",
  "CLOUDFLARE_API_TOKEN",
] as const;

const parsedParts = isolateWeakCache<object, Map<string, unknown>>(
  "config.parsed-parts",
  "parsed parts per environment object (it does not change while an isolate lives); gone with the object",
);

/**
 * What is derived from the token encryption keys (a cipher, the backup authenticator), once per set
 * of keys: `cache` is keyed by their SHA-256, so it never holds a key as a readable string.
 */
export function perEncryptionKeys<T>(
  cache: IsolateCache<string, Promise<T>>,
  env: object,
  derive: (current: string, previous: string[]) => Promise<T>,
): Promise<T> {
  const cfg = config(env, "crypto");
  const previous = (cfg.TOKEN_ENCRYPTION_KEY_PREVIOUS ?? "").split(",").filter(Boolean);
  return cache.getOrCreate(secretKey(cfg.TOKEN_ENCRYPTION_KEY, ...previous), () =>
    derive(cfg.TOKEN_ENCRYPTION_KEY, previous),
  );
}

/** Reads one part of the configuration; throws a `misconfigured` error naming what is wrong. */
export function config<K extends keyof Schemas>(env: object, part: K): Config<K> {
  const parts = parsedParts.getOrCreate(env, () => new Map());
  const cached = parts.get(part);
  if (cached) return cached as Config<K>;
  const parsed = parsePart(env, part);
  parts.set(part, parsed);
  return parsed;
}

function parsePart<K extends keyof Schemas>(env: object, part: K): Config<K> {
  const source = env as Record<string, unknown>;
  for (const name of SECRET_NAMES)
    redact(typeof source[name] === "string" ? (source[name] as string) : undefined, true);
  const parsed = schemas[part].safeParse(source);
  if (!parsed.success) {
    const messages = [...new Set(parsed.error.issues.map((i) => i.message))];
    throw new AppError("misconfigured", `Configuration error: ${messages.join("; ")}`);
  }
  return parsed.data as Config<K>;
}

/** The base of OAuth redirect URIs and webhook callbacks: PUBLIC_URL, else the request's origin. */
export function publicBase(publicUrl: string | undefined, requestUrl: string): string {
  return (publicUrl ?? new URL(requestUrl).origin).replace(/\/+$/, "");
}
