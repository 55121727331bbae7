/**
 * The layout rules a compiler cannot check, run by `npm test` (`npm run check`):
 * - one scheme per level: `src/` holds only the folders of LAYOUT below (and the entry files), so a
 *   new concern gets a named home instead of a stray file;
 * - every route is declared in `src/http/`: `new Hono` appears nowhere else;
 * - every HTML page is answered by `src/http/pages/respond.ts` (its headers): `.html(` nowhere else;
 * - SQL lives in `src/db/` (D1, and `object-meta.ts`: the named values of a Durable Object),
 *   `src/conversations/store.ts` and `src/catalogue/store.ts` (Durable Objects' SQLite) and
 *   `src/console/rows.ts` (read-only); the backup's dump format, `src/backup/`, reads and writes SQL
 *   text as data. Every other module reaches D1 through the stores, which journal what they change;
 * - no import cycles in `src/` (type imports count: a cycle of types still ties the files together);
 * - data flows one way: `src/db/`, `src/spaces/` and `src/lib/` never import routes, platforms or jobs.
 * Exits non-zero with one line per breach.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : /\.tsx?$/.test(name) ? [path] : [];
  });
}

const all = files(src);
const rel = (path: string) => relative(root, path);
const breaches: string[] = [];

// A statement keyword followed by the words that make it SQL, inside a string or template literal.
const SQL =
  /["'`]\s*(SELECT\s[\s\S]*?\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|ALTER\s+TABLE)\b/;
const SQL_HOMES = [
  "src/db/",
  "src/backup/",
  "src/conversations/store.ts",
  "src/catalogue/store.ts",
  "src/console/rows.ts",
];
/** The folders of `src/`, one concern each (README, "Layout"). */
const LAYOUT = [
  "alerts",
  "backup",
  "catalogue",
  "console",
  "conversations",
  "db",
  "facebook",
  "http",
  "identity",
  "jobs",
  "lib",
  "shopify",
  "spaces",
];
const ENTRY_FILES = ["index.ts", "app.ts", "config.ts", "env.ts", "services.ts"];
const FOUNDATION = /^src\/(db|spaces|lib)\//;
/** The one path every HTML page goes out by, with its CSP, framing, caching and sniffing headers. */
const PAGE_PATH = "src/http/pages/respond.ts";
const JOURNAL_FORMAT = ["src/backup/journal.ts", "src/backup/auth.ts"];

for (const name of readdirSync(src)) {
  const isDir = statSync(join(src, name)).isDirectory();
  if (isDir ? !LAYOUT.includes(name) : !ENTRY_FILES.includes(name))
    breaches.push(`src/${name}: not a home of the layout (${LAYOUT.join(", ")}); put it in one or add it to LAYOUT`);
}

const imports = new Map<string, string[]>();
for (const path of all) {
  const text = readFileSync(path, "utf8");
  if (!SQL_HOMES.some((home) => rel(path).startsWith(home))) {
    text.split("\n").forEach((line, i) => {
      if (SQL.test(line)) breaches.push(`${rel(path)}:${i + 1}: SQL outside its homes (add a store method in src/db/)`);
    });
  }
  if (/new Hono\b/.test(text) && !rel(path).startsWith("src/http/") && rel(path) !== "src/app.ts")
    breaches.push(`${rel(path)}: declares routes outside src/http/`);
  if (/\.html\(/.test(text) && rel(path) !== PAGE_PATH)
    breaches.push(
      `${rel(path)}: answers HTML outside ${PAGE_PATH} (use page() or respond(): they set the page headers)`,
    );
  const targets: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+["'](\.[^"']+)["']/gm)) {
    const base = resolve(dirname(path), m[1]!);
    const target = [base, `${base}.ts`, `${base}.tsx`, join(base, "index.ts")].find((p) => all.includes(p));
    if (target) targets.push(target);
  }
  imports.set(path, targets);
}

for (const [path, targets] of imports) {
  const from = rel(path);
  if (!FOUNDATION.test(from)) continue;
  for (const target of targets) {
    const to = rel(target);
    // The journal's format and its signing key belong with the stores that journal every write.
    if (!FOUNDATION.test(to) && !JOURNAL_FORMAT.includes(to) && to !== "src/config.ts")
      breaches.push(`${from}: imports ${to} (db, spaces and lib must not depend on routes, platforms or jobs)`);
  }
}

// Depth-first search for a cycle; each one reported once, from its first module in path order.
const state = new Map<string, "open" | "done">();
const stack: string[] = [];
function visit(path: string) {
  state.set(path, "open");
  stack.push(path);
  for (const next of imports.get(path) ?? []) {
    if (state.get(next) === "open") {
      const cycle = stack.slice(stack.indexOf(next)).map(rel);
      breaches.push(`import cycle: ${[...cycle, rel(next)].join(" -> ")}`);
    } else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(path, "done");
}
for (const path of [...imports.keys()].sort()) if (!state.has(path)) visit(path);

if (breaches.length) {
  for (const line of breaches) console.error(line);
  console.error(`check-layout: ${breaches.length} breach(es) of the layout rules`);
  process.exit(1);
}
console.log(`check-layout: ${all.length} modules, one home per concern, SQL only in its homes, no import cycles`);
