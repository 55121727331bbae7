import { createHash } from "node:crypto";
import { AwsClient } from "aws4fetch";
import type { Config } from "../config";
import { isolateCache, secretKey } from "../lib/isolate-cache";
import { backoffMs, sleep } from "../lib/retry";

/**
 * The Spaces writer: private JSON objects over the S3 API. Works against DigitalOcean Spaces and any
 * S3-compatible endpoint (path-style when the host is not a Spaces host).
 *
 * Requests are plain `fetch` calls signed with SigV4 by aws4fetch. The AWS SDK did the same through a
 * stack of some thirty middlewares per request: a fifth of the worker's JavaScript time in a CPU
 * profile under a Messenger load (every conversation upload is one PUT). The answers needed here
 * are a status, a few headers and, for a listing, a flat XML document.
 */

export type SpacesConfig = Config<"spaces">;

export const JSON_TYPE = "application/json";

/** `x-amz-meta-sha256`: lets a writer skip an upload whose bytes have not changed. */
const SHA_META = "x-amz-meta-sha256";
/** `x-amz-meta-parts`: SHA-256 prefixes of each part of an object written in parts. */
const PARTS_META = "x-amz-meta-parts";
/** The header that carries a request's payload hash into its SigV4 signature. */
const CONTENT_SHA256 = "x-amz-content-sha256";
/** Requests sent at most for one operation when the server answers 5xx or 429, or not at all. */
const MAX_ATTEMPTS = 3;

export function spacesEndpoint(cfg: Pick<SpacesConfig, "SPACES_ENDPOINT" | "SPACES_REGION">): {
  endpoint: string;
  forcePathStyle: boolean;
} {
  const endpoint = (cfg.SPACES_ENDPOINT ?? `https://${cfg.SPACES_REGION}.digitaloceanspaces.com`).replace(/\/+$/, "");
  const host = new URL(endpoint).hostname;
  return { endpoint, forcePathStyle: !host.endsWith(".digitaloceanspaces.com") };
}

const clients = isolateCache<string, AwsClient>("spaces.clients", {
  why: "one request signer per endpoint and credentials (keyed by their SHA-256), keeping its signing keys",
  maxEntries: 16,
});

function signerFor(cfg: SpacesConfig): AwsClient {
  const cacheKey = secretKey(spacesEndpoint(cfg).endpoint, cfg.SPACES_REGION, cfg.SPACES_KEY, cfg.SPACES_SECRET);
  return clients.getOrCreate(
    cacheKey,
    // Retries are ours (`send`): aws4fetch's would resend a stream it already consumed.
    () =>
      new AwsClient({
        accessKeyId: cfg.SPACES_KEY,
        secretAccessKey: cfg.SPACES_SECRET,
        service: "s3",
        region: cfg.SPACES_REGION,
        retries: 0,
      }),
  );
}

/** An S3 failure with the status and code the server gave, and no credentials. */
export class SpacesError extends Error {
  constructor(
    readonly operation: string,
    readonly key: string,
    readonly status: number | undefined,
    readonly s3Code: string | undefined,
    detail: string,
  ) {
    super(
      `Spaces ${operation} ${key} failed${status ? ` (HTTP ${status}${s3Code ? ` ${s3Code}` : ""})` : ""}: ${detail}`,
    );
    this.name = "SpacesError";
  }
}

function wrap(operation: string, key: string, err: unknown): SpacesError {
  if (err instanceof SpacesError) return err;
  return new SpacesError(operation, key, undefined, undefined, err instanceof Error ? err.message : String(err));
}

export interface PutResult {
  key: string;
  /** False when the object already held these exact bytes. */
  written: boolean;
}

export type Body = string | Uint8Array | ReadableStream<Uint8Array>;

/**
 * workerd sends a plain ReadableStream with `Transfer-Encoding: chunked`, dropping the
 * Content-Length the request was signed with, and S3 servers refuse the signature. A
 * FixedLengthStream keeps the length on the wire. (Node, which has no FixedLengthStream, keeps it.)
 */
function fixedLength(body: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  if (typeof FixedLengthStream === "undefined") return body;
  const fixed = new FixedLengthStream(length);
  void body.pipeTo(fixed.writable).catch(() => undefined);
  return fixed.readable;
}

