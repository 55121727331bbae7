import { z } from "zod";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { BackupAuth } from "../../src/backup/auth.ts";
import type { DatabaseName } from "../../src/backup/dump.ts";
import type { Migration } from "../../src/backup/schema.ts";
import { config } from "../../src/config.ts";
import { Spaces } from "../../src/spaces/client.ts";
import { startS3Standin } from "../../dev/fakes/s3.ts";
import { LOCAL_BUCKET, LOCAL_DIR, ROOT, quietWrangler, readDevVars } from "../../dev/local-stack.ts";

/** What `wrangler d1 execute --json` prints: one result set a statement. */
const anyRow = z.record(z.string(), z.unknown());
const d1Json = z.array(z.object({ results: z.array(anyRow) }));

// The SDK warns on every run that its support for Node 20 ends: noise for a script run by hand.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

/** What `npm run backup`, `restore` and `drill` share: where they act, and how they talk to D1 and Spaces. */

export interface Target {
  remote: boolean;
  /** The deployed worker's URL, when `--remote <url>` named one. */
  url?: string;
  /** Local D1 state folder (wrangler's --persist-to); default .wrangler/state. */
  persistTo?: string;
}

const wranglerBin = join(ROOT, "node_modules", ".bin", "wrangler");

function whereArgs(target: Target): string[] {
  if (target.remote) return ["--remote"];
  return target.persistTo ? ["--local", "--persist-to", target.persistTo] : ["--local"];
}

export function runWrangler(args: string[]): string {
  const result = spawnSync(wranglerBin, args, { cwd: ROOT, env: quietWrangler, encoding: "utf8", maxBuffer: 1 << 28 });
  if (result.status !== 0) throw new Error(`wrangler ${args.join(" ")} failed:\n${result.stderr || result.stdout}`);
  return result.stdout;
}

/**
 * `wrangler d1 export`. It has no --persist-to, so for another state folder it is run with a copy
 * of wrangler.toml placed where that folder is its default (`<dir>/.wrangler/state`).
 */
