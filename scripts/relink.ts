/**
 * `npm run relink -- --shop <domain>|--page <id> --to <uuid> [--from <uuid>] [--local | --remote <url>]`:
 * the operator moves a shop or page to another user UUID, with its Spaces files. The worker does
 * the work (`POST /admin/relink`, Bearer ADMIN_TOKEN): the link moves (journaled), then each file
 * under the old `users/<uuid>/...` is copied, verified byte for byte and deleted.
 *
 * Locally (the default, or `--local`) it uses the worker of `npm start` when one answers on PORT, else it starts the
 * local stack (the S3 stand-in on .local/s3 and the worker) for the run. `--remote <url>` calls a
 * deployed worker, with the admin token from the ADMIN_TOKEN environment variable.
 * `--from` finishes a relink that stopped half-way (the link already moved, files left behind).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startS3Standin } from "../dev/fakes/s3.ts";
import {
  LOCAL_BUCKET,
  LOCAL_DIR,
  applyLocalMigrations,
  freePort,
  readDevVars,
  startWorker,
} from "../dev/local-stack.ts";
import { adminClient, refusal } from "../dev/platform-client.ts";
import { UsageError, adminWorker, runScript, scriptArgs, type Where } from "./lib/args.ts";

const USAGE =
  "usage: npm run relink -- --shop <domain>|--page <id> --to <uuid> [--from <uuid>] [--local | --remote <url>]";

function relinkArgs() {
  const { values, where } = scriptArgs(USAGE, {
    shop: { type: "string" },
    page: { type: "string" },
    to: { type: "string" },
    from: { type: "string" },
  });
  const { shop, page, to, from } = values;
  if (!to || (shop === undefined) === (page === undefined))
    throw new UsageError(`--to and one of --shop or --page are needed\n${USAGE}`);
  const body = { ...(shop !== undefined ? { shop } : { page: page! }), to, ...(from !== undefined ? { from } : {}) };
  return { body, where };
}

async function answers(origin: string): Promise<boolean> {
  try {
    const res = await fetch(`${origin}/ping`, { signal: AbortSignal.timeout(1500) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/** The worker to call, its admin token, and what to stop afterwards. */
async function worker(where: Where) {
  const { origin, token } = adminWorker(where);
  if (where.remote) return { origin, token, stop: async () => undefined };
  if (await answers(origin)) {
    console.log(`Using the local worker at ${origin}`);
    return { origin, token, stop: async () => undefined };
  }
  const vars = readDevVars();
  console.log("No local worker answers: starting the local stack for this run");
  mkdirSync(join(LOCAL_DIR, "s3"), { recursive: true });
  const s3 = await startS3Standin({
    bucket: vars.SPACES_BUCKET ?? LOCAL_BUCKET,
    port: await freePort(),
    directory: join(LOCAL_DIR, "s3"),
  });
  applyLocalMigrations();
  const dev = await startWorker({ port: await freePort(), vars: { SPACES_ENDPOINT: s3.endpoint } }).catch(
    async (err) => {
      await s3.close();
      throw err;
    },
  );
  return {
    origin: dev.origin,
    token,
    stop: async () => {
      await dev.stop();
      await s3.close();
    },
  };
}

async function main() {
  const { body, where } = relinkArgs();
  const what = "shop" in body ? `shop ${body.shop}` : `page ${body.page}`;
  const target = await worker(where);
  try {
    console.log(`Relinking ${what} to ${body.to} (${target.origin})`);
    const res = await adminClient(target.origin, target.token).relink.$post({ json: body });
    if (!res.ok) throw new Error(`relink refused (${await refusal(res)})`);
    const result = await res.json();
    for (const step of result.steps) console.log(`  ${step}`);
    if (!result.linkChanged && !result.moved.length) {
      console.log(`Nothing to do: ${what} is already linked to ${body.to}`);
    } else {
      console.log(
        `Done: ${what} now belongs to ${body.to} (was ${result.from}); ${result.moved.length} files moved, ` +
          `${result.kept.length} already there`,
      );
    }
  } finally {
    await target.stop();
  }
}

runScript(main, "Relink failed");
