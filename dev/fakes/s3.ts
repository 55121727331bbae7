import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error s3rver ships no types
import S3rver from "s3rver";

/**
 * s3rver: an S3 stand-in for local runs and the fast test suite. It does not check signatures or
 * ACLs; the conformance suite proves the Spaces writer against Ceph's radosgw for that.
 */
export async function startS3Standin(opts: { bucket: string; port?: number; directory?: string; silent?: boolean }) {
  const directory = opts.directory ?? mkdtempSync(join(tmpdir(), "s3rver-"));
  const server = new S3rver({
    port: opts.port ?? 0,
    address: "127.0.0.1",
    directory,
    silent: opts.silent ?? true,
    configureBuckets: [{ name: opts.bucket }],
    allowMismatchedSignatures: true,
  });
  const { port } = (await server.run()) as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    directory,
    close: async () => {
      await server.close();
      if (!opts.directory) rmSync(directory, { recursive: true, force: true });
    },
  };
}
