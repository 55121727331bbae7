import { createHash } from "node:crypto";
import { registerIsolateCache } from "../lib/isolate-cache";
import { describeError, log } from "../lib/log";
import { JSON_TYPE, sha256Hex, type MultipartUpload, type PutResult, type Spaces } from "./client";

const encoder = new TextEncoder();

/** The part buffer starts this small (most objects are small) and doubles up to a part. */
const INITIAL_BUFFER = 64 * 1024;
/** Room past the part size, so a character cut at the part's end still fits (UTF-8 takes up to 4 bytes). */
const CHARACTER_ROOM = 4;

/** Spares kept: writers running at once in one isolate are few, and each spare is a whole part. */
const MAX_SPARE_PARTS = 2;
/** Full-size part buffers left by finished writers, for the next writer in this isolate. */
const spareParts: Uint8Array<ArrayBuffer>[] = [];
registerIsolateCache({
  name: "spaces.spare-part-buffers",
  why: "a part buffer is freed only by a full garbage collection: a new 5 MiB one per catalogue write piled up tens of MB before the collector ran",
  maxEntries: MAX_SPARE_PARTS,
  ttlMs: null,
  clear: () => void spareParts.splice(0),
});

export interface ObjectWriterResult extends PutResult {
  bytes: number;
  sha256: string;
  parts: number;
  /** Most bytes held in memory at once. */
  peakBufferedBytes: number;
}

/** Thrown by a writer in `verify` mode at the first part that differs from what Spaces holds. */
export class ContentChanged extends Error {
  constructor(readonly key: string) {
    super(`${key} changed`);
    this.name = "ContentChanged";
  }
}

/** A part's hash as recorded in the object's metadata (64 bits are plenty to notice a change). */
const partHash = (sha256: string) => sha256.slice(0, PART_HASH_CHARS);
const PART_HASH_CHARS = 16;

/**
 * Writes an object to Spaces in pieces, holding at most about one part in memory: small objects go
 * up in one PUT, big ones as a multipart upload. An object whose bytes equal what Spaces already
 * holds (by SHA-256) is not replaced.
 *
 * `verify` mode is for content that is probably unchanged (a daily poll): parts are compared with
 * the part hashes recorded on the stored object and nothing is written; the first difference throws
 * ContentChanged, and the caller writes again in the normal mode. An unchanged big object then
 * costs no write at all, where the normal mode would upload its parts before finding that out.
 */
export class ObjectWriter {
  private readonly hash = createHash("sha256");
  /** The part being filled: text is encoded straight into it, and it is reused for every part. */
  private buffer = new Uint8Array(0);
  private buffered = 0;
  private size = 0;
  private peak = 0;
  private readonly partHashes: string[] = [];
  private upload: MultipartUpload | null = null;
  private stored: { sha256: string; parts: string[] } | null | undefined;

  constructor(
    private readonly spaces: Spaces,
    readonly key: string,
    /** S3 needs parts of at least 5 MiB, but the last. */
    private readonly partSize = 8 * 1024 * 1024,
    private readonly contentType = JSON_TYPE,
    private readonly mode: "write" | "verify" = "write",
    /** About how big the object will be (its last size): the buffer starts there instead of doubling up to it. */
    private readonly expectedBytes = 0,
  ) {}

  /** What Spaces holds now (read once). */
  private async storedHashes() {
    if (this.stored === undefined) this.stored = await this.spaces.storedHashes(this.key);
    return this.stored;
  }

  /** Doubles the buffer, up to a part and CHARACTER_ROOM. */
  private grow() {
    const most = this.partSize + CHARACTER_ROOM;
    if (this.buffer.byteLength >= most) return;
    const size = Math.min(
      most,
      Math.max(INITIAL_BUFFER, this.expectedBytes + CHARACTER_ROOM, this.buffer.byteLength * 2),
    );
    const spare = size === most ? spareParts.findIndex((b) => b.byteLength === most) : -1;
    const bigger = spare >= 0 ? spareParts.splice(spare, 1)[0]! : new Uint8Array(size);
    bigger.set(this.buffer.subarray(0, this.buffered));
    this.buffer = bigger;
  }

