import { afterEach, describe, expect, it, vi } from "vitest";
import type { Job } from "../../src/jobs/queue-jobs";
import { conversationKey } from "../../src/spaces/keys";
import { Spaces } from "../../src/spaces/client";
import {
  control,
  delivery,
  installShop,
  loginFacebook,
  logsOfEachTest,
  messageEvent,
  messengerWebhook,
  readJson,
  uniqueId,
  uniqueShop,
  consumeJobs,
} from "../helpers";

const logs = logsOfEachTest();

/** The keys of every write the worker sends to Spaces (object, multipart, copy, delete) from now on. */
function spyOnSpacesWrites(): string[] {
  const keys: string[] = [];
  const methods = ["put", "setHashes", "startMultipart", "copy", "delete"] as const;
  for (const name of methods) {
    const original = Spaces.prototype[name] as (this: Spaces, key: string, ...rest: unknown[]) => Promise<unknown>;
    vi.spyOn(Spaces.prototype, name).mockImplementation(function (this: Spaces, key: string, ...rest: unknown[]) {
      keys.push(`${name} ${key}`);
      return original.call(this, key, ...rest);
    } as never);
  }
  return keys;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("a second daily poll with nothing new", () => {
  it("writes nothing to Spaces for a shop and a page", async () => {
    const shop = uniqueShop();
    await installShop(shop, { products: 3 });
    const page = uniqueId();
    const customer = uniqueId();
    const { body } = await loginFacebook([{ id: page, name: "Idle Page" }]);
    const t0 = Date.parse("2026-11-22T10:00:00Z");
    await control("graph", "message", { page, customer, mid: "m_1", text: "hello", timestamp: t0 });
    await control("graph", "message", { page, customer, mid: "m_2", text: "still there?", timestamp: t0 + 60_000 });
    await messengerWebhook(delivery(page, [messageEvent(page, customer, "m_1", "hello", t0)]));
    const jobs: Job[] = [
      { type: "shopify.sync", shop, reason: "poll" },
      { type: "facebook.poll", pageId: page },
    ];

    // The first poll brings the files up to date (the message the webhook missed, the metadata).
    expect((await consumeJobs(jobs)).explicitAcks).toEqual(["m0", "m1"]);
    const key = conversationKey(body.user_uuid, page, customer);
    // Settled: both messages in, and the customer's profile asked once (the file changes with it).
    await vi.waitFor(
      async () => {
        const file = await readJson(key);
        expect(file?.messages).toHaveLength(2);
        expect(file?.customer).not.toBeNull();
      },
      { timeout: 15_000 },
    );

    const writes = spyOnSpacesWrites();
    expect((await consumeJobs(jobs)).explicitAcks).toEqual(["m0", "m1"]);
    expect(logs.has(`Polled shop ${shop}: Success`)).toBe(true);
    expect(logs.has(`Polled conversations for page ${page}: Success`)).toBe(true);
    // Long enough for a conversation upload the poll would have scheduled (200 ms after a merge).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(writes).toEqual([]);
  });
});
