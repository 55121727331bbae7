import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { Config } from "../config";
import { isolateCache, secretKey } from "../lib/isolate-cache";

/**
 * The Spaces writer: private JSON objects over the S3 API. Works against DigitalOcean Spaces and any
 * S3-compatible endpoint (path-style when the host is not a Spaces host).
 */

export type SpacesConfig = Config<"spaces">;

export const JSON_TYPE = "application/json";

/** `x-amz-meta-sha256`: lets a writer skip an upload whose bytes have not changed. */
const SHA_META = "sha256";
/** `x-amz-meta-parts`: SHA-256 prefixes of each part of an object written in parts. */
const PARTS_META = "parts";

export function spacesEndpoint(cfg: Pick<SpacesConfig, "SPACES_ENDPOINT" | "SPACES_REGION">): {
  endpoint: string;
  forcePathStyle: boolean;
} {
  const endpoint = (cfg.SPACES_ENDPOINT ?? `https://${cfg.SPACES_REGION}.digitaloceanspaces.com`).replace(/\/+$/, "");
  const host = new URL(endpoint).hostname;
  return { endpoint, forcePathStyle: !host.endsWith(".digitaloceanspaces.com") };
}

const clients = isolateCache<string, S3Client>("spaces.clients", {
  why: "one S3 client per endpoint and credentials (keyed by their SHA-256), reusing its connections",
  maxEntries: 16,
});

function clientFor(cfg: SpacesConfig): S3Client {
  const { endpoint, forcePathStyle } = spacesEndpoint(cfg);
  const cacheKey = secretKey(endpoint, cfg.SPACES_REGION, cfg.SPACES_KEY, cfg.SPACES_SECRET);
  return clients.getOrCreate(
    cacheKey,
    () =>
      new S3Client({
        endpoint,
        forcePathStyle,
        region: cfg.SPACES_REGION,
        credentials: { accessKeyId: cfg.SPACES_KEY, secretAccessKey: cfg.SPACES_SECRET },
        // The SDK's default flexible checksums make streamed PUTs store nothing on Spaces-like
        // servers (the conformance suite against radosgw shows it): only where an operation needs them.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        maxAttempts: 3,
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
  if (err instanceof S3ServiceException) {
    return new SpacesError(operation, key, err.$metadata?.httpStatusCode, err.name, err.message);
  }
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

/** The header that carries a request's payload hash into its SigV4 signature. */
const CONTENT_SHA256 = "x-amz-content-sha256";

/**
 * Puts the payload hash the caller already has on a request about to be signed. Without it the SDK
 * hashes the body again to sign it, first copying it whole (twice, for a part), which a big upload
 * cannot afford.
 */
function setPayloadHash(request: unknown, sha256: string): void {
  if (typeof request === "object" && request !== null && "headers" in request) {
    const headers = request.headers;
    if (typeof headers === "object" && headers !== null) Object.assign(headers, { [CONTENT_SHA256]: sha256 });
  }
}
const PAYLOAD_HASH = { step: "build", name: "knownPayloadHash" } as const;

export class Spaces {
  readonly bucket: string;
  private readonly client: S3Client;

  constructor(cfg: SpacesConfig) {
    this.bucket = cfg.SPACES_BUCKET;
    this.client = clientFor(cfg);
  }

  /**
   * Writes a private object (JSON unless `contentType` says otherwise). A stream needs `contentLength`. `sha256` (hex of the bytes) is
   * stored as metadata so `putIfChanged` can skip identical uploads.
   */
  async put(
    key: string,
    body: Body,
    opts: { contentLength?: number; sha256?: string; contentType?: string } = {},
  ): Promise<void> {
    if (body instanceof ReadableStream && opts.contentLength === undefined) {
      throw new SpacesError("put", key, undefined, undefined, "a streamed body needs its content length");
    }
    // Text is encoded once here, for its length and for the request (the SDK would encode it again).
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    try {
      const command = new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: bytes instanceof ReadableStream ? fixedLength(bytes, opts.contentLength!) : bytes,
        ACL: "private",
        ContentType: opts.contentType ?? JSON_TYPE,
        ContentLength: opts.contentLength ?? (bytes instanceof Uint8Array ? bytes.byteLength : undefined),
        Metadata: opts.sha256 ? { [SHA_META]: opts.sha256 } : undefined,
      });
      // `sha256` is the caller's mark of the content (kept as metadata), not necessarily the hash of
      // these bytes: the SDK signs a single put's payload itself.
      await this.client.send(command);
    } catch (err) {
      throw wrap("put", key, err);
    }
  }

  /** The sha256 metadata of an object, null when the object does not exist. */
  async storedSha256(key: string): Promise<string | null> {
    return (await this.storedHashes(key))?.sha256 ?? null;
  }

  /** The whole-object and per-part hashes recorded on an object; null when it does not exist. */
  async storedHashes(key: string): Promise<{ sha256: string; parts: string[] } | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const parts = head.Metadata?.[PARTS_META];
      return { sha256: head.Metadata?.[SHA_META] ?? "", parts: parts ? parts.split(",") : [] };
    } catch (err) {
      const wrapped = wrap("head", key, err);
      if (wrapped.status === 404) return null;
      throw wrapped;
    }
  }

  /** Uploads `bytes` unless the object already holds them. */
  async putIfChanged(key: string, bytes: Uint8Array, sha256: string, contentType = JSON_TYPE): Promise<PutResult> {
    if ((await this.storedSha256(key)) === sha256) return { key, written: false };
    await this.put(key, bytes, { sha256, contentLength: bytes.byteLength, contentType });
    return { key, written: true };
  }

  /**
   * Records the hashes of an object written in parts (a copy onto itself with new metadata): the
   * whole object's, and each part's, so the next writer can tell unchanged parts as it goes.
   */
  async setHashes(key: string, sha256: string, parts: string[], contentType = JSON_TYPE): Promise<void> {
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: key,
          CopySource: `${this.bucket}/${key.split("/").map(encodeURIComponent).join("/")}`,
          MetadataDirective: "REPLACE",
          Metadata: { [SHA_META]: sha256, [PARTS_META]: parts.join(",") },
          ACL: "private",
          ContentType: contentType,
        }),
      );
    } catch (err) {
      throw wrap("copy", key, err);
    }
  }

  /** The object's bytes as text, or null when it does not exist. */
  async getText(key: string): Promise<string | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return (await out.Body?.transformToString("utf-8")) ?? "";
    } catch (err) {
      const wrapped = wrap("get", key, err);
      if (wrapped.status === 404) return null;
      throw wrapped;
    }
  }

  /** The object's bytes (an attachment), or null when it does not exist. */
  async getBytes(key: string): Promise<Uint8Array | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return (await out.Body?.transformToByteArray()) ?? new Uint8Array();
    } catch (err) {
      const wrapped = wrap("get", key, err);
      if (wrapped.status === 404) return null;
      throw wrapped;
    }
  }

  /** A server-side copy of an object, its metadata (content type, hashes) and private ACL kept. */
  async copy(from: string, to: string): Promise<void> {
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: to,
          CopySource: `${this.bucket}/${from.split("/").map(encodeURIComponent).join("/")}`,
          MetadataDirective: "COPY",
          ACL: "private",
        }),
      );
    } catch (err) {
      throw wrap("copy", from, err);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw wrap("delete", key, err);
    }
  }

  /** Every key under `prefix`, following continuation tokens (`pageSize` keys a request). */
  async listKeys(prefix: string, pageSize?: number): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
            MaxKeys: pageSize,
          }),
        );
        for (const item of page.Contents ?? []) if (item.Key) keys.push(item.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw wrap("list", prefix, err);
    }
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
    try {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          Delimiter: "/",
          StartAfter: opts.startAfter,
          ContinuationToken: opts.continuation,
          MaxKeys: opts.pageSize,
        }),
      );
      const keys = (page.Contents ?? []).flatMap((item) => (item.Key ? [item.Key] : []));
      return { keys, next: page.IsTruncated ? page.NextContinuationToken : undefined };
    } catch (err) {
      throw wrap("list", prefix, err);
    }
  }

  /** Bucket reachable with these credentials (for /health). */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      throw wrap("head-bucket", this.bucket, err);
    }
  }

  /** Starts a multipart upload of a private object (for files too big to hold in memory). */
  async startMultipart(key: string, contentType = JSON_TYPE): Promise<MultipartUpload> {
    try {
      const out = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          ACL: "private",
          ContentType: contentType,
        }),
      );
      if (!out.UploadId) throw new Error("no UploadId in the answer");
      return new MultipartUpload(this.client, this.bucket, key, out.UploadId);
    } catch (err) {
      throw wrap("create-multipart", key, err);
    }
  }
}

