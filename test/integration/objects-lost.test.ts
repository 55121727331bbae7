import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { pageTokenKey } from "../../src/db/tokens";
import { tokenStore } from "../../src/services";
import { conversationKey, pageMetadataKey } from "../../src/spaces/keys";
import {
  call,
  consumeJobs,
  control,
  delivery,
  fakeState,
  loginFacebook,
  logsOfEachTest,
  messageEvent,
  messengerWebhook,
  readJson,
  spaces,
  uniqueId,
  waitFor,
} from "../helpers";

/** Objects lost from Spaces come back from what the worker holds: the platform, the conversation objects. */

const logs = logsOfEachTest();
const admin = { authorization: "Bearer test-admin-token-0123456789" };

/** A page with conversations in Spaces: its files' keys and their exact bytes. */
async function pageWithConversations(customers: number) {
  const page = uniqueId();
  const { body } = await loginFacebook([{ id: page, name: "Objects Page" }]);
  const uuid: string = body.user_uuid;
  const senders = Array.from({ length: customers }, () => uniqueId());
  const t0 = Date.parse("2026-12-01T10:00:00Z");
  for (const [i, customer] of senders.entries()) {
    const events = [
      messageEvent(page, customer, `m_${customer}_1`, `question ${i}`, t0 + i * 1000),
      messageEvent(page, customer, `m_${customer}_2`, `answer ${i}`, t0 + i * 1000 + 500, true),
    ];
    expect((await messengerWebhook(delivery(page, events))).status).toBe(200);
  }
  const keys = [pageMetadataKey(uuid, page), ...senders.map((s) => conversationKey(uuid, page, s))];
  // Settled: both messages in, and the customer's profile asked once (the file changes with it).
  for (const key of keys.slice(1))
    await waitFor(async () => {
      const file = await readJson(key);
      expect(file?.messages).toHaveLength(2);
      expect(file?.customer).not.toBeNull();
    });
  await waitFor(async () => expect(await readJson(keys[0]!)).not.toBeNull());
  const bytes = new Map<string, string>();
  for (const key of keys) bytes.set(key, (await spaces().getText(key))!);
  return { page, uuid, senders, keys, bytes };
}

async function deleteAll(prefix: string) {
  const keys = await spaces().listKeys(prefix);
  for (const key of keys) await spaces().delete(key);
  expect(await spaces().listKeys(prefix)).toEqual([]);
  return keys.length;
}