/** The hex SHA-256 of bytes, at once (the writers hash what they send as they build it). */
export const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A key in a URL path: each segment percent-encoded (RFC 3986), the slashes kept. */
const encodeKey = (key: string) =>
  key
    .split("/")
    .map((segment) =>
      encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join("/");

const XML_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** The text of every `<tag>` element of an S3 answer, entities decoded (S3's answers are flat). */
export function xmlTexts(xml: string, tag: string): string[] {
  const texts: string[] = [];
  for (const m of xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, "g"))) {
    texts.push(
      m[1]!.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (entity, name: string) =>
        name[0] === "#"
          ? String.fromCodePoint(Number(name[1] === "x" || name[1] === "X" ? `0${name.slice(1)}` : name.slice(1)))
          : (XML_ENTITIES[name.toLowerCase()] ?? entity),
      ),
    );
  }
  return texts;
}

/** A failed answer as a SpacesError: the server's code and message from its XML error, if any. */
function s3Error(operation: string, name: string, status: number, xml: string, fallback: string): SpacesError {
  const code = xmlTexts(xml, "Code")[0] ?? (status === 404 ? "NotFound" : undefined);
  return new SpacesError(operation, name, status, code, xmlTexts(xml, "Message")[0] ?? fallback);
}

const xmlEscape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** What one S3 request sends. A body that is a stream cannot be sent twice, so it is not retried. */
interface S3Request {
  method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  key?: string;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string | undefined>;
  body?: Uint8Array | ReadableStream<Uint8Array>;
}

export class Spaces {
  readonly bucket: string;
  private readonly signer: AwsClient;
  /** The bucket's URL: `<endpoint>/<bucket>` (path-style) or `https://<bucket>.<region host>`. */
  private readonly bucketUrl: string;

  constructor(cfg: SpacesConfig) {
    this.bucket = cfg.SPACES_BUCKET;
    this.signer = signerFor(cfg);
    const { endpoint, forcePathStyle } = spacesEndpoint(cfg);
    const url = new URL(endpoint);
    this.bucketUrl = forcePathStyle
      ? `${endpoint}/${encodeKey(this.bucket)}`
      : `${url.protocol}//${this.bucket}.${url.host}${url.pathname.replace(/\/+$/, "")}`;
  }

