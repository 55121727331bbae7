import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { callHeartbeat } from "../../src/alerts/heartbeat";
import { pageTokenRefused, backupFailed } from "../../src/alerts/alerts";
import { backupAuth } from "../../src/backup/auth";
import { dumpD1 } from "../../src/backup/dump";
import { BackupRefused } from "../../src/backup/dump-parse";
import { JOURNAL_PREFIX, parseJournal } from "../../src/backup/journal";
import { manifestKey, readVerification, stampOf, verificationKey } from "../../src/backup/manifest";
import { planRestore } from "../../src/backup/pitr";
import { backupOne } from "../../src/backup/run";
import { sha256Hex } from "../../src/lib/signatures";
import type { MonitorCall } from "../../dev/fakes/monitor";
import {
  call,
  consumeJobs,
  control,
  installShop,
  loginFacebook,
  logsOfEachTest,
  spaces,
  uniqueId,
  uniqueShop,
  waitFor,
} from "../helpers";

/**
 * Recovery as the operator relies on it: every backup restore-tested by the worker itself, the
 * heartbeat only after a good test, alerts once per change of state, and the restore's refusals
 * of a journal with a gap and its skipping of manifests that do not verify.
 */

logsOfEachTest();

const ADMIN = { authorization: "Bearer test-admin-token-0123456789" };
const migrations = () => ({ tokens: env.TEST_MIGRATIONS_TOKENS, sessions: env.TEST_MIGRATIONS_SESSIONS });
const auth = () => backupAuth(env);

async function monitorCalls(): Promise<MonitorCall[]> {
  return (await (await fetch(`${env.FAKE_MONITOR}/_control/calls`)).json<{ calls: MonitorCall[] }>()).calls;
}
const heartbeats = async () => (await monitorCalls()).filter((c) => c.path === "/heartbeat");
const alerts = async () => (await monitorCalls()).filter((c) => c.path === "/alerts").map((c) => c.body as any);

beforeEach(async () => {
  await fetch(`${env.FAKE_MONITOR}/_control/reset`, { method: "POST" });
});

async function record(database: "tokens" | "sessions", stamp: string) {
  const key = verificationKey(database, stamp);
  return readVerification(key, await spaces().getText(key), await auth());
}

/** A backup of each database made directly (no queue), as a script's upload would leave it. */
async function backupWithoutTest() {
  const tokens = await backupOne(spaces(), await auth(), "tokens", dumpD1(env.TOKENS_DB), "test");
  const sessions = await backupOne(spaces(), await auth(), "sessions", dumpD1(env.SESSIONS_DB), "test");
  return [tokens, sessions].map((m) => ({ database: m.database, stamp: stampOf(m.exported_at), manifest: m }));
}

