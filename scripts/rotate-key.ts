/**
 * `npm run rotate-key [-- --local | --remote <url>] [--limit N] [--restart]`: re-encrypts every stored
 * token with the worker's current TOKEN_ENCRYPTION_KEY, through the worker (it has both keys):
 * `POST /admin/rotate-key` one chunk at a time from a cursor. The cursor is saved after each chunk
 * in .local/, so an interrupted run resumes where it stopped. When no row is left under another
 * key, a backup is made (signed with the new key) and TOKEN_ENCRYPTION_KEY_PREVIOUS can be emptied.
 *
 * Local (default): the worker of `npm start` (PORT) and the ADMIN_TOKEN of .dev.vars. Remote: the
 * worker at `--remote <url>`, with ADMIN_TOKEN from the environment.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { LOCAL_DIR } from "../dev/local-stack.ts";
import { adminClient, refusal } from "../dev/platform-client.ts";
import { adminWorker, scriptArgs } from "./lib/args.ts";

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
  const admin = adminClient(opts.url, opts.adminToken);
  const saved: Progress | null =
    !opts.restart && existsSync(opts.stateFile)
      ? (progressFile.safeParse(JSON.parse(readFileSync(opts.stateFile, "utf8"))).data ?? null)
      : null;
  let progress: Progress =
    saved && saved.url === opts.url ? saved : { url: opts.url, cursor: "", scanned: 0, rewritten: 0, keyId: "" };
  if (progress.cursor) console.log(`Resuming after ${progress.cursor} (${progress.scanned} rows already scanned)`);
  const unreadable: string[] = [];
  let last;
  for (;;) {
    const res = await admin["rotate-key"]
      .$post({ json: { after: progress.cursor, limit: opts.limit ?? 200 } })
      .catch((err: unknown) => {
        throw new Error(
          `the worker at ${opts.url} did not answer (${err instanceof Error ? err.message : String(err)}); is it running?`,
        );
      });
    if (res.status !== 200) throw new Error(`POST /admin/rotate-key answered ${await refusal(res)}`);
    last = await res.json();
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
  const usage = "usage: npm run rotate-key [-- --local | --remote <url>] [--limit <n>] [--restart]";
  const { values, where } = scriptArgs(usage, { limit: { type: "string" }, restart: { type: "boolean" } });
  let worker;
  try {
    worker = adminWorker(where);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  }
  const { origin: url, token: adminToken } = worker;
  const started = Date.now();
  console.log(`Re-encrypting every token with the current key of ${url}`);
  rotateKey({
    url,
    adminToken,
    limit: values.limit === undefined ? undefined : Number(values.limit),
    restart: values.restart === true,
    stateFile: join(LOCAL_DIR, `rotate-key-${where.remote ? "remote" : "local"}.json`),
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
      const backup = await adminClient(url, adminToken).backup.$post();
      const made = backup.ok ? (await backup.json()).backups.map((b) => b.key) : [];
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
