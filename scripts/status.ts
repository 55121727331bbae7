/**
 * `npm run status`: the operator console's view in the terminal, read from `GET /admin/status.json`.
 * Local stack (default, or `--local`): the worker of `npm start` (PORT) with the ADMIN_TOKEN of
 * .dev.vars. `--remote <url>`: a deployed worker, with ADMIN_TOKEN from the environment. `--search <text>` and `--page <n>` as in the console; `--json` prints the JSON.
 */
import { UsageError, adminWorker, scriptArgs } from "./lib/args.ts";
import { statusText } from "./lib/status-text.ts";
import { adminClient, refusal } from "../dev/platform-client.ts";

const USAGE = "usage: npm run status [-- --local | --remote <url>] [--search <text>] [--page <n>] [--json]";
const { values, where } = scriptArgs(USAGE, {
  search: { type: "string" },
  page: { type: "string" },
  json: { type: "boolean" },
});
const remote = where.remote;
let worker;
try {
  worker = adminWorker(where);
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  console.error(err.message);
  process.exit(2);
}
const { origin, token } = worker;
const query = new URLSearchParams();
if (values.search) query.set("q", values.search);
if (values.page) query.set("page", values.page);

let res;
try {
  res = await adminClient(origin, token)["status.json"].$get({ query: Object.fromEntries(query) });
} catch {
  console.error(`No worker answers on ${origin}${remote ? "" : ": start the local stack with npm start"}.`);
  process.exit(1);
}
if (!res.ok) {
  console.error(`${origin}/admin/status.json answered ${await refusal(res)}`);
  process.exit(1);
}
const status = await res.json();
console.log(values.json ? JSON.stringify(status, null, 2) : statusText(origin, status));
