import { remoteDrill } from "../drill-remote.ts";
import { cast, failures, type Drill } from "./stack.ts";

/**
 * `npm run drill -- --remote <url> --yes`: the drill against the deployed worker
 * (scripts/drill-remote.ts); without a URL, DRILL_WORKER_URL names it.
 */
export async function runRemoteDrill(args: { url: string; yes: boolean }): Promise<never> {
  const need = (name: string) => {
    const value = process.env[name];
    if (!value) {
      console.error(`${name} is not set (see scripts/drill-remote.ts for what the remote drill needs)`);
      process.exit(2);
    }
    return value;
  };
  if (!args.yes) {
    console.error(
      "The remote drill restores over the live databases (from a backup it makes seconds before; token and link\n" +
        "changes in between are replayed from the journal, sessions opened in those seconds are not).\n" +
        "Run it at a quiet moment, with: npm run drill -- --remote <url> --yes",
    );
    process.exit(2);
  }
  need("TOKEN_ENCRYPTION_KEY"); // backup and restore sign and check with it
  const started = Date.now();
  const failures = await remoteDrill(
    { remote: true },
    {
      workerUrl: args.url || need("DRILL_WORKER_URL").replace(/\/+$/, ""),
      secrets: {
        SHOPIFY_API_SECRET: need("SHOPIFY_API_SECRET"),
        FACEBOOK_APP_SECRET: need("FACEBOOK_APP_SECRET"),
        ADMIN_TOKEN: need("ADMIN_TOKEN"),
      },
      shop: process.env.DRILL_SHOP,
      page: process.env.DRILL_PAGE,
      psid: process.env.DRILL_PSID,
    },
  ).catch((err) => [`stopped: ${err instanceof Error ? err.message : String(err)}`]);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    failures.length ? `Verdict: FAILED (${failures.join("; ")}) in ${seconds} s` : `Verdict: PASSED in ${seconds} s`,
  );
  process.exit(failures.length ? 1 : 0);
}

/** The operator's remote drill, rehearsed on the local stack (only its --remote flags differ). */
export async function rehearseRemoteDrill(drill: Drill) {
  console.log("\nRehearsal of the remote drill (npm run drill -- --remote) on this stack");
  const remoteFailures = await remoteDrill(drill.target, {
    workerUrl: drill.origin,
    secrets: drill.secrets,
    shop: cast.shopA,
    page: cast.pageA,
    psid: cast.customer,
    waitMs: 20_000,
    aroundRestore: { before: () => drill.stopWorker(), after: () => drill.startWorker() },
  });
  for (const f of remoteFailures) failures.push(`remote drill rehearsal: ${f}`);
}
