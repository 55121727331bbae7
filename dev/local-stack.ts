import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Helpers shared by `npm start`, the drill and the benchmark: the local stack of the worker. */

export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
export const LOCAL_DIR = join(ROOT, ".local");
export const LOCAL_BUCKET = "local-spaces";
export const quietWrangler = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };

const wranglerBin = join(ROOT, "node_modules", ".bin", "wrangler");

/** The worker's variables of a development stack; those named here are always set. */
export type DevSecrets = Record<string, string> &
  Record<"SHOPIFY_API_SECRET" | "FACEBOOK_APP_SECRET" | "ADMIN_TOKEN" | "TOKEN_ENCRYPTION_KEY", string>;

/** Secrets written to a new `.dev.vars`: fresh random values, for development only. */
export function freshDevSecrets(): DevSecrets {
  const hex = (n: number) => randomBytes(n).toString("hex");
  return {
    SHOPIFY_API_KEY: `dev-${hex(8)}`,
    SHOPIFY_API_SECRET: hex(24),
    FACEBOOK_APP_ID: String(100000000000000 + (randomBytes(4).readUInt32BE() % 899999999)),
    FACEBOOK_APP_SECRET: hex(16),
    FACEBOOK_VERIFY_TOKEN: hex(16),
    SPACES_KEY: "S3RVER",
    SPACES_SECRET: "S3RVER",
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    ADMIN_TOKEN: hex(24),
    SPACES_BUCKET: LOCAL_BUCKET,
  };
}

export function readDevVars(path = join(ROOT, ".dev.vars")): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(path)) return out;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*"?(.*?)"?\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Creates `.dev.vars` with fresh development secrets when it is missing; returns its values. */
export function ensureDevVars(path = join(ROOT, ".dev.vars")): { vars: Record<string, string>; created: boolean } {
  if (existsSync(path)) return { vars: readDevVars(path), created: false };
  const vars = freshDevSecrets();
  const body = Object.entries(vars)
    .map(([k, v]) => `${k}="${v}"`)
    .join("\n");
  writeFileSync(path, `# Development secrets made by npm start. Not for production.\n${body}\n`, { mode: 0o600 });
  return { vars, created: true };
}

/** Runs wrangler to completion; throws with its output when it fails. */
export function wrangler(args: string[], opts: { quiet?: boolean } = {}): string {
  const result = spawnSync(wranglerBin, args, { cwd: ROOT, env: quietWrangler, encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`wrangler ${args.join(" ")} failed:\n${result.stdout}\n${result.stderr}`);
  }
  if (!opts.quiet) process.stdout.write(result.stdout);
  return result.stdout;
}

export function applyLocalMigrations(persistTo?: string) {
  const extra = persistTo ? ["--persist-to", persistTo] : [];
  for (const binding of ["TOKENS_DB", "SESSIONS_DB"]) {
    wrangler(["d1", "migrations", "apply", binding, "--local", ...extra], { quiet: true });
  }
}

/**
 * Starts `wrangler dev` with cron testing on; resolves when it answers. `debugger: false` starts the
 * same dev server without its DevTools inspector (dev/worker-server.ts), for the benchmark;
 * `logFile: false` also skips wrangler's debug log file there.
 */
export async function startWorker(opts: {
  port: number;
  vars: Record<string, string>;
  persistTo?: string;
  log?: (line: string) => void;
  envFile?: string;
  debugger?: boolean;
  logFile?: boolean;
  /** Serves the DevTools protocol on this port, to read the isolate's heap (dev/isolate-heap.ts). */
  inspectorPort?: number;
}): Promise<{ child: ChildProcess; origin: string; stop: () => Promise<void> }> {
  const args = [
    "dev",
    "--port",
    String(opts.port),
    "--ip",
    "127.0.0.1",
    "--test-scheduled",
    "--show-interactive-dev-session=false",
  ];
  if (opts.persistTo) args.push("--persist-to", opts.persistTo);
  if (opts.inspectorPort) args.push("--inspector-port", String(opts.inspectorPort));
  if (opts.envFile) args.push("--env-file", opts.envFile);
  for (const [k, v] of Object.entries(opts.vars)) args.push("--var", `${k}:${v}`);
  const [command, commandArgs] =
    opts.debugger === false
      ? [
          join(ROOT, "node_modules", ".bin", "tsx"),
          [
            join(ROOT, "dev", "worker-server.ts"),
            JSON.stringify({
              port: opts.port,
              vars: opts.vars,
              persistTo: opts.persistTo,
              envFile: opts.envFile,
              logFile: opts.logFile ?? true,
            }),
          ],
        ]
      : [wranglerBin, args];
  const child = spawn(command, commandArgs, {
    cwd: ROOT,
    env: quietWrangler,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const onLine = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) if (line.trim()) opts.log?.(line);
  };
  child.stdout!.on("data", onLine);
  child.stderr!.on("data", onLine);
  const origin = `http://127.0.0.1:${opts.port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with code ${child.exitCode}`);
    try {
      const res = await fetch(`${origin}/health`);
      await res.body?.cancel();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error("wrangler dev did not answer within 60 s");
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const stop = async () => {
    if (child.exitCode !== null) return;
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          /* already gone */
        }
        resolve();
      }, 5000);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  };
  return { child, origin, stop };
}

/** A free loopback port. */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
