/**
 * The one argument parser of the scripts (`node:util` parseArgs), with the flags every script
 * shares: `--remote <url>` acts on a deployed worker (its admin token from the ADMIN_TOKEN
 * environment variable), and by default, or with `--local`, on the local worker of `npm start`
 * (PORT, .dev.vars). The scripts that act on D1 and Spaces themselves (backup, restore) need no URL:
 * for them `--remote` may stand alone.
 */
import { parseArgs } from "node:util";
import { readDevVars } from "../../dev/local-stack.ts";

type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean };

const SHARED = {
  remote: { type: "string" },
  local: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Where a script acts: the local stack, or a deployed worker (`url` empty when `--remote` stood alone). */
export type Where = { remote: false } | { remote: true; url: string };

/** A wrong command line or a missing setting: printed alone, exit code 2. */
export class UsageError extends Error {}

/** The port of `npm start`'s worker when PORT does not name one. */
export const DEFAULT_PORT = 8787;

/**
 * Parses `argv` (the script's arguments) with the shared flags and `options`. `--help` prints
 * `usage` and exits 0; anything unknown, or `--local` with `--remote`, prints what was wrong and
 * `usage` and exits 2.
 */
export function scriptArgs<const O extends Record<string, OptionSpec>>(
  usage: string,
  options: O,
  argv: string[] = process.argv.slice(2),
) {
  let parsed;
  try {
    parsed = parseArgs({ args: bareRemote(argv), options: { ...SHARED, ...options }, strict: true });
  } catch (err) {
    return usageExit(`${err instanceof Error ? err.message : String(err)}\n${usage}`);
  }
  const { values } = parsed;
  // The shared flags, typed apart: inside this generic function TypeScript cannot see them in `values`.
  const shared: { remote?: string; local?: boolean; help?: boolean } = values;
  if (shared.help) {
    console.log(usage);
    process.exit(0);
  }
  if (shared.remote !== undefined && shared.local) return usageExit(`choose --local or --remote, not both\n${usage}`);
  const where: Where =
    shared.remote === undefined ? { remote: false } : { remote: true, url: shared.remote.replace(/\/+$/, "") };
  return { values, where };
}

function usageExit(text: string): never {
  console.error(text);
  process.exit(2);
}

/** `--remote` last or before another flag stands alone: given as an empty URL. */
function bareRemote(argv: string[]): string[] {
  return argv.map((arg, i) => (arg === "--remote" && (argv[i + 1] ?? "--").startsWith("--") ? "--remote=" : arg));
}

/** The worker a script calls and its admin token: the deployed one of `--remote`, else `npm start`'s. */
export function adminWorker(where: Where): { origin: string; token: string } {
  if (where.remote) {
    if (!where.url) throw new UsageError("--remote needs the worker's URL: --remote https://...");
    const token = process.env.ADMIN_TOKEN;
    if (!token) throw new UsageError("--remote needs the worker's admin token in the ADMIN_TOKEN environment variable");
    return { origin: where.url, token };
  }
  const token = readDevVars().ADMIN_TOKEN;
  if (!token) throw new UsageError("No ADMIN_TOKEN in .dev.vars: run npm start once to create it");
  return { origin: `http://127.0.0.1:${process.env.PORT ?? DEFAULT_PORT}`, token };
}

/** Runs a script's main: a UsageError exits 2 with its text, any other failure exits 1 after `failed`. */
export function runScript(main: () => Promise<unknown>, failed: string): void {
  main().catch((err) => {
    if (err instanceof UsageError) usageExit(err.message);
    console.error(`${failed}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