  /**
   * Sends one signed request; answers 5xx and 429, and requests that got no answer, are sent again
   * (MAX_ATTEMPTS in all, with backoff) unless the body is a stream. Any other status than 2xx is a
   * SpacesError with the server's code and message from its XML. Returns the 2xx response.
   */
  private async send(operation: string, name: string, req: S3Request): Promise<Response> {
    const url = new URL(req.key === undefined ? this.bucketUrl : `${this.bucketUrl}/${encodeKey(req.key)}`);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers ?? {})) if (v !== undefined) headers[k] = v;
    // The payload's hash is signed (the server checks the bytes against it); a stream is sent unsigned.
    headers[CONTENT_SHA256] ??= req.body instanceof Uint8Array ? sha256Hex(req.body) : "UNSIGNED-PAYLOAD";
    const replayable = !(req.body instanceof ReadableStream);
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(await this.signer.sign(url.toString(), { method: req.method, headers, body: req.body }));
      } catch (err) {
        if (!replayable || attempt >= MAX_ATTEMPTS) throw wrap(operation, name, err);
        await sleep(backoffMs(attempt - 1, 100, 2000));
        continue;
      }
      if (res.ok) return res;
      const text = req.method === "HEAD" ? "" : await res.text().catch(() => "");
      if ((res.status >= 500 || res.status === 429) && replayable && attempt < MAX_ATTEMPTS) {
        await sleep(backoffMs(attempt - 1, 100, 2000));
        continue;
      }
      throw s3Error(operation, name, res.status, text, res.statusText || `HTTP ${res.status}`);
    }
  }

  /**
   * A request whose 200 answer may still carry an `<Error>` (S3 answers a copy or a multipart
   * completion that fails late this way): its XML, or that error thrown.
   */
  private async sendChecked(operation: string, name: string, req: S3Request): Promise<string> {
    const text = await (await this.send(operation, name, req)).text();
    if (/<Error>/.test(text)) {
      throw s3Error(operation, name, 200, text, "error");
    }
    return text;
  }

  /**
   * Writes a private object (JSON unless `contentType` says otherwise). A stream needs `contentLength`.
   * `sha256` (hex of the bytes) is stored as metadata so `putIfChanged` can skip identical uploads,
   * and signed as the payload's hash (bytes the server receives otherwise are refused).
   */
  async put(
    key: string,
    body: Body,
    opts: { contentLength?: number; sha256?: string; contentType?: string } = {},
  ): Promise<void> {
    if (body instanceof ReadableStream && opts.contentLength === undefined) {
      throw new SpacesError("put", key, undefined, undefined, "a streamed body needs its content length");
    }
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    const response = await this.send("put", key, {
      method: "PUT",
      key,
      headers: {
        "content-type": opts.contentType ?? JSON_TYPE,
        // A stream's length, which fetch cannot know (bytes get theirs from fetch).
        "content-length": bytes instanceof ReadableStream ? String(opts.contentLength) : undefined,
        "x-amz-acl": "private",
        [SHA_META]: opts.sha256,
        [CONTENT_SHA256]: bytes instanceof Uint8Array ? opts.sha256 : undefined,
      },
      body: bytes instanceof ReadableStream ? fixedLength(bytes, opts.contentLength!) : bytes,
    });
    await response.body?.cancel();
  }

  /** The sha256 metadata of an object, null when it does not exist. */
  async storedSha256(key: string): Promise<string | null> {
    return (await this.storedHashes(key))?.sha256 ?? null;
  }

  /** The whole-object and per-part hashes recorded on an object; null when it does not exist. */
  async storedHashes(key: string): Promise<{ sha256: string; parts: string[] } | null> {
    try {
      const head = await this.send("head", key, { method: "HEAD", key });
      const parts = head.headers.get(PARTS_META);
      return { sha256: head.headers.get(SHA_META) ?? "", parts: parts ? parts.split(",") : [] };
    } catch (err) {
      if (err instanceof SpacesError && err.status === 404) return null;
      throw err;
    }
  }

  /** Uploads `bytes` unless the object already holds them. */
  async putIfChanged(key: string, bytes: Uint8Array, sha256: string, contentType = JSON_TYPE): Promise<PutResult> {
    if ((await this.storedSha256(key)) === sha256) return { key, written: false };
    await this.put(key, bytes, { sha256, contentLength: bytes.byteLength, contentType });
    return { key, written: true };
  }

  /** `x-amz-copy-source`: the bucket and key of the object copied. */
  private copySource(key: string): string {
    return `/${encodeKey(this.bucket)}/${encodeKey(key)}`;
  }

  /**
   * Records the hashes of an object written in parts (a copy onto itself with new metadata): the
   * whole object's, and each part's, so the next writer can tell unchanged parts as it goes.
   */
  async setHashes(key: string, sha256: string, parts: string[], contentType = JSON_TYPE): Promise<void> {
    await this.sendChecked("copy", key, {
      method: "PUT",
      key,
      headers: {
        "x-amz-copy-source": this.copySource(key),
        "x-amz-metadata-directive": "REPLACE",
        "x-amz-acl": "private",
        "content-type": contentType,
        [SHA_META]: sha256,
        [PARTS_META]: parts.join(","),
      },
    });
  }

  /** The object's bytes as text, or null when it does not exist. */
  async getText(key: string): Promise<string | null> {
    const bytes = await this.getBytes(key);
    return bytes === null ? null : new TextDecoder().decode(bytes);
  }

  /** The object's bytes (an attachment), or null when it does not exist. */
  async getBytes(key: string): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await (await this.send("get", key, { method: "GET", key })).arrayBuffer());
    } catch (err) {
      if (err instanceof SpacesError && err.status === 404) return null;
      throw wrap("get", key, err);
    }
  }

  /** A server-side copy of an object, its metadata (content type, hashes) and private ACL kept. */
  async copy(from: string, to: string): Promise<void> {
    await this.sendChecked("copy", from, {
      method: "PUT",
      key: to,
      headers: {
        "x-amz-copy-source": this.copySource(from),
        "x-amz-metadata-directive": "COPY",
        "x-amz-acl": "private",
      },
    });
  }

  async delete(key: string): Promise<void> {
    const response = await this.send("delete", key, { method: "DELETE", key });
    await response.body?.cancel();
  }

  /** One ListObjectsV2 request: the keys of the page and the token of the next, if any. */
  private async listPage(
    prefix: string,
    query: { delimiter?: string; startAfter?: string; continuation?: string; pageSize?: number },
  ): Promise<{ keys: string[]; next: string | undefined }> {
    const xml = await (
      await this.send("list", prefix, {
        method: "GET",
        query: {
          "list-type": 2,
          prefix,
          delimiter: query.delimiter,
          "start-after": query.startAfter,
          "continuation-token": query.continuation,
          "max-keys": query.pageSize,
        },
      })
    ).text();
    // Keys are the `<Key>` of each `<Contents>`: a folded sub-folder is a `<Prefix>`, never a `<Key>`.
    const truncated = xmlTexts(xml, "IsTruncated")[0] === "true";
    return { keys: xmlTexts(xml, "Key"), next: truncated ? xmlTexts(xml, "NextContinuationToken")[0] : undefined };
  }

  /** Every key under `prefix`, following continuation tokens (`pageSize` keys a request). */
  async listKeys(prefix: string, pageSize?: number): Promise<string[]> {
    const keys: string[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.listPage(prefix, { continuation, pageSize });
      keys.push(...page.keys);
      continuation = page.next;
    } while (continuation);
    return keys;
  }

  /**
   * One LIST request of what lies directly under `prefix` (a folder's objects; each sub-folder folded
   * into one entry, not listed), in key order from after `startAfter`. `next` continues the listing.
   */
  async listFolderPage(
    prefix: string,
    opts: { startAfter?: string; continuation?: string; pageSize?: number } = {},
  ): Promise<{ keys: string[]; next: string | undefined }> {
    return this.listPage(prefix, { ...opts, delimiter: "/" });
  }

  /** Bucket reachable with these credentials (for /health). */
  async check(): Promise<void> {
    await this.send("head-bucket", this.bucket, { method: "HEAD" });
  }

  /** Starts a multipart upload of a private object (for files too big to hold in memory). */
  async startMultipart(key: string, contentType = JSON_TYPE): Promise<MultipartUpload> {
    const xml = await this.sendChecked("create-multipart", key, {
      method: "POST",
      key,
      query: { uploads: "" },
      headers: { "x-amz-acl": "private", "content-type": contentType },
    });
    const uploadId = xmlTexts(xml, "UploadId")[0];
    if (!uploadId) throw new SpacesError("create-multipart", key, undefined, undefined, "no UploadId in the answer");
    return new MultipartUpload(
      {
        send: (operation, req) => this.send(operation, key, { ...req, key }),
        sendChecked: (operation, req) => this.sendChecked(operation, key, { ...req, key }),
      },
      key,
      uploadId,
    );
  }
}

