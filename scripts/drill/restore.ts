import { rmSync } from "node:fs";
import { join } from "node:path";
import { step } from "../lib/ops.ts";
import { restore } from "../restore.ts";
import { check, expectOk, cast, type Drill } from "./stack.ts";

/** Both databases lost with the worker stopped, restored, the worker started: the RTO in ms. */
export async function loseAndRestore(drill: Drill): Promise<number> {
  console.log("\nThe loss");
  await step("stop the worker", () => drill.stopWorker());
  await step("delete both local D1 databases", () =>
    rmSync(join(drill.persistTo, "v3", "d1"), { recursive: true, force: true }),
  );

  console.log("\nRestore");
  const restoreStarted = Date.now();
  const reports = await restore(drill.target);
  check("journal replayed after the dump", (reports.find((r) => r.database === "tokens")?.journalEntries ?? 0) > 0);
  await drill.startWorker("start the worker again");
  return step("first webhook after the restore", async () => {
    await expectOk(drill.productUpdate(cast.shopA, { id: 1000002, title: "after restore" }));
    return Date.now() - restoreStarted;
  });
}

/**
 * Point in time: back to the moment before shop C's uninstall, then forward to the latest again.
 * Ends with the worker running.
 */
export async function pointInTime(drill: Drill, moment: number, keysAtMoment: string[]) {
  const { target } = drill;
  console.log(`\nPoint-in-time restore (npm run restore -- --at ${new Date(moment).toISOString()})`);
  const keysNow = await drill.tokenKeys();
  const [dry] = await restore(target, { at: moment, databases: ["tokens"], dryRun: true });
  check(
    "the dry run plans the token keys of that moment",
    JSON.stringify(dry!.tokenKeys) === JSON.stringify(keysAtMoment),
  );
  await step("stop the worker", () => drill.stopWorker());
  await restore(target, { at: moment });
  const keysThen = await drill.tokenKeys();
  check(
    `every token key as at that moment (${cast.shopC} still installed)`,
    JSON.stringify(keysThen) === JSON.stringify(keysAtMoment),
    keysThen.join(", "),
  );
  await restore(target);
  const keysLatest = await drill.tokenKeys();
  check(
    "restoring the latest state again gives today's token keys",
    JSON.stringify(keysLatest) === JSON.stringify(keysNow),
  );
  await drill.startWorker("start the worker again");
}
