/**
 * The layout rules a compiler cannot check, run by `npm test` (`npm run check`):
 * - SQL lives in `src/storage/` only (the backup's dump format, `src/backup/`, reads and writes SQL
 *   text as data); every other module reaches D1 through the stores, which journal what they change;
 * - no import cycles in `src/` (type imports count: a cycle of types still ties the files together);
 * - data flows one way: `src/storage/` and `src/lib/` never import routes, platforms or jobs.
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
const SQL_HOMES = ["src/storage/", "src/backup/"];
const JOURNAL_FORMAT = ["src/backup/journal.ts", "src/backup/auth.ts"];

const imports = new Map<string, string[]>();
for (const path of all) {
  const text = readFileSync(path, "utf8");
  if (!SQL_HOMES.some((home) => rel(path).startsWith(home))) {
    text.split("\n").forEach((line, i) => {
      if (SQL.test(line)) breaches.push(`${rel(path)}:${i + 1}: SQL outside src/storage/ (add a store method)`);
    });
  }
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
  if (!from.startsWith("src/storage/") && !from.startsWith("src/lib/")) continue;
  for (const target of targets) {
    const to = rel(target);
    // The journal's format and its signing key belong with the stores that journal every write.
    if (!/^src\/(storage|lib)\//.test(to) && !JOURNAL_FORMAT.includes(to) && to !== "src/config.ts")
      breaches.push(`${from}: imports ${to} (storage and lib must not depend on routes, platforms or jobs)`);
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
console.log(`check-layout: ${all.length} modules, SQL only in storage, no import cycles`);
