import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startS3Standin } from "../../dev/fakes/s3";
import { ROOT, applyLocalMigrations, freePort, quietWrangler } from "../../dev/local-stack";

/**
 * `npm run restore -- --undo`, as an operator runs it: the scripts as child processes against local
 * D1 state in a folder of their own and the S3 stand-in. A restore first keeps what it replaces
 * under backups/undo/; `--undo` puts that back.
 */

const dir = mkdtempSync(join(tmpdir(), "restore-undo-"));
const persistTo = join(dir, ".wrangler", "state");
let s3: Awaited<ReturnType<typeof startS3Standin>>;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  applyLocalMigrations(persistTo);
  s3 = await startS3Standin({ bucket: "undo-test" });
  env = {
    ...quietWrangler,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    SPACES_ENDPOINT: s3.endpoint,
    SPACES_KEY: "S3RVER",
    SPACES_SECRET: "S3RVER",
    SPACES_BUCKET: "undo-test",
    // No worker answers here: `npm run backup` restore-tests in a scratch local database itself.
    PORT: String(await freePort()),
    ADMIN_TOKEN: randomBytes(16).toString("hex"),
  };
}, 600_000);

afterAll(async () => {
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A script as a child process; asynchronous, so the S3 stand-in in this process keeps answering it. */
function run(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, "node_modules", ".bin", "tsx"), [join(ROOT, "scripts", script), ...args], {
      cwd: ROOT,
      env,
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (out += d));
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${script} ${args.join(" ")} failed:\n${out}`)),
    );
  });
}

function wrangler(args: string[]) {
  const result = spawnSync(join(ROOT, "node_modules", ".bin", "wrangler"), args, {
    cwd: ROOT,
    env,
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`wrangler ${args.join(" ")} failed:\n${result.stderr}`);
  return result.stdout;
}

const where = ["--local", "--persist-to", persistTo];

function shops(): string[] {
  const out = wrangler([
    "d1",
    "execute",
    "TOKENS_DB",
    ...where,
    "--command",
    "SELECT shop FROM shops ORDER BY shop",
    "--json",
  ]);
  return (JSON.parse(out) as { results: { shop: string }[] }[])[0]!.results.map((r) => r.shop);
}

function addShop(shop: string) {
  const file = join(dir, "add.sql");
  writeFileSync(
    file,
    `INSERT INTO tokens (key, value, status, updated_at) VALUES ('shopify:${shop}', 'v1.x', 'active', 1);
     INSERT INTO shops (shop, user_uuid, installed_at) VALUES ('${shop}', '${crypto.randomUUID()}', 1);`,
  );
  wrangler(["d1", "execute", "TOKENS_DB", ...where, "--file", file, "--yes"]);
}

async function undoKeys(): Promise<string[]> {
  const res = await fetch(`${s3.endpoint}/undo-test?list-type=2&prefix=backups/undo/`);
  return [...(await res.text()).matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]!);
}

describe("npm run restore -- --undo", () => {
  it("a restore keeps what it replaced, and --undo puts it back (a second --undo goes forward again)", async () => {
    addShop("before-a.myshopify.com");
    expect(await run("backup.ts", ["--persist-to", persistTo])).toContain("restore-tested here");
    // After the backup, another shop: the state an operator would lose by restoring the wrong moment.
    addShop("after-b.myshopify.com");
    expect(shops()).toEqual(["after-b.myshopify.com", "before-a.myshopify.com"]);

    const restored = await run("restore.ts", ["--persist-to", persistTo, "--database", "tokens"]);
    expect(restored).toMatch(/keep what the restore replaces[\s\S]*kept backups\/undo\/tokens\/\d{8}T\d{9}Z\.sql/);
    expect(shops()).toEqual(["before-a.myshopify.com"]);
    const kept = await undoKeys();
    expect(kept.filter((k) => /^backups\/undo\/tokens\/\d{8}T\d{9}Z\.sql$/.test(k))).toHaveLength(1);
    expect(kept.filter((k) => /^backups\/undo\/tokens\/\d{8}T\d{9}Z\.manifest\.json$/.test(k))).toHaveLength(1);

    const undone = await run("restore.ts", ["--persist-to", persistTo, "--database", "tokens", "--undo"]);
    expect(undone).toContain("Restore complete");
    expect(shops()).toEqual(["after-b.myshopify.com", "before-a.myshopify.com"]);

    // The undo kept what it replaced too: undoing it returns to the restored state.
    await run("restore.ts", ["--persist-to", persistTo, "--database", "tokens", "--undo"]);
    expect(shops()).toEqual(["before-a.myshopify.com"]);
  }, 1_200_000);
});
