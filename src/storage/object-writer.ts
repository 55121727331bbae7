import { createHash } from "node:crypto";
import { describeError, log } from "../lib/log";
import { JSON_TYPE, type MultipartUpload, type PutResult, type Spaces } from "./spaces";

const encoder = new TextEncoder();

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

export interface ObjectWriterResult extends PutResult {
  bytes: number;
  sha256: string;
  parts: number;
  /** Most bytes held in memory at once. */
  peakBufferedBytes: number;
}

/**
 * Writes an object to Spaces in pieces, holding at most about one part in memory: small objects go
 * up in one PUT, big ones as a multipart upload. Either way, an object whose bytes equal what Spaces
 * already holds (by SHA-256) is not replaced.
 */
export class ObjectWriter {
  private readonly hash = createHash("sha256");
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private size = 0;
  private peak = 0;
  private parts = 0;
  private upload: MultipartUpload | null = null;

  constructor(
    private readonly spaces: Spaces,
    readonly key: string,
    /** S3 needs parts of at least 5 MiB, but the last. */
    private readonly partSize = 8 * 1024 * 1024,
    private readonly contentType = JSON_TYPE,
  ) {}

  async write(text: string | Uint8Array): Promise<void> {
    const bytes = typeof text === "string" ? encoder.encode(text) : text;
    this.hash.update(bytes);
    this.chunks.push(bytes);
    this.buffered += bytes.byteLength;
    this.size += bytes.byteLength;
    this.peak = Math.max(this.peak, this.buffered);
    if (this.buffered >= this.partSize) await this.flushPart();
  }

  private async flushPart() {
    this.upload ??= await this.spaces.startMultipart(this.key, this.contentType);
    const part = concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    await this.upload.uploadPart(part);
    this.parts++;
  }

  async finish(): Promise<ObjectWriterResult> {
    const sha256 = this.hash.digest("hex");
    const figures = { bytes: this.size, sha256, peakBufferedBytes: this.peak };
    if (!this.upload) {
      const result = await this.spaces.putIfChanged(
        this.key,
        concat(this.chunks, this.buffered),
        sha256,
        this.contentType,
      );
      return { ...result, ...figures, parts: result.written ? 1 : 0 };
    }
    if ((await this.spaces.storedSha256(this.key)) === sha256) {
      await this.abort();
      return { key: this.key, written: false, ...figures, parts: 0 };
    }
    if (this.buffered > 0) await this.flushPart();
    await this.upload.complete();
    // The hash is known only now; record it so the next identical sync skips the upload.
    await this.spaces.setSha256(this.key, sha256, this.contentType);
    return { key: this.key, written: true, ...figures, parts: this.parts };
  }

  /**
   * Drops a started multipart upload, so no orphan parts are kept. Best effort: the object is not
   * touched either way, and a bucket lifecycle rule clears what an abort could not.
   */
  async abort(): Promise<void> {
    await this.upload
      ?.abort()
      .catch((err) => log.warn(`Abort of multipart upload ${this.key} failed: ${describeError(err)}`));
  }
}