describe("restore tests by the worker", () => {
  it("the cron's backup is restore-tested with no script run: signed records, then one heartbeat", async () => {
    await installShop(uniqueShop());
    await loginFacebook([{ id: uniqueId() }]);
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "0 4 * * *", scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    const keys = await spaces().listKeys("backups/d1/");
    const newest = (database: string) =>
      keys
        .filter((k) => k.startsWith(`backups/d1/${database}/`) && k.endsWith(".manifest.json"))
        .sort()
        .at(-1)!;
    const stamps = {
      tokens: newest("tokens").split("/").at(-1)!.replace(".manifest.json", ""),
      sessions: newest("sessions").split("/").at(-1)!.replace(".manifest.json", ""),
    };
    await waitFor(async () => {
      expect((await record("tokens", stamps.tokens))?.result).toBe("passed");
      expect((await record("sessions", stamps.sessions))?.result).toBe("passed");
    });
    const tokens = (await record("tokens", stamps.tokens))!;
    // What the scratch database held: the live row count, and a hash per table.
    const live = await env.TOKENS_DB.prepare("SELECT COUNT(*) AS n FROM tokens").first<{ n: number }>();
    expect(tokens.tables.tokens).toBe(live!.n);
    expect(tokens.hashes.tokens).toMatch(/^[0-9a-f]{64}$/);
    expect(tokens.dump_key).toBe(`backups/d1/tokens/${stamps.tokens}.sql`);
    // The heartbeat comes once the test of both passed, and once for the run.
    await waitFor(async () => expect(await heartbeats()).toHaveLength(1));
    expect((await heartbeats())[0]!.method).toBe("GET");
    const beat = await env.TOKENS_DB.prepare("SELECT * FROM backup_heartbeats").first<any>();
    expect(beat.backup).toContain(`backups/d1/tokens/${stamps.tokens}.sql`);
    // The console's JSON shows it.
    const status = await (await call("/admin/status.json", { headers: ADMIN })).json<any>();
    expect(status.monitoring.heartbeat.backup).toBe(beat.backup);
    expect(status.monitoring.heartbeat.delivery).toMatch(/^ok/);
  });

  it("a tampered backup fails its restore test: a failed record, one alert, no heartbeat", async () => {
    // A good test first, so the restore-test state is "passed" whatever ran before.
    const good = await backupWithoutTest();
    await consumeJobs([
      { type: "backup.restore_test", backups: good.map(({ database, stamp }) => ({ database, stamp })) },
    ]);
    expect((await record("tokens", good[0]!.stamp))?.result).toBe("passed");
    await fetch(`${env.FAKE_MONITOR}/_control/reset`, { method: "POST" });

    const [tokens] = await backupWithoutTest();
    // Someone with the Spaces key re-links a shop in the dump and fixes up the checksum.
    await installShop(uniqueShop());
    const store = spaces();
    const dump = (await store.getText(tokens!.manifest.dump_key))!;
    const forged = dump.replace(
      /^(INSERT INTO "shops" VALUES\('[^']+',)'[^']+'/m,
      "$1'00000000-0000-4000-8000-00000000beef'",
    );
    await store.put(tokens!.manifest.dump_key, forged);
    const key = manifestKey("tokens", tokens!.stamp);
    const manifest = JSON.parse((await store.getText(key))!);
    const bytes = new TextEncoder().encode(forged);
    await store.put(key, JSON.stringify({ ...manifest, sha256: await sha256Hex(bytes), bytes: bytes.length }));

    const result = await consumeJobs([
      { type: "backup.restore_test", backups: [{ database: "tokens", stamp: tokens!.stamp }] },
    ]);
    expect(result.explicitAcks).toEqual(["m0"]);
    const failed = (await record("tokens", tokens!.stamp))!;
    expect(failed.result).toBe("failed");
    expect(failed.problems.join()).toContain("its HMAC does not match");
    const sent = await alerts();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ event: "backup_restore_test", state: "failed" });
    expect(Object.keys(sent[0]).sort()).toEqual(["at", "detail", "event", "state"]);
    expect(sent[0].detail).toContain(tokens!.stamp);
    expect(await heartbeats()).toEqual([]);

    // The same failure again is no change of state: no second alert.
    const [again] = await backupWithoutTest();
    await store.put(again!.manifest.dump_key, "-- not a dump\n");
    await consumeJobs([{ type: "backup.restore_test", backups: [{ database: "tokens", stamp: again!.stamp }] }]);
    expect((await record("tokens", again!.stamp))?.result).toBe("failed");
    expect(await alerts()).toHaveLength(1);
    expect(await heartbeats()).toEqual([]);

    // A good one afterwards: "passed" once, and the heartbeat.
    const fixed = await backupWithoutTest();
    await consumeJobs([
      { type: "backup.restore_test", backups: fixed.map(({ database, stamp }) => ({ database, stamp })) },
    ]);
    expect((await alerts()).map((a) => a.state)).toEqual(["failed", "passed"]);
    expect(await heartbeats()).toHaveLength(1);
    const status = await (await call("/admin/status.json", { headers: ADMIN })).json<any>();
    expect(status.monitoring.alerts.slice(0, 2).map((a: any) => [a.event, a.state])).toEqual([
      ["backup_restore_test", "passed"],
      ["backup_restore_test", "failed"],
    ]);
  });

  it("npm run backup's request: every backup without a record is queued for its restore test", async () => {
    const made = await backupWithoutTest();
    const res = await call("/admin/backup/restore-test", { method: "POST", headers: ADMIN });
    expect(res.status).toBe(202);
    expect((await res.json<any>()).queued).toEqual(expect.arrayContaining(made.map((b) => `${b.database}/${b.stamp}`)));
    await waitFor(async () => {
      for (const b of made) expect((await record(b.database, b.stamp))?.result).toBe("passed");
    });
    expect((await call("/admin/backup/restore-test", { method: "POST" })).status).toBe(401);
  });
});

