import { z } from "zod";
/**
 * RTO of a local restore at 10,000 and 100,000 tokens: each size seeded into fresh local databases
 * (tokens encrypted with the worker's cipher, a shop or page link for each), backed up with
 * `npm run backup`'s code (export, signed manifest, restore test in a scratch database), both
 * databases deleted, then restored with `npm run restore`'s code (plan, keep what it replaces,
 * scratch rehearsal, one `wrangler d1 execute --file` per database, read back), then the worker
 * started on the restored databases and a signed webhook sent: the RTO runs from the start of the
 * restore to that webhook's answer. Time here grows with the rows; the number of wrangler processes
 * a restore starts is fixed.
 *
 * Standalone: `tsx scripts/bench/rto.ts [--sizes 10000,100000]`; `npm run bench` calls rtoSection.
 */
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sqlLiteral } from "../../src/backup/sql-text.ts";
import { TokenCipher } from "../../src/lib/token-cipher.ts";
import { startS3Standin } from "../../dev/fakes/s3.ts";
import { backup } from "../backup.ts";
import { LOCAL_DIR, applyLocalMigrations, freePort, freshDevSecrets, startWorker } from "../../dev/local-stack.ts";
import { shopifyWebhookRequest } from "../../dev/platform-client.ts";
import { d1ExecuteFile, d1Query, ensureDir } from "../lib/ops.ts";
import { restore } from "../restore.ts";

type Add = (section: string, figure: string, value: number | string, unit?: string, note?: string) => void;

/** Multi-row INSERTs of `count` tokens, half shops and half pages, linked to random UUIDs. */
async function seed(count: number, key: string): Promise<string> {
  const cipher = await TokenCipher.create(key);
  const now = Date.now();
  const lines: string[] = [];
  let tokens: string[] = [];
  let links: string[] = [];
  let pages: string[] = [];
  const flush = () => {
    if (tokens.length) lines.push(`INSERT INTO tokens (key, value, status, updated_at) VALUES ${tokens.join(",")};`);
    if (links.length) lines.push(`INSERT INTO shops (shop, user_uuid, installed_at) VALUES ${links.join(",")};`);
    if (pages.length) lines.push(`INSERT INTO pages (page_id, user_uuid, name, linked_at) VALUES ${pages.join(",")};`);
    tokens = [];
    links = [];
    pages = [];
  };
  for (let i = 0; i < count; i++) {
    const uuid = sqlLiteral(crypto.randomUUID());
    const tokenKey =
      i % 2 === 0 ? `shopify:rto-${String(i).padStart(6, "0")}.myshopify.com` : `facebook:page:${700000000000000 + i}`;
    const value = await cipher.encrypt(`${i % 2 === 0 ? "shpua_" : "EAA"}${randomBytes(16).toString("hex")}`, tokenKey);
    tokens.push(`(${sqlLiteral(tokenKey)}, ${sqlLiteral(value)}, 'active', ${now})`);
    if (i % 2 === 0) links.push(`(${sqlLiteral(tokenKey.slice("shopify:".length))}, ${uuid}, ${now})`);
    else pages.push(`(${sqlLiteral(String(700000000000000 + i))}, ${uuid}, NULL, ${now})`);
    if (tokens.length === 100) flush();
  }
  flush();
  return lines.join("\n") + "\n";
}

export async function rtoSection(add: Add, sizes = [10_000, 100_000]): Promise<void> {
  console.log(`\nRTO: local restore of ${sizes.map((n) => n.toLocaleString("en")).join(" and ")} tokens`);
  const s3 = await startS3Standin({ bucket: "rto" });
  const key = randomBytes(32).toString("base64");
  const secrets = {
    ...freshDevSecrets(),
    TOKEN_ENCRYPTION_KEY: key,
    SPACES_ENDPOINT: s3.endpoint,
    SPACES_BUCKET: "rto",
  };
  Object.assign(process.env, {
    // No worker answers the backup's request here: it restore-tests in a scratch database itself.
    PORT: String(await freePort()),
    ADMIN_TOKEN: secrets.ADMIN_TOKEN,
    TOKEN_ENCRYPTION_KEY: key,
    SPACES_ENDPOINT: s3.endpoint,
    SPACES_KEY: "S3RVER",
    SPACES_SECRET: "S3RVER",
    SPACES_BUCKET: "rto",
  });
  try {
    for (const size of sizes) {
      const dir = join(LOCAL_DIR, `bench-rto-${process.pid}`);
      rmSync(dir, { recursive: true, force: true });
      const persistTo = ensureDir(join(dir, ".wrangler", "state"));
      const target = { remote: false, persistTo };
      applyLocalMigrations(persistTo);
      const file = join(dir, "seed.sql");
      writeFileSync(file, await seed(size, key));
      d1ExecuteFile("TOKENS_DB", file, target);
      const label = `${size.toLocaleString("en")} tokens`;
      const tb = Date.now();
      const [tokens] = await backup(target);
      add(
        "rto",
        `backup of ${label} (export, upload, scratch verification)`,
        (Date.now() - tb) / 1000,
        "s",
        `${(tokens!.bytes / 1048576).toFixed(1)} MiB dump`,
      );
      rmSync(join(persistTo, "v3", "d1"), { recursive: true, force: true });
      const tr = Date.now();
      const reports = await restore(target);
      const seconds = (Date.now() - tr) / 1000;
      const restored = Number(
        d1Query("TOKENS_DB", "SELECT COUNT(*) AS n FROM tokens", target, z.object({ n: z.number() }))[0]?.n,
      );
      if (restored !== size) throw new Error(`restored ${restored} tokens, expected ${size}`);
      add(
        "rto",
        `restore of ${label} (both databases lost)`,
        seconds,
        "s",
        `${reports[0]!.rows.tokens} tokens read back`,
      );
      add("rto", `restore time per 1,000 tokens at ${label}`, (seconds / size) * 1000, "s");
      // The worker on the restored databases, and the first webhook it answers: the RTO's end.
      const worker = await startWorker({
        port: await freePort(),
        vars: secrets,
        persistTo,
        debugger: false,
        logFile: false,
      });
      try {
        const res = await fetch(
          await shopifyWebhookRequest(
            worker.origin,
            secrets,
            "rto-000000.myshopify.com",
            "products/update",
            { id: 1 },
            `rto-${size}-${Date.now()}`,
          ),
        );
        await res.body?.cancel();
        if (res.status !== 200) throw new Error(`first webhook after the restore answered ${res.status}`);
        add(
          "rto",
          `RTO at ${label}: restore start → first webhook answered`,
          (Date.now() - tr) / 1000,
          "s",
          "includes starting the worker",
        );
      } finally {
        await worker.stop();
      }
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await s3.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizesArg = process.argv.indexOf("--sizes");
  const sizes = sizesArg > 0 ? process.argv[sizesArg + 1]!.split(",").map(Number) : undefined;
  const add: Add = (_s, figure, value, unit = "", note) =>
    console.log(
      `  ${figure}: ${typeof value === "number" ? value.toFixed(2) : value} ${unit}${note ? `  (${note})` : ""}`,
    );
  rtoSection(add, sizes).then(
    () => process.exit(0),
    (err) => {
      console.error(`RTO bench failed: ${err instanceof Error ? err.stack : String(err)}`);
      process.exit(1);
    },
  );
}