/** Requests about one object: `Spaces.send` and `Spaces.sendChecked` with its key. */
interface ObjectRequests {
  send(operation: string, req: Omit<S3Request, "key">): Promise<Response>;
  sendChecked(operation: string, req: Omit<S3Request, "key">): Promise<string>;
}

/** One multipart upload: parts of at least 5 MiB (but the last), then complete or abort. */
export class MultipartUpload {
  private readonly parts: { etag: string; partNumber: number }[] = [];

  constructor(
    private readonly requests: ObjectRequests,
    readonly key: string,
    private readonly uploadId: string,
  ) {}

  /** Uploads the next part; `sha256` (hex of `bytes`), when known, is signed as it is, not computed again. */
  async uploadPart(bytes: Uint8Array, sha256?: string): Promise<void> {
    const partNumber = this.parts.length + 1;
    const response = await this.requests.send("upload-part", {
      method: "PUT",
      query: { partNumber, uploadId: this.uploadId },
      headers: { [CONTENT_SHA256]: sha256 },
      body: bytes,
    });
    await response.body?.cancel();
    this.parts.push({ etag: response.headers.get("etag") ?? "", partNumber });
  }

  async complete(): Promise<void> {
    const parts = this.parts
      .map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${xmlEscape(p.etag)}</ETag></Part>`)
      .join("");
    await this.requests.sendChecked("complete-multipart", {
      method: "POST",
      query: { uploadId: this.uploadId },
      headers: { "content-type": "application/xml" },
      body: new TextEncoder().encode(`<CompleteMultipartUpload>${parts}</CompleteMultipartUpload>`),
    });
  }

  async abort(): Promise<void> {
    const response = await this.requests.send("abort-multipart", {
      method: "DELETE",
      query: { uploadId: this.uploadId },
    });
    await response.body?.cancel();
  }
}