describe("objects lost from Spaces", () => {
  it("POST /admin/poll/facebook puts back every object of the pages, byte for byte", async () => {
    const { page, uuid, keys, bytes } = await pageWithConversations(3);
    expect(await deleteAll(`users/${uuid}/`)).toBe(keys.length);

    const res = await call("/admin/poll/facebook", { method: "POST", headers: admin });
    expect(res.status).toBe(202);
    for (const key of keys) await waitFor(async () => expect(await spaces().getText(key)).toBe(bytes.get(key)));
    expect((await spaces().listKeys(`users/${uuid}/`)).sort()).toEqual([...keys].sort());
    for (const key of keys) expect(logs.has(`Uploaded ${key} to Spaces`)).toBe(true);
    for (const key of keys.slice(1))
      expect(logs.has(`Conversation file ${key} missing from Spaces: put back`)).toBe(true);
    await waitFor(() =>
      expect(
        logs.has(`Checked 3 conversation files of page ${page}: 3 missing, put back from their conversation objects`),
      ).toBe(true),
    );
  });

  it("present files cost one LIST and no write; a missing one costs one write more", async () => {
    const { page, keys, bytes } = await pageWithConversations(4);
    await control("spaces", "reset-counts");
    await consumeJobs([{ type: "facebook.conversation_files", pageId: page }]);
    const unchanged = await control("spaces", "reset-counts");
    expect({ lists: unchanged.lists, heads: unchanged.heads, writes: unchanged.writes }).toEqual({
      lists: 1,
      heads: 0,
      writes: 0,
    });
    expect(logs.has(`Checked 4 conversation files of page ${page}: 0 missing`)).toBe(true);

    const lost = keys[2]!;
    await spaces().delete(lost);
    await control("spaces", "reset-counts");
    const uploadsBefore = logs.lines.length;
    await consumeJobs([{ type: "facebook.conversation_files", pageId: page }]);
    await waitFor(() =>
      expect(logs.lines.slice(uploadsBefore).some((l) => l.includes(`Uploaded ${lost} to Spaces`))).toBe(true),
    );
    const oneLost = await control("spaces", "reset-counts");
    expect({ lists: oneLost.lists, heads: oneLost.heads, writes: oneLost.writes }).toEqual({
      lists: 1,
      heads: 0,
      writes: 1,
    });
    expect(await spaces().getText(lost)).toBe(bytes.get(lost));
  });

  it("a poll of an unchanged page writes nothing: one HEAD (page metadata), one LIST (conversations)", async () => {
    const { page, uuid } = await pageWithConversations(2);
    const before = await spaces().listKeys(`users/${uuid}/`);
    await control("spaces", "reset-counts");
    const linesBefore = logs.lines.length;
    await consumeJobs([{ type: "facebook.poll", pageId: page }]);
    await waitFor(() => expect(logs.has(`Checked 2 conversation files of page ${page}: 0 missing`)).toBe(true));
    const counts = await control("spaces", "reset-counts");
    expect({ heads: counts.heads, lists: counts.lists, writes: counts.writes }).toEqual({
      heads: 1,
      lists: 1,
      writes: 0,
    });
    expect(logs.lines.slice(linesBefore).filter((l) => l.includes(`Uploaded users/${uuid}/`))).toEqual([]);
    expect(await spaces().listKeys(`users/${uuid}/`)).toEqual(before);
  });

  it("a page whose token Meta refused gets its objects back: page metadata from the copy kept", async () => {
    const { page, uuid, keys, bytes } = await pageWithConversations(2);
    await (await tokenStore(env)).markNeedsReauth(pageTokenKey(page));
    await deleteAll(`users/${uuid}/`);
    const graphCalls = (await fakeState("graph", `page=${page}`)).page_calls;
    const result = await consumeJobs([{ type: "facebook.poll", pageId: page }]);
    expect(result.explicitAcks).toEqual(["m0"]);
    for (const key of keys) await waitFor(async () => expect(await spaces().getText(key)).toBe(bytes.get(key)));
    expect(logs.has(`Uploaded ${keys[0]} to Spaces`)).toBe(true);
    // Nothing was asked of Meta with the refused token.
    expect((await fakeState("graph", `page=${page}`)).page_calls).toBe(graphCalls);
  });

  it("Spaces down during the check: the job is retried and the files come back after", async () => {
    const { page, uuid, keys, bytes } = await pageWithConversations(2);
    await deleteAll(`users/${uuid}/facebook/${page}/conversations/`);
    await control("spaces", "mode", { mode: "down" });
    const failed = await consumeJobs([{ type: "facebook.conversation_files", pageId: page }]);
    expect(failed.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(["m0"]);
    await control("spaces", "mode", { mode: "up" });
    await consumeJobs([{ type: "facebook.conversation_files", pageId: page }]);
    for (const key of keys.slice(1))
      await waitFor(async () => expect(await spaces().getText(key)).toBe(bytes.get(key)));
  });

  it("a page with more conversations than a job checks is continued by follow-up jobs", async () => {
    // Senders whose ids are prefixes of others ("…1", "…10"): the listing resumes at the right key.
    const { page, uuid, senders, bytes } = await pageWithConversations(0);
    const base = uniqueId().slice(0, 14);
    for (const [i, s] of [
      `${base}1`,
      `${base}10`,
      `${base}11`,
      `${base}2`,
      `${base}20`,
      `${base}3`,
      `${base}30`,
    ].entries()) {
      senders.push(s);
      const events = [messageEvent(page, s, `m_${s}`, `hello ${i}`, Date.parse("2026-12-02T10:00:00Z") + i)];
      expect((await messengerWebhook(delivery(page, events))).status).toBe(200);
    }
    const keys = senders.map((s) => conversationKey(uuid, page, s));
    for (const key of keys)
      await waitFor(async () => {
        const text = await spaces().getText(key);
        expect(text).not.toBeNull();
        expect(JSON.parse(text!).customer).not.toBeNull();
        bytes.set(key, text!);
      });
    // Lost: one in the first job's batch, one in the second's, the last of the third's.
    const lost = [keys[1]!, keys[4]!, keys[6]!];
    for (const key of lost) await spaces().delete(key);
    await consumeJobs([{ type: "facebook.conversation_files", pageId: page, perJob: 3 }]);
    expect(logs.has(`Checked 3 conversation files of page ${page}: 1 missing`)).toBe(true);
    await waitFor(() => expect(logs.has(`Checked 1 conversation files of page ${page}: 1 missing`)).toBe(true));
    expect(
      logs.lines.filter((l) => l.includes(`Checked 3 conversation files of page ${page}: 1 missing`)),
    ).toHaveLength(2);
    for (const key of lost) await waitFor(async () => expect(await spaces().getText(key)).toBe(bytes.get(key)));
    expect((await spaces().listKeys(`users/${uuid}/facebook/${page}/conversations/`)).sort()).toEqual([...keys].sort());
  });
});
