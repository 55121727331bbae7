/**
 * Bench section: the operator console's main page (and status.json) with many merchants.
 * From scripts/bench.ts: `await benchConsole(worker, ADMIN_TOKEN, add)` on its seeded stack.
 * Alone: `tsx scripts/bench/console.ts` seeds BENCH_MERCHANTS (default 1000) merchants, each with
 * a shop and a page, into a fresh local D1, starts the worker and measures. Target: the main page
 * within 100 ms.
 */
import { adminClient } from "../../dev/platform-client.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sqlLiteral } from "../../src/backup/dump.ts";
import { startFakeStack } from "../../dev/fake-stack.ts";
import { d1ExecuteFile } from "../lib/ops.ts";

type Add = (section: string, figure: string, value: number | string, unit?: string, note?: string) => void;

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

/** Signs in to the console as a browser does; returns the Cookie header of the sign-in. */
export async function consoleCookie(worker: string, adminToken: string): Promise<string> {
  const form = await fetch(`${worker}/admin/sign-in`, { headers: { accept: "text/html" } });
  const pre = /__Host-admin-signin=([0-9a-f]{64})/.exec(form.headers.get("set-cookie") ?? "")?.[1];
  const csrf = /name="csrf" value="([0-9a-f]{64})"/.exec(await form.text())?.[1];
  if (!pre || !csrf) throw new Error("the console's sign-in form has no CSRF token");
  const res = await fetch(`${worker}/admin/sign-in`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: `__Host-admin-signin=${pre}` },
    body: new URLSearchParams({ csrf, token: adminToken }).toString(),
  });
  const admin = /__Host-admin=([0-9a-f]{64})/.exec(res.headers.get("set-cookie") ?? "")?.[1];
  if (res.status !== 303 || !admin) throw new Error(`console sign-in answered ${res.status}`);
  return `__Host-admin=${admin}`;
}

/** Sequential requests (the console is one person's page): median and p95 of the answer time. */
async function timeRequests(url: string, headers: Record<string, string>, count: number) {
  const times: number[] = [];
  const sections: Record<string, number[]> = {};
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { headers });
    const body = await res.text();
    times.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
    bytes = body.length;
    for (const m of (res.headers.get("server-timing") ?? "").matchAll(/(\w+);dur=([\d.]+)/g))
      (sections[m[1]!] ??= []).push(Number(m[2]));
  }
  const breakdown = Object.entries(sections)
    .map(([name, ms]) => `${name} ${percentile(ms, 50).toFixed(0)}`)
    .join(", ");
  return { p50: percentile(times, 50), p95: percentile(times, 95), bytes, breakdown };
}

export async function benchConsole(worker: string, adminToken: string, add: Add, requests = 50) {
  console.log("\nOperator console");
  const cookie = await consoleCookie(worker, adminToken);
  const status = await adminClient(worker, adminToken)["status.json"].$get({ query: {} });
  const total = (await status.json()).merchants.total;
  for (let i = 0; i < 5; i++) await fetch(`${worker}/admin`, { headers: { cookie } }).then((r) => r.text());
  const main = await timeRequests(`${worker}/admin`, { cookie }, requests);
  add("console", `main page, ${total} merchants: median`, main.p50, "ms", "target ≤ 100 ms");
  add("console", "main page: median per section", main.breakdown, "ms", "read side by side");
  add("console", `main page, ${total} merchants: p95`, main.p95, "ms", `${(main.bytes / 1024).toFixed(0)} KiB of HTML`);
  const search = await timeRequests(`${worker}/admin?q=0042`, { cookie }, requests);
  add("console", "search by shop or page: median", search.p50, "ms");
  const last = await timeRequests(`${worker}/admin?page=${Math.max(1, Math.ceil(total / 50))}`, { cookie }, requests);
  add("console", "last page of merchants: median", last.p50, "ms");
  const json = await timeRequests(`${worker}/admin/status.json`, { authorization: `Bearer ${adminToken}` }, requests);
  add("console", "status.json: median", json.p50, "ms");
}

/** Merchants as installs and logins leave them: a shop and a page each, with (placeholder) tokens. */
function merchantsSql(count: number): string {
  const now = Date.now();
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const uuid = crypto.randomUUID();
    const shop = `console-${String(i).padStart(5, "0")}.myshopify.com`;
    const page = String(620000000000000 + i);
    lines.push(
      `INSERT INTO shops (shop, user_uuid, installed_at) VALUES (${sqlLiteral(shop)}, ${sqlLiteral(uuid)}, ${now});`,
      `INSERT INTO pages (page_id, user_uuid, name, linked_at) VALUES (${sqlLiteral(page)}, ${sqlLiteral(uuid)}, ${sqlLiteral(`Console page ${i}`)}, ${now});`,
      `INSERT INTO tokens (key, value, status, updated_at) VALUES (${sqlLiteral(`shopify:${shop}`)}, 'v1.placeholder', 'active', ${now});`,
      `INSERT INTO tokens (key, value, status, updated_at) VALUES (${sqlLiteral(`facebook:page:${page}`)}, 'v1.placeholder', 'active', ${now});`,
      `INSERT INTO webhook_deliveries (id, topic, shop, received_at) VALUES (${sqlLiteral(`bench-${i}`)}, 'products/update', ${sqlLiteral(shop)}, ${now});`,
    );
  }
  return `${lines.join("\n")}\n`;
}

async function standalone() {
  const merchants = Number(process.env.BENCH_MERCHANTS ?? 1000);
  const dir = mkdtempSync(join(tmpdir(), "bench-console-"));
  const stack = await startFakeStack({
    dir,
    bucket: "bench",
    seed: (persistTo) => {
      writeFileSync(join(dir, "seed.sql"), merchantsSql(merchants));
      d1ExecuteFile("TOKENS_DB", join(dir, "seed.sql"), { remote: false, persistTo });
    },
  });
  try {
    await benchConsole(stack.origin, stack.secrets.ADMIN_TOKEN, (_section, figure, value, unit = "", note) => {
      const shown = typeof value === "number" ? value.toFixed(1) : value;
      console.log(`  ${figure}: ${shown} ${unit}${note ? `  (${note})` : ""}`);
    });
  } finally {
    await stack.stop();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await standalone();