describe("alerts", () => {
  it("a page whose token Meta refuses: one alert, however many polls fail; one when it works again", async () => {
    const page = uniqueId();
    const { cookie } = await loginFacebook([{ id: page }]);
    await control("graph", "faults", { faults: [{ kind: "dead-token", times: 1 }] });
    await consumeJobs([{ type: "facebook.poll", pageId: page }]);
    const mine = async () => (await alerts()).filter((a) => a.page_id === page);
    await waitFor(async () => expect(await mine()).toHaveLength(1));
    const [refused] = await mine();
    expect(refused).toMatchObject({ event: "page_token", page_id: page, state: "refused" });
    expect(Date.parse(refused.at)).toBeGreaterThan(Date.now() - 60_000);
    // Nothing secret or customer's in it.
    expect(JSON.stringify(refused)).not.toMatch(/EAA|access_token|test-facebook-secret/);
    // The next poll fails again (the token is marked): no second alert.
    await consumeJobs([{ type: "facebook.poll", pageId: page }]);
    expect(await mine()).toHaveLength(1);
    // A new login: the token works again.
    await loginFacebook([{ id: page }], cookie);
    await waitFor(async () => expect((await mine()).map((a) => a.state)).toEqual(["refused", "working"]));
    const status = await (await call("/admin/status.json", { headers: ADMIN })).json<any>();
    expect(status.monitoring.alerts.filter((a: any) => a.page_id === page).map((a: any) => a.state)).toEqual([
      "working",
      "refused",
    ]);
    // A page that never failed does not alert when it works.
    await loginFacebook([{ id: uniqueId() }]);
    expect((await alerts()).filter((a) => a.state === "working")).toHaveLength(1);
  });

  it("with neither variable set nothing is sent and nothing breaks", async () => {
    const quiet = { ...env, BACKUP_HEARTBEAT_URL: "", ALERTS_WEBHOOK_URL: "" } as Env;
    const page = uniqueId();
    await callHeartbeat(quiet, "backups/d1/tokens/x.sql");
    expect(await pageTokenRefused(quiet, page)).toBe(true);
    expect(await backupFailed(quiet, new Error("test"))).toBe(true);
    expect(await monitorCalls()).toEqual([]);
    const logged = await env.TOKENS_DB.prepare("SELECT delivery FROM alert_log WHERE page_id = ?1")
      .bind(page)
      .first<{ delivery: string }>();
    expect(logged?.delivery).toBe("not sent (ALERTS_WEBHOOK_URL is not set)");
  });
});

describe("what a restore refuses or skips", () => {
  it("an unsigned manifest with a future stamp is skipped, not a reason to refuse", async () => {
    const [tokens] = await backupWithoutTest();
    const store = spaces();
    const future = manifestKey("tokens", stampOf(Date.UTC(2999, 0, 1)));
    await store.put(
      future,
      JSON.stringify({ ...tokens!.manifest, dump_key: future.replace(".manifest.json", ".sql") }),
    );
    try {
      const [plan] = await planRestore(store, await auth(), migrations(), { databases: ["tokens"], journal: false });
      expect(plan!.manifest.dump_key).toBe(tokens!.manifest.dump_key);
      expect(plan!.skipped).toEqual([{ key: future, reason: "it is not authenticated (no HMAC)" }]);
      // Named explicitly, it is still refused.
      await expect(
        planRestore(store, await auth(), migrations(), { databases: ["tokens"], from: future }),
      ).rejects.toThrow(`refusing ${future}: it is not authenticated (no HMAC)`);
    } finally {
      await store.delete(future);
    }
  });

  it("a journal with an entry missing is refused, naming the missing number", async () => {
    const store = spaces();
    // Other test files' workers wrote entries numbered by their own databases into the shared bucket.
    for (const key of await store.listKeys(JOURNAL_PREFIX)) await store.delete(key);
    const [tokens] = await backupWithoutTest();
    const before = new Set(await store.listKeys(JOURNAL_PREFIX));
    for (let i = 0; i < 3; i++) await installShop(uniqueShop());
    const written = (await store.listKeys(JOURNAL_PREFIX)).filter((k) => !before.has(k)).sort();
    const entries = await Promise.all(
      written.map(async (key) => ({ key, entry: await parseJournal(key, (await store.getText(key))!, await auth()) })),
    );
    const numbered = entries.filter((e) => e.entry.seq !== undefined).sort((a, b) => a.entry.seq! - b.entry.seq!);
    expect(numbered.length).toBeGreaterThanOrEqual(3);
    // Whole: the restore plans.
    const [plan] = await planRestore(store, await auth(), migrations(), { databases: ["tokens"], from: tokens!.stamp });
    expect(plan!.journalEntries).toBeGreaterThanOrEqual(numbered.length);
    // One entry from the middle deleted: refused.
    const gone = numbered[1]!;
    const text = (await store.getText(gone.key))!;
    await store.delete(gone.key);
    try {
      const refused = await planRestore(store, await auth(), migrations(), {
        databases: ["tokens"],
        from: tokens!.stamp,
      }).catch((e) => e);
      expect(refused).toBeInstanceOf(BackupRefused);
      expect(refused.message).toContain(`the journal has a gap: entry ${gone.entry.seq} is missing`);
    } finally {
      await store.put(gone.key, text);
    }
  });
});