export async function d1Export(binding: string, output: string, target: Target) {
  if (target.remote || !target.persistTo) {
    await runWranglerAsync(["d1", "export", binding, target.remote ? "--remote" : "--local", "--output", output]);
    return;
  }
  const stateDir = resolve(target.persistTo);
  if (!stateDir.endsWith(join(".wrangler", "state")))
    throw new Error("--persist-to must end with .wrangler/state for d1 export");
  const configCopy = join(dirname(dirname(stateDir)), "wrangler.toml");
  const text = readFileSync(join(ROOT, "wrangler.toml"), "utf8")
    .replace(/^main = "(.*)"$/m, (_, p: string) => `main = "${join(ROOT, p)}"`)
    .replace(/^migrations_dir = "(.*)"$/gm, (_, p: string) => `migrations_dir = "${join(ROOT, p)}"`)
    .replace(/= "\.\/node_modules\//g, `= "${ROOT}/node_modules/`);
  writeFileSync(configCopy, text);
  await runWranglerAsync(["d1", "export", binding, "--local", "-c", configCopy, "--output", output]);
}

export function d1ExecuteFile(binding: string, file: string, target: Target) {
  runWrangler(["d1", "execute", binding, ...whereArgs(target), "--file", file, "--yes"]);
}

/** wrangler as a child process that does not block: two databases are worked on at once. */
export function runWranglerAsync(args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(wranglerBin, args, { cwd: ROOT, env: quietWrangler });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) => {
      const stdout = Buffer.concat(out).toString("utf8");
      if (code === 0) resolvePromise(stdout);
      else reject(new Error(`wrangler ${args.join(" ")} failed:\n${Buffer.concat(err).toString("utf8") || stdout}`));
    });
  });
}

export const d1ExecuteFileAsync = (binding: string, file: string, target: Target) =>
  runWranglerAsync(["d1", "execute", binding, ...whereArgs(target), "--file", file, "--yes"]);

/** Several queries in one wrangler process: the results of each, in order. */
export async function d1QueryAll(
  binding: string,
  sqls: string[],
  target: Target,
): Promise<Record<string, unknown>[][]> {
  const out = await runWranglerAsync([
    "d1",
    "execute",
    binding,
    ...whereArgs(target),
    "--command",
    sqls.join("; "),
    "--json",
  ]);
  return d1Json.parse(JSON.parse(out)).map((r) => r.results);
}

/** The migrations of each database, as the worker's bindings list them (for the dump shape check). */
function scriptMigrations(): Record<DatabaseName, Migration[]> {
  const read = (dir: string): Migration[] =>
    readdirSync(join(ROOT, "migrations", dir))
      .filter((f) => f.endsWith(".sql"))
      .sort()
      .map((name) => ({ name, queries: [readFileSync(join(ROOT, "migrations", dir, name), "utf8")] }));
  return { tokens: read("tokens"), sessions: read("sessions") };
}

/**
 * The backup authenticator of the scripts: TOKEN_ENCRYPTION_KEY (and _PREVIOUS, comma separated)
 * from the environment, else (locally) from `.dev.vars`: the same keys the worker has.
 */
async function scriptAuth(target: Target): Promise<BackupAuth> {
  const vars = target.remote ? {} : readDevVars();
  const current = process.env.TOKEN_ENCRYPTION_KEY ?? vars.TOKEN_ENCRYPTION_KEY;
  if (!current) throw new Error("TOKEN_ENCRYPTION_KEY is not set (it signs and checks backups)");
  const previous = (process.env.TOKEN_ENCRYPTION_KEY_PREVIOUS ?? vars.TOKEN_ENCRYPTION_KEY_PREVIOUS ?? "")
    .split(",")
    .filter(Boolean);
  return BackupAuth.create(current, previous);
}

/** The rows of one query through `wrangler d1 execute`, each parsed with `row`. */
export function d1Query<S extends z.ZodType>(binding: string, sql: string, target: Target, row: S): z.infer<S>[] {
  const out = runWrangler(["d1", "execute", binding, ...whereArgs(target), "--command", sql, "--json"]);
  return d1Json
    .parse(JSON.parse(out))
    .flatMap((r) => r.results)
    .map((r) => row.parse(r));
}

/**
 * Spaces for the scripts. Remote: SPACES_* from the environment. Local: `.dev.vars` and the S3
 * stand-in of `npm start` (started here on .local/s3 when it is not running).
 */
export async function scriptSpaces(
  target: Target,
): Promise<{ spaces: Spaces; bucket: string; close: () => Promise<void> }> {
  if (target.remote) {
    const cfg = config(process.env, "spaces");
    return { spaces: new Spaces(cfg), bucket: cfg.SPACES_BUCKET, close: async () => undefined };
  }
  const vars = {
    ...readDevVars(),
    ...pick(process.env, ["SPACES_ENDPOINT", "SPACES_KEY", "SPACES_SECRET", "SPACES_BUCKET"]),
  };
  const endpoint = vars.SPACES_ENDPOINT ?? "http://127.0.0.1:9000";
  let close = async () => undefined as void;
  // A stand-in is started only for npm start's own one; an endpoint that was named is used as it is.
  if (!process.env.SPACES_ENDPOINT && !(await answers(endpoint))) {
    mkdirSync(join(LOCAL_DIR, "s3"), { recursive: true });
    const port = Number(new URL(endpoint).port || 9000);
    const s3 = await startS3Standin({
      bucket: vars.SPACES_BUCKET ?? LOCAL_BUCKET,
      port,
      directory: join(LOCAL_DIR, "s3"),
    });
    close = s3.close;
  }
  const cfg = config(
    { SPACES_KEY: "S3RVER", SPACES_SECRET: "S3RVER", SPACES_BUCKET: LOCAL_BUCKET, ...vars, SPACES_ENDPOINT: endpoint },
    "spaces",
  );
  return { spaces: new Spaces(cfg), bucket: cfg.SPACES_BUCKET, close };
}

function pick(env: NodeJS.ProcessEnv, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (env[n]) out[n] = env[n]!;
  return out;
}

async function answers(origin: string): Promise<boolean> {
  try {
    const res = await fetch(origin, { signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

export function ensureDir(dir: string) {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  return dir;
}

/** Where backup and restore keep a copy of each dump they handle: backups/ in the repository. */
export const localBackupsDir = () => ensureDir(join(ROOT, "backups"));

/**
 * Spaces, the backup authenticator and the schema's migrations: what backup and restore both need.
 * The key is read first: without it nothing is started.
 */
export type BackupAccess = Awaited<ReturnType<typeof backupAccess>>;

export async function backupAccess(target: Target) {
  const auth = await scriptAuth(target);
  return { ...(await scriptSpaces(target)), auth, migrations: scriptMigrations() };
}

/** A step of a long operation: prints what it does, how long it took, and fails loudly. */
export async function step<T>(title: string, run: () => Promise<T> | T): Promise<T> {
  const started = Date.now();
  process.stdout.write(`• ${title} ... `);
  try {
    const result = await run();
    console.log(`ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return result;
  } catch (err) {
    console.log(`FAILED (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    throw err;
  }
}

export const human = (bytes: number) =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1 << 20
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${(bytes / (1 << 20)).toFixed(1)} MiB`;
