import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { JOURNAL_PREFIX } from "../../src/backup/journal";
import type { Job } from "../../src/jobs/queue-jobs";
import { TokenCipher } from "../../src/lib/token-cipher";
import {
  consumeJobs,
  databaseSnapshot,
  installShop,
  loginFacebook,
  logsOfEachTest,
  spaces,
  uniqueId,
  uniqueShop,
} from "../helpers";
import { TEST_SECRETS } from "../env";

const logs = logsOfEachTest();

const OLD = TEST_SECRETS.TOKEN_ENCRYPTION_KEY;
const NEW = btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => 200 - i)));
/** The worker during the rotation (new key, old one still readable), and after (old key removed). */
const during = { ...env, TOKEN_ENCRYPTION_KEY: NEW, TOKEN_ENCRYPTION_KEY_PREVIOUS: OLD } as Env;
const after = { ...env, TOKEN_ENCRYPTION_KEY: NEW, TOKEN_ENCRYPTION_KEY_PREVIOUS: "" } as Env;

async function rotateChunk(body: unknown, target: Env = during) {
  const res = await app.fetch(
    new Request("https://worker.test/admin/rotate-key", {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
    target,
    createExecutionContext(),
  );
  return { status: res.status, body: await res.json<any>() };
}

/** The daily polls' jobs for these shops and pages, run by the queue consumer of `target`. */
async function poll(target: Env, shops: string[], pages: string[]) {
  const jobs: Job[] = [
    ...shops.map((shop): Job => ({ type: "shopify.sync", shop, reason: "poll" })),
    ...pages.map((pageId): Job => ({ type: "facebook.poll", pageId })),
  ];
  return consumeJobs(jobs, target);
}

describe("rotate-key", () => {
  it("re-encrypts every token with the current key in resumable chunks; then the old key can go and polls still work", async () => {
    const shops = [uniqueShop("rot"), uniqueShop("rot")];
    const { cookie } = await installShop(shops[0]!);
    await installShop(shops[1]!, { cookie });
    const pages = [uniqueId(), uniqueId()];
    await loginFacebook(
      pages.map((id) => ({ id })),
      cookie,
    );

    // Without the rotation, removing the old key breaks the polls (this test can fail).
    const broken = await poll(after, [shops[0]!], []);
    expect(broken.retryMessages.length + broken.explicitAcks.length).toBe(1);
    expect(logs.has(`Polled shop ${shops[0]}: Failed`)).toBe(true);

    const bad = await rotateChunk({ after: "", limit: 0 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("bad_request");

    const journalBefore = new Set(await spaces().listKeys(JOURNAL_PREFIX));
    const progress: any[] = [];
    let cursor = "";
    for (;;) {
      const { status, body } = await rotateChunk({ after: cursor, limit: 3 });
      expect(status).toBe(200);
      progress.push(body);
      cursor = body.cursor;
      if (body.done) break;
    }
    const total = await env.TOKENS_DB.prepare("SELECT COUNT(*) AS n FROM tokens").first<{ n: number }>();
    expect(progress.reduce((n, p) => n + p.scanned, 0)).toBe(total!.n);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toMatchObject({ done: true, remaining: 0, unreadable: [] });
    const newId = (await TokenCipher.create(NEW)).keyId;
    const { results } = await env.TOKENS_DB.prepare("SELECT value, refresh_token FROM tokens").all<any>();
    for (const row of results) {
      expect(row.value.startsWith(`v1.${newId}.`)).toBe(true);
      if (row.refresh_token) expect(row.refresh_token.startsWith(`v1.${newId}.`)).toBe(true);
    }
    // The rewritten rows are journaled (a restore gives them back under the new key).
    const journaled = (await spaces().listKeys(JOURNAL_PREFIX)).filter((k) => !journalBefore.has(k));
    const texts = await Promise.all(journaled.map((k) => spaces().getText(k)));
    expect(texts.join("\n")).toContain(`"key":"shopify:${shops[1]}"`);
    expect(texts.join("\n")).toContain(`v1.${newId}.`);

    // Resumed or run again: nothing left to do, nothing changes.
    const snapshot = await databaseSnapshot();
    const again = await rotateChunk({ after: "", limit: 500 });
    expect(again.body).toMatchObject({ rewritten: 0, remaining: 0, done: true });
    expect(await databaseSnapshot()).toBe(snapshot);

    // TOKEN_ENCRYPTION_KEY_PREVIOUS emptied: every shop and page still polls.
    const polled = await poll(after, shops, pages);
    expect(polled.retryMessages).toEqual([]);
    for (const shop of shops) expect(logs.has(`Polled shop ${shop}: Success`)).toBe(true);
    for (const page of pages) expect(logs.has(`Polled conversations for page ${page}: Success`)).toBe(true);
  });

  it("a row no configured key decrypts is reported and passed over: every other row is rotated", async () => {
    const shops = [uniqueShop("rot-a"), uniqueShop("rot-b")];
    const { cookie } = await installShop(shops[0]!);
    await installShop(shops[1]!, { cookie });
    // A row sealed with a key the worker never had (from another deployment, or a lost key).
    const lost = await TokenCipher.create(btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => 7 * i))));
    const orphan = "shopify:orphan-rot.myshopify.com";
    await env.TOKENS_DB.prepare(
      "INSERT INTO tokens (key, value, refresh_token, status, updated_at) VALUES (?1, ?2, NULL, 'active', ?3)",
    )
      .bind(orphan, await lost.encrypt("shpat_lost", orphan), Date.now())
      .run();

    const chunks: any[] = [];
    let cursor = "";
    for (let i = 0; i < 100; i++) {
      const { status, body } = await rotateChunk({ after: cursor, limit: 2 });
      expect(status, JSON.stringify(body)).toBe(200);
      chunks.push(body);
      cursor = body.cursor;
      if (body.done) break;
    }
    expect(chunks.at(-1).done).toBe(true);
    expect(chunks.flatMap((c) => c.unreadable)).toEqual([orphan]);
    expect(logs.has("Key rotation passed over 1 rows no configured key decrypts")).toBe(true);
    // Only the unreadable row is left under another key; it stays as it was.
    expect(chunks.at(-1).remaining).toBe(1);
    const newId = (await TokenCipher.create(NEW)).keyId;
    const { results } = await env.TOKENS_DB.prepare("SELECT key, value FROM tokens").all<{
      key: string;
      value: string;
    }>();
    for (const row of results) {
      if (row.key === orphan) expect(row.value.startsWith(`v1.${lost.keyId}.`)).toBe(true);
      else expect(row.value.startsWith(`v1.${newId}.`), row.key).toBe(true);
    }
  });
});
