/**
 * `npm run rotate-key [-- --remote] [--url URL] [--limit N] [--restart]`: re-encrypts every stored
 * token with the worker's current TOKEN_ENCRYPTION_KEY, through the worker (it has both keys):
 * `POST /admin/rotate-key` one chunk at a time from a cursor. The cursor is saved after each chunk
 * in .local/, so an interrupted run resumes where it stopped. When no row is left under another
 * key, a backup is made (signed with the new key) and TOKEN_ENCRYPTION_KEY_PREVIOUS can be emptied.
 *
 * Local (default): the worker of `npm start` (http://localhost:$PORT, default 8787) and the
 * ADMIN_TOKEN of .dev.vars. Remote: --url (or WORKER_URL) and ADMIN_TOKEN from the environment.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { RotationChunk } from "../src/db/token-rotation.ts";
import { LOCAL_DIR, readDevVars } from "../dev/local-stack.ts";
import { parseTarget } from "./lib/ops.ts";

/** A chunk as `POST /admin/rotate-key` answers it (the key id in snake case). */
const chunkAnswer = z.object({
  scanned: z.number(),
  rewritten: z.number(),
  cursor: z.string(),
  done: z.boolean(),
  remaining: z.number(),
  unreadable: z.array(z.string()),
  key_id: z.string(),
}) satisfies z.ZodType<Omit<RotationChunk, "keyId"> & { key_id: string }>;
type Chunk = z.infer<typeof chunkAnswer>;

/** The saved cursor of an interrupted run (.local/). */
const progressFile = z.object({
  url: z.string(),
  cursor: z.string(),
  scanned: z.number(),
  rewritten: z.number(),
  keyId: z.string(),
});
type Progress = z.infer<typeof progressFile>;

export async function rotateKey(opts: {
  url: string;
  adminToken: string;
  limit?: number;
  restart?: boolean;
  stateFile: string;
}) {
  const headers = { authorization: `Bearer ${opts.adminToken}`, "content-type": "application/json" };
  const saved: Progress | null =
    !opts.restart && existsSync(opts.stateFile)
      ? (progressFile.safeParse(JSON.parse(readFileSync(opts.stateFile, "utf8"))).data ?? null)
      : null;
  let progress: Progress =
    saved && saved.url === opts.url ? saved : { url: opts.url, cursor: "", scanned: 0, rewritten: 0, keyId: "" };
  if (progress.cursor) console.log(`Resuming after ${progress.cursor} (${progress.scanned} rows already scanned)`);
  const unreadable: string[] = [];
  let last: Chunk;
  for (;;) {
    const res = await fetch(`${opts.url}/admin/rotate-key`, {
      method: "POST",
      headers,
      body: JSON.stringify({ after: progress.cursor, limit: opts.limit ?? 200 }),
    }).catch((err: unknown) => {
      throw new Error(
        `the worker at ${opts.url} did not answer (${err instanceof Error ? err.message : String(err)}); is it running?`,
      );
    });
    if (res.status !== 200) throw new Error(`POST /admin/rotate-key answered ${res.status}: ${await res.text()}`);
    const answer = chunkAnswer.safeParse(await res.json());
    if (!answer.success) throw new Error(`POST /admin/rotate-key answered an unexpected body: ${answer.error.message}`);
    last = answer.data;
    if (progress.keyId && last.key_id !== progress.keyId) {
      // The worker's key changed mid-run: start over so every row ends under the newest key.
      console.log(`The current key changed (${progress.keyId} → ${last.key_id}): starting over`);
      progress = { url: opts.url, cursor: "", scanned: 0, rewritten: 0, keyId: last.key_id };
      continue;
    }
    progress = {
      url: opts.url,
      cursor: last.cursor,
      scanned: progress.scanned + last.scanned,
      rewritten: progress.rewritten + last.rewritten,
      keyId: last.key_id,
    };
    unreadable.push(...last.unreadable);
    // Reported as found, and passed over: the rest of the table is still rotated.
    if (last.unreadable.length) console.warn(`  no configured key decrypts ${last.unreadable.join(", ")}: passed over`);
    mkdirSync(LOCAL_DIR, { recursive: true });
    writeFileSync(opts.stateFile, JSON.stringify(progress));
    console.log(
      `  ${progress.scanned} rows scanned, ${progress.rewritten} re-encrypted; ${last.remaining} left under other keys (cursor ${progress.cursor || "start"})`,
    );
    if (last.done) break;
  }
  rmSync(opts.stateFile, { force: true });
  return { ...progress, remaining: last.remaining, unreadable };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const target = parseTarget(process.argv.slice(2));
  const vars = target.remote ? {} : readDevVars();
  const url = (
    target.args.get("url") ??
    (target.remote ? process.env.WORKER_URL : `http://localhost:${process.env.PORT ?? 8787}`) ??
    ""
  ).replace(/\/+$/, "");
  const adminToken = process.env.ADMIN_TOKEN ?? vars.ADMIN_TOKEN;
  if (!url || !adminToken) {
    console.error(
      target.remote ? "--remote needs --url (or WORKER_URL) and ADMIN_TOKEN" : "ADMIN_TOKEN missing from .dev.vars",
    );
    process.exit(2);
  }
  const started = Date.now();
  console.log(`Re-encrypting every token with the current key of ${url}`);
  rotateKey({
    url,
    adminToken,
    limit: target.args.has("limit") ? Number(target.args.get("limit")) : undefined,
    restart: target.args.has("restart"),
    stateFile: join(LOCAL_DIR, `rotate-key-${target.remote ? "remote" : "local"}.json`),
  })
    .then(async (result) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (result.remaining > 0 || result.unreadable.length) {
        console.error(
          `Rotation incomplete in ${seconds} s: ${result.remaining} rows still under other keys` +
            (result.unreadable.length ? `; no configured key decrypts: ${result.unreadable.join(", ")}` : "") +
            ". Keep TOKEN_ENCRYPTION_KEY_PREVIOUS.",
        );
        process.exit(1);
      }
      const backup = await fetch(`${url}/admin/backup`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}` },
      });
      const made = backup.ok ? ((await backup.json()) as { backups: { key: string }[] }).backups.map((b) => b.key) : [];
      console.log(
        `Rotation complete in ${seconds} s: ${result.scanned} rows scanned, ${result.rewritten} re-encrypted with key ${result.keyId}; none left under another key.`,
      );
      console.log(
        made.length
          ? `A backup signed with the new key was made: ${made.join(", ")}. TOKEN_ENCRYPTION_KEY_PREVIOUS can now be emptied.`
          : `The backup after the rotation failed (${backup.status}): run one (POST /admin/backup) before emptying TOKEN_ENCRYPTION_KEY_PREVIOUS.`,
      );
    })
    .catch((err) => {
      console.error(`Rotation stopped: ${err instanceof Error ? err.message : String(err)} (run it again to resume)`);
      process.exit(1);
    });
}