/** One multipart upload: parts of at least 5 MiB (but the last), then complete or abort. */
export class MultipartUpload {
  private readonly parts: { ETag: string; PartNumber: number }[] = [];

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    readonly key: string,
    private readonly uploadId: string,
  ) {}

  /** Uploads the next part; `sha256` (hex of `bytes`), when known, spares the SDK hashing it again. */
  async uploadPart(bytes: Uint8Array, sha256?: string): Promise<void> {
    const PartNumber = this.parts.length + 1;
    try {
      const command = new UploadPartCommand({
        Bucket: this.bucket,
        Key: this.key,
        UploadId: this.uploadId,
        PartNumber,
        Body: bytes,
        ContentLength: bytes.byteLength,
      });
      if (sha256) {
        command.middlewareStack.add(
          (next) => (args) => (setPayloadHash(args.request, sha256), next(args)),
          PAYLOAD_HASH,
        );
      }
      const out = await this.client.send(command);
      this.parts.push({ ETag: out.ETag ?? "", PartNumber });
    } catch (err) {
      throw wrap("upload-part", this.key, err);
    }
  }

  async complete(): Promise<void> {
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.key,
          UploadId: this.uploadId,
          MultipartUpload: { Parts: this.parts },
        }),
      );
    } catch (err) {
      throw wrap("complete-multipart", this.key, err);
    }
  }

  async abort(): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId }),
      );
    } catch (err) {
      throw wrap("abort-multipart", this.key, err);
    }
  }
}
