import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { ROOT } from "../../dev/local-stack";
import { scriptArgs } from "../../scripts/lib/args";

const tsx = join(ROOT, "node_modules", ".bin", "tsx");

/** Runs a script as `npm run` does (its file through tsx), without a worker. */
function run(script: string, args: string[], env: Record<string, string> = {}) {
  const childEnv = { ...process.env };
  // Only the token the test gives: one in the runner's environment must not make a check pass.
  Reflect.deleteProperty(childEnv, "ADMIN_TOKEN");
  const result = spawnSync(tsx, [join(ROOT, "scripts", `${script}.ts`), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...childEnv, ...env },
    timeout: 60_000,
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** scriptArgs on `argv`; a usage exit comes back as its code and text instead of ending the test run. */
function parse(argv: string[]) {
  const exit = vi.spyOn(process, "exit").mockImplementation((code) => {
    throw new Error(`exit ${code}`);
  });
  const printed = vi.spyOn(console, "error").mockImplementation(() => undefined);
  try {
    return scriptArgs("usage: test", { at: { type: "string" }, yes: { type: "boolean" } }, argv);
  } catch (err) {
    return { exit: (err as Error).message, printed: printed.mock.calls.flat().join("\n") };
  } finally {
    exit.mockRestore();
    printed.mockRestore();
  }
}

describe("every script takes the same flags: --remote <url>, or --local (the default)", () => {
  it("parses the shared flags the same way for every script", () => {
    expect(parse([])).toMatchObject({ where: { remote: false } });
    expect(parse(["--local", "--yes"])).toMatchObject({ where: { remote: false }, values: { yes: true } });
    expect(parse(["--remote", "https://w.example/", "--at", "x"])).toMatchObject({
      where: { remote: true, url: "https://w.example" },
      values: { at: "x" },
    });
    // Backup and restore act on D1 and Spaces themselves: --remote may stand alone.
    expect(parse(["--remote", "--at", "x"])).toMatchObject({ where: { remote: true, url: "" }, values: { at: "x" } });
    expect(parse(["--remote"])).toMatchObject({ where: { remote: true, url: "" } });
    expect(parse(["--local", "--remote", "https://w.example"])).toEqual({
      exit: "exit 2",
      printed: "choose --local or --remote, not both\nusage: test",
    });
    expect(parse(["--bogus"])).toMatchObject({ exit: "exit 2", printed: expect.stringContaining("'--bogus'") });
    expect(parse(["stray"])).toMatchObject({ exit: "exit 2" });
  });

  it("no script reads its command line but through scripts/lib/args.ts", () => {
    const scripts = readdirSync(join(ROOT, "scripts")).filter(
      (name) => name.endsWith(".ts") && !name.endsWith(".d.ts"),
    );
    const reading = scripts.filter((name) => {
      const text = readFileSync(join(ROOT, "scripts", name), "utf8");
      return /process\.argv\.(slice|includes|indexOf)|process\.argv\[[2-9]\]/.test(text);
    });
    expect(reading).toEqual([]);
    const parsing = scripts.filter((name) => readFileSync(join(ROOT, "scripts", name), "utf8").includes("scriptArgs("));
    expect(parsing.sort()).toEqual(
      ["backup.ts", "bench.ts", "dev.ts", "drill.ts", "relink.ts", "restore.ts", "rotate-key.ts", "status.ts"].sort(),
    );
  });

  it("npm run relink -- --local is accepted, and says what else it needs", () => {
    const missing = run("relink", ["--local"]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("--to and one of --shop or --page are needed");
    expect(missing.err).not.toContain("Unknown option");
  });

  it("--remote calls the worker at its URL with ADMIN_TOKEN from the environment, and needs both", async () => {
    const port = await closedPort();
    const status = run("status", ["--remote", `http://127.0.0.1:${port}/`], { ADMIN_TOKEN: "t".repeat(32) });
    expect(status.code).toBe(1);
    expect(status.err).toContain(`No worker answers on http://127.0.0.1:${port}.`);
    expect(status.err).not.toContain("t".repeat(32));

    const noToken = run("status", ["--remote", `http://127.0.0.1:${port}`]);
    expect(noToken.code).toBe(2);
    expect(noToken.err).toContain("ADMIN_TOKEN environment variable");
  });
});
