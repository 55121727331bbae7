import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/lib/signatures";
import { SpacesError, xmlTexts } from "../../src/spaces/client";
import { control, logsOfEachTest, spaces } from "../helpers";

/**
 * The Spaces client's own requests, against the S3 stand-in behind the fault proxy: keys as S3
 * names them, listings read back from XML, and what a failing Spaces does to a call. Signatures,
 * ACLs and listings across pages are checked by the conformance suite against radosgw (the
 * stand-in's continuation tokens use DES, which Node 20's OpenSSL no longer offers).
 */

logsOfEachTest();

const folder = () => `users/0f0e0d0c-0b0a-4908-8706-${crypto.randomUUID().slice(-12)}/facebook/1/`;

describe("Spaces client", () => {
  it("writes, lists and reads back keys with spaces, plus signs, ampersands, quotes and accents", async () => {
    const prefix = folder();
    const names = ["a b.json", "c+d.json", "e&f.json", "g'h(1).json", "é ü.json", "sub/i<j>.json"];
    for (const [i, name] of names.entries()) await spaces().put(prefix + name, JSON.stringify({ i }));
    expect((await spaces().listKeys(prefix)).sort()).toEqual(names.map((n) => prefix + n).sort());
    for (const [i, name] of names.entries()) expect(await spaces().getText(prefix + name)).toBe(JSON.stringify({ i }));
    // One level only: the sub-folder is folded away.
    const page = await spaces().listFolderPage(prefix);
    expect(page.keys.sort()).toEqual(
      names
        .filter((n) => !n.includes("/"))
        .map((n) => prefix + n)
        .sort(),
    );
  });

  it("reads a missing object as null, and deletes and copies keep their meaning", async () => {
    const prefix = folder();
    expect(await spaces().getText(`${prefix}missing.json`)).toBeNull();
    expect(await spaces().storedHashes(`${prefix}missing.json`)).toBeNull();
    const sha256 = await sha256Hex('{"a":1}');
    await spaces().put(`${prefix}from.json`, '{"a":1}', { sha256 });
    await spaces().copy(`${prefix}from.json`, `${prefix}to.json`);
    expect(await spaces().getText(`${prefix}to.json`)).toBe('{"a":1}');
    expect(await spaces().storedSha256(`${prefix}to.json`)).toBe(sha256);
    await spaces().delete(`${prefix}from.json`);
    expect(await spaces().getText(`${prefix}from.json`)).toBeNull();
  });

  it("sends a refused request three times, then fails with the server's status and code", async () => {
    await control("spaces", "reset-counts");
    await control("spaces", "mode", { mode: "down" });
    const failure = await spaces()
      .put(`${folder()}down.json`, "{}")
      .catch((err: unknown) => err);
    const counts = await control("spaces", "reset-counts");
    await control("spaces", "mode", { mode: "up" });
    expect(failure).toBeInstanceOf(SpacesError);
    expect((failure as SpacesError).status).toBe(503);
    expect((failure as SpacesError).s3Code).toBe("ServiceUnavailable");
    expect((failure as SpacesError).message).toContain("Spaces is down");
    expect(counts.refused).toBe(3);
  });

  it("a stream is sent once: a refused streamed write is not sent again", async () => {
    await control("spaces", "reset-counts");
    await control("spaces", "mode", { mode: "down" });
    const bytes = new TextEncoder().encode('{"streamed":true}');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    });
    const failure = await spaces()
      .put(`${folder()}stream.json`, stream, { contentLength: bytes.byteLength })
      .catch((err: unknown) => err);
    const counts = await control("spaces", "reset-counts");
    await control("spaces", "mode", { mode: "up" });
    expect((failure as SpacesError).status).toBe(503);
    expect(counts.refused).toBe(1);
  });

  it("reads S3's XML: entities and character references decoded, only the element asked for", () => {
    const xml =
      "<ListBucketResult><Prefix>p/</Prefix><Contents><Key>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;</Key></Contents>" +
      "<Contents><Key>&#233;&#xE9;</Key></Contents><CommonPrefixes><Prefix>p/sub/</Prefix></CommonPrefixes></ListBucketResult>";
    expect(xmlTexts(xml, "Key")).toEqual([`a & b <c> "d" 'e'`, "éé"]);
    expect(xmlTexts(xml, "Prefix")).toEqual(["p/", "p/sub/"]);
    expect(xmlTexts(xml, "NextContinuationToken")).toEqual([]);
  });
});
