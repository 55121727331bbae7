import { rmSync } from "node:fs";
import { join } from "node:path";
import { backup } from "../backup.ts";
import { shopifyWebhookRequest } from "../../dev/platform-client.ts";
import { restore } from "../restore.ts";
import { add } from "./report.ts";
import { MERCHANTS, type Bench } from "./stack.ts";

/** Bench section "backup": both databases backed up, lost, restored; the RTO to the first webhook. */
export async function benchBackupRestore(bench: Bench) {
  const { started, worker, secrets, target, persistTo, benchShop } = bench;
  console.log(`\nBackup and restore (${2 * MERCHANTS + bench.extra}+ tokens)`);
  // The bench's worker restore-tests the backup (npm run backup asks the worker on PORT).
  Object.assign(process.env, { PORT: new URL(worker).port, ADMIN_TOKEN: secrets.ADMIN_TOKEN });
  const tb = Date.now();
  const manifests = await backup(target);
  add(
    "backup",
    "backup of both databases",
    Date.now() - tb,
    "ms",
    `${(manifests[0]!.bytes / 1024).toFixed(0)} KiB tokens dump`,
  );
  await bench.stopWorker();
  rmSync(join(persistTo, "v3", "d1"), { recursive: true, force: true });
  const tr = Date.now();
  await restore(target);
  const restoreMs = Date.now() - tr;
  await bench.restartWorker();
  const res = await fetch(
    await shopifyWebhookRequest(worker, secrets, benchShop, "products/update", { id: 1 }, `rto-${started}`),
  );
  if (res.status !== 200) throw new Error(`first webhook after restore answered ${res.status}`);
  add("backup", "restore of both databases", restoreMs, "ms");
  add(
    "backup",
    "RTO: restore start → first webhook answered",
    Date.now() - tr,
    "ms",
    "includes restarting wrangler dev",
  );
}
