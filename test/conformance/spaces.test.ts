import { GetObjectAclCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { config } from "../../src/config";
import { sha256Hex } from "../../src/lib/signatures";
import { ContentChanged, ObjectWriter } from "../../src/spaces/object-writer";
import { Spaces, SpacesError, spacesEndpoint } from "../../src/spaces/client";

/** The Spaces writer against radosgw: signatures checked, ACLs enforced, bytes kept. */

const cfg = () => config(env, "spaces");
const store = () => new Spaces(cfg());
const prefix = `users/0f0e0d0c-0b0a-4908-8706-${Date.now().toString(16).padStart(12, "0").slice(-12)}/`;

function rawClient() {
  const c = cfg();
  const { endpoint, forcePathStyle } = spacesEndpoint(c);
  return new S3Client({
    endpoint,
    forcePathStyle,
    region: c.SPACES_REGION,
    credentials: { accessKeyId: c.SPACES_KEY, secretAccessKey: c.SPACES_SECRET },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

beforeAll(async () => {
  // The bucket is made by scripts/conformance.sh (s3cmd mb), as an operator makes a Space.
  await store().check();
});

function jsonOfSize(bytes: number): string {
  const item = JSON.stringify({ text: 'äöå / \u00e9 \ud83d\udc4b \\ " <tag>', n: 12345 });
  const parts: string[] = [];
  let size = 2;
  while (size < bytes) {
    parts.push(item);
    size += new TextEncoder().encode(item).length + 1;
  }
  return `[${parts.join(",")}]`;
}

describe("Spaces writer on radosgw", () => {
  it("stores a JSON string byte for byte, private, as application/json", async () => {
    const key = `${prefix}facebook/1/page_metadata.json`;
    const body = jsonOfSize(64 * 1024);
    await store().put(key, body);
    expect(await store().getText(key)).toBe(body);
    const head = await rawClient().send(new HeadObjectCommand({ Bucket: cfg().SPACES_BUCKET, Key: key }));
    expect(head.ContentType).toBe("application/json");
    expect(head.ContentLength).toBe(new TextEncoder().encode(body).length);
    const acl = await rawClient().send(new GetObjectAclCommand({ Bucket: cfg().SPACES_BUCKET, Key: key }));
    expect(acl.Grants?.map((g) => g.Permission)).toEqual(["FULL_CONTROL"]);
    expect(acl.Grants?.some((g) => g.Grantee?.URI?.includes("AllUsers"))).toBe(false);
  });

  it("stores the content type a writer asks for", async () => {
    const key = `${prefix}facebook/1/notes.txt`;
    await store().put(key, "plain text", { contentType: "text/plain" });
    const head = await rawClient().send(new HeadObjectCommand({ Bucket: cfg().SPACES_BUCKET, Key: key }));
    expect(head.ContentType).toBe("text/plain");
  });

  it("stores a streamed body byte for byte (no aws-chunked framing, no empty object)", async () => {
    const key = `${prefix}facebook/1/conversations/2.json`;
    const bytes = new TextEncoder().encode(jsonOfSize(1024 * 1024 + 17));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 65536) controller.enqueue(bytes.slice(i, i + 65536));
        controller.close();
      },
    });
    await store().put(key, stream, { contentLength: bytes.length });
    const back = await store().getText(key);
    expect(back!.length).toBe(new TextDecoder().decode(bytes).length);
    expect(back).toBe(new TextDecoder().decode(bytes));
  });

  it("refuses an anonymous GET of a written object (private ACL)", async () => {
    const key = `${prefix}shopify/acme.myshopify.com/shop_metadata.json`;
    await store().put(key, '{"shop":"acme.myshopify.com"}');
    const { endpoint } = spacesEndpoint(cfg());
    const res = await fetch(`${endpoint}/${cfg().SPACES_BUCKET}/${key}`);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("AccessDenied");
  });

  it("bytes that are not those the writer hashed are refused, and nothing is stored", async () => {
    const key = `${prefix}wrong-hash.json`;
    const bytes = new TextEncoder().encode('{"a":1}');
    const failure = await store()
      .put(key, bytes, { sha256: await sha256Hex(new TextEncoder().encode('{"a":2}')) })
      .catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SpacesError);
    expect((failure as SpacesError).status).toBe(400);
    expect(await store().getText(key)).toBeNull();
  });

  it("a wrong secret is an error the caller sees, with the server's code parsed from XML", async () => {
    const wrong = new Spaces({ ...cfg(), SPACES_SECRET: `${cfg().SPACES_SECRET}x` });
    const key = `${prefix}wrong-secret.json`;
    const failure = await wrong.put(key, "{}").catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SpacesError);
    expect((failure as SpacesError).status).toBe(403);
    expect((failure as SpacesError).s3Code).toBe("SignatureDoesNotMatch");
    expect(await store().getText(key)).toBeNull();
    await expect(wrong.check()).rejects.toBeInstanceOf(SpacesError);
  });

  it("lists keys back across pages", async () => {
    const listPrefix = `${prefix}list/`;
    const keys = Array.from({ length: 7 }, (_, i) => `${listPrefix}${i}.json`);
    for (const key of keys) await store().put(key, "{}");
    expect((await store().listKeys(listPrefix, 3)).sort()).toEqual(keys.sort());
  });

  it("lists a folder's own objects, sub-folders folded, from after a given key", async () => {
    // A page's conversations/ folder: files, and a sender's folder of attachments.
    const folder = `${prefix}conversations/`;
    for (const name of ["1.json", "10.json", "10/pic.jpg", "10/doc.pdf", "2.json"])
      await store().put(folder + name, "{}");
    const all = async (startAfter?: string, pageSize?: number) => {
      const keys: string[] = [];
      let continuation: string | undefined;
      do {
        const page = await store().listFolderPage(folder, { startAfter, continuation, pageSize });
        keys.push(...page.keys);
        continuation = page.next;
      } while (continuation);
      return keys.map((k) => k.slice(folder.length));
    };
    expect(await all()).toEqual(["1.json", "10.json", "2.json"]);
    expect(await all(undefined, 1)).toEqual(["1.json", "10.json", "2.json"]);
    expect(await all(`${folder}1/`)).toEqual(["10.json", "2.json"]);
    expect(await all(`${folder}10/`)).toEqual(["2.json"]);
  });

  it("skips an upload whose bytes are unchanged", async () => {
    const key = `${prefix}skip.json`;
    const bytes = new TextEncoder().encode('{"a":1}');
    const sha = await sha256Hex(bytes);
    expect((await store().putIfChanged(key, bytes, sha)).written).toBe(true);
    expect((await store().putIfChanged(key, bytes, sha)).written).toBe(false);
    expect(await store().storedSha256(key)).toBe(sha);
  });

  it("writes a 12 MiB file as a multipart upload, then skips (and aborts) an identical one", async () => {
    const key = `${prefix}shopify/big.myshopify.com/shop_products.json`;
    const chunk = `${JSON.stringify("p".repeat(1024 * 1024 - 3))},`;
    const write = async () => {
      const writer = new ObjectWriter(store(), key, 5 * 1024 * 1024);
      await writer.write("[");
      for (let i = 0; i < 12; i++) await writer.write(chunk);
      await writer.write('"end"]');
      return writer.finish();
    };
    const first = await write();
    expect(first).toMatchObject({ written: true, parts: 3 });
    const text = await store().getText(key);
    expect(JSON.parse(text!)).toHaveLength(13);
    expect(await store().storedSha256(key)).toBe(first.sha256);
    const acl = await rawClient().send(new GetObjectAclCommand({ Bucket: cfg().SPACES_BUCKET, Key: key }));
    expect(acl.Grants?.map((g) => g.Permission)).toEqual(["FULL_CONTROL"]);
    expect((await write()).written).toBe(false);
    // Compare mode reads the part hashes recorded on the object.
    const verify = async (lastChunk: string) => {
      const writer = new ObjectWriter(store(), key, 5 * 1024 * 1024, "application/json", "verify");
      await writer.write("[");
      for (let i = 0; i < 12; i++) await writer.write(i === 11 ? lastChunk : chunk);
      await writer.write('"end"]');
      return writer.finish();
    };
    expect((await verify(chunk)).written).toBe(false);
    await expect(verify(chunk.replace("p", "q"))).rejects.toBeInstanceOf(ContentChanged);
  });

  it("deletes, and a deleted object reads as missing", async () => {
    const key = `${prefix}gone.json`;
    await store().put(key, "{}");
    await store().delete(key);
    expect(await store().getText(key)).toBeNull();
  });

  it("leaves one object for s3cmd to read back, as a person would", async () => {
    await store().put("conformance/hello.json", '{"hello":"spaces"}\n');
  });
});
