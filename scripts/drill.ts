/**
 * `npm run drill`: the recovery drill on the local stack, with the Shopify and Graph API fakes.
 * Install a shop and log a page in, receive webhooks, back up, change tokens, lose both databases,
 * restore, then re-run both OAuth flows, webhooks and polls, and check UUIDs, the old session
 * cookie, the contract's log lines and every Spaces object. Then lose every object under `users/`,
 * run both polls, and find each object back with its bytes. Each step is printed with its outcome
 * and time; the verdict ends it, and any failure exits non-zero.
 *
 * Spaces is the S3 stand-in, or a real S3 server when DRILL_SPACES_ENDPOINT, DRILL_SPACES_KEY,
 * DRILL_SPACES_SECRET and DRILL_SPACES_BUCKET are set (.ci/run points them at radosgw, which also
 * lets the drill check that every object is private).
 */
import { identitiesSurvived, webhooksAndPollsWork } from "./drill/after-restore.ts";
import { backupThenChanges, beforeTheLoss } from "./drill/before-loss.ts";
import { objectsLost } from "./drill/objects-lost.ts";
import { checkLogLines, checkSpacesObjects } from "./drill/outcome.ts";
import { rehearseRemoteDrill, runRemoteDrill } from "./drill/remote.ts";
import { loseAndRestore, pointInTime } from "./drill/restore.ts";
import { closers, failures, logLines, startDrill } from "./drill/stack.ts";
import { scriptArgs } from "./lib/args.ts";

const USAGE = "usage: npm run drill [-- --local | --remote <url> --yes]";
const { values, where } = scriptArgs(USAGE, { yes: { type: "boolean" } });
if (where.remote) await runRemoteDrill({ url: where.url, yes: values.yes === true });

const started = Date.now();

async function main() {
  const drill = await startDrill();
  const before = await beforeTheLoss(drill);
  const changes = await backupThenChanges(drill);
  const rto = await loseAndRestore(drill);
  const cookie = await identitiesSurvived(drill, { ...before, ...changes });
  await webhooksAndPollsWork(drill, before.uuidA);
  await checkSpacesObjects(drill, before.uuidA, changes.uuidB);
  checkLogLines(drill, before.uuidA, cookie);
  await objectsLost(drill);
  await pointInTime(drill, changes.moment, changes.keysAtMoment);
  await rehearseRemoteDrill(drill);
  return { rto };
}

main()
  .then(async ({ rto }) => {
    for (const close of closers) await close().catch(() => undefined);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`\nRTO (restore start to first webhook answered): ${(rto / 1000).toFixed(1)} s`);
    if (failures.length) {
      console.log(`Verdict: FAILED (${failures.length} checks) in ${seconds} s`);
      for (const f of failures) console.log(`  ✗ ${f}`);
      process.exit(1);
    }
    console.log(`Verdict: PASSED in ${seconds} s`);
    process.exit(0);
  })
  .catch(async (err) => {
    console.error(`\nDrill stopped: ${err instanceof Error ? err.message : String(err)}`);
    const tail = logLines.slice(-15).join("\n");
    if (tail) console.error(`Last worker log lines:\n${tail}`);
    for (const close of closers) await close().catch(() => undefined);
    console.log("Verdict: FAILED");
    process.exit(1);
  });