  /** Hands a full-size buffer on to the next writer; this writer is done with it. */
  private release() {
    const most = this.partSize + CHARACTER_ROOM;
    if (this.buffer.byteLength === most && spareParts.length < MAX_SPARE_PARTS) spareParts.push(this.buffer);
    this.buffer = new Uint8Array(0);
    this.buffered = 0;
  }

  /** Counts and hashes the bytes put in the buffer since `from`. */
  private added(from: number) {
    this.hash.update(this.buffer.subarray(from, this.buffered));
    this.size += this.buffered - from;
    this.peak = Math.max(this.peak, this.buffered);
  }

  async write(text: string | Uint8Array): Promise<void> {
    if (typeof text === "string") {
      for (let rest = text; rest.length > 0;) {
        const from = this.buffered;
        const { read, written } = encoder.encodeInto(rest, this.buffer.subarray(from));
        this.buffered += written;
        this.added(from);
        rest = read < rest.length ? rest.slice(read) : "";
        if (this.buffered >= this.partSize) await this.flushPart();
        else if (rest.length > 0) this.grow();
      }
      return;
    }
    for (let offset = 0; offset < text.byteLength;) {
      if (this.buffered === this.buffer.byteLength) this.grow();
      const piece = text.subarray(offset, offset + Math.min(this.buffer.byteLength, this.partSize) - this.buffered);
      const from = this.buffered;
      this.buffer.set(piece, from);
      this.buffered += piece.byteLength;
      offset += piece.byteLength;
      this.added(from);
      if (this.buffered >= this.partSize) await this.flushPart();
    }
  }

  private async flushPart() {
    const part = this.buffer.subarray(0, this.buffered);
    const sha256 = sha256Hex(part);
    const hash = partHash(sha256);
    const index = this.partHashes.push(hash) - 1;
    if (this.mode === "verify") {
      this.buffered = 0;
      if ((await this.storedHashes())?.parts[index] !== hash) throw new ContentChanged(this.key);
      return;
    }
    this.upload ??= await this.spaces.startMultipart(this.key, this.contentType);
    // The part has been sent when this resolves: the buffer is free to fill again.
    await this.upload.uploadPart(part, sha256);
    this.buffered = 0;
  }

  async finish(): Promise<ObjectWriterResult> {
    try {
      return await this.complete();
    } finally {
      this.release();
    }
  }

  private async complete(): Promise<ObjectWriterResult> {
    const sha256 = this.hash.digest("hex");
    const figures = { bytes: this.size, sha256, peakBufferedBytes: this.peak };
    if (this.mode === "verify") {
      const stored = await this.storedHashes();
      const last = this.buffered > 0 ? [partHash(sha256Hex(this.buffer.subarray(0, this.buffered)))] : [];
      const sameParts = stored !== null && [...this.partHashes, ...last].length === stored.parts.length;
      if (stored?.sha256 === sha256 && (this.partHashes.length === 0 || sameParts)) {
        return { key: this.key, written: false, ...figures, parts: 0 };
      }
      throw new ContentChanged(this.key);
    }
    if (!this.upload) {
      const result = await this.spaces.putIfChanged(
        this.key,
        this.buffer.subarray(0, this.buffered),
        sha256,
        this.contentType,
      );
      return { ...result, ...figures, parts: result.written ? 1 : 0 };
    }
    if ((await this.storedHashes())?.sha256 === sha256) {
      await this.abort();
      return { key: this.key, written: false, ...figures, parts: 0 };
    }
    if (this.buffered > 0) await this.flushPart();
    await this.upload.complete();
    // The hashes are known only now; record them so the next writer can skip what is unchanged.
    await this.spaces.setHashes(this.key, sha256, this.partHashes, this.contentType);
    return { key: this.key, written: true, ...figures, parts: this.partHashes.length };
  }

  /**
   * Drops a started multipart upload, so no orphan parts are kept. Best effort: the object is not
   * touched either way, and a bucket lifecycle rule clears what an abort could not.
   */
  async abort(): Promise<void> {
    this.release();
    await this.upload
      ?.abort()
      .catch((err) => log.warn(`Abort of multipart upload ${this.key} failed: ${describeError(err)}`));
  }
}
