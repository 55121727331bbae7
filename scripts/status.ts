/**
 * `npm run status`: the operator console's view in the terminal, read from `GET /admin/status.json`.
 * Local stack (default): the worker of `npm start` on http://127.0.0.1:$PORT (8787) with the
 * ADMIN_TOKEN of .dev.vars. `--remote <url>`: a deployed worker, with ADMIN_TOKEN from the
 * environment. `--search <text>` and `--page <n>` as in the console; `--json` prints the JSON.
 */
import { readDevVars } from "../dev/local-stack.ts";
import { statusText } from "./lib/status-text.ts";
import type { StatusJson } from "../src/console/read-model.ts";

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const remote = option("--remote");
const origin = (remote ?? `http://127.0.0.1:${process.env.PORT ?? 8787}`).replace(/\/+$/, "");
const token = process.env.ADMIN_TOKEN ?? (remote ? undefined : readDevVars().ADMIN_TOKEN);
if (!token) {
  console.error(
    remote ? "Set ADMIN_TOKEN to the worker's admin token." : "No ADMIN_TOKEN in .dev.vars: run npm start once first.",
  );
  process.exit(2);
}
const query = new URLSearchParams();
if (option("--search")) query.set("q", option("--search")!);
if (option("--page")) query.set("page", option("--page")!);

let res: Response;
try {
  res = await fetch(`${origin}/admin/status.json?${query}`, { headers: { authorization: `Bearer ${token}` } });
} catch {
  console.error(`No worker answers on ${origin}${remote ? "" : ": start the local stack with npm start"}.`);
  process.exit(1);
}
if (!res.ok) {
  console.error(`${origin}/admin/status.json answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  process.exit(1);
}
const status = (await res.json()) as StatusJson;
console.log(args.includes("--json") ? JSON.stringify(status, null, 2) : statusText(origin, status));
