import { sleep } from "../../src/lib/retry.ts";
import { conversationKey } from "../../src/spaces/keys.ts";
import { takeWriteCount } from "../../dev/platform-client.ts";
import { add, waitFor } from "./report.ts";
import type { Bench } from "./stack.ts";

/** Bench section "writes": the Spaces writes a burst of messages and a chatting customer cost. */
export async function benchWrites(bench: Bench) {
  const { started, spaces, uuid, benchPage, proxy } = bench;
  console.log("\nSpaces writes");
  await sleep(2000);
  /** Waits until the bench page's conversation with `customer` in Spaces holds `count` messages. */
  const conversationHolds = (customer: string, count: number) =>
    waitFor(
      `${count} messages from ${customer}`,
      async () =>
        JSON.parse((await spaces.getText(conversationKey(uuid, benchPage, customer))) ?? "{}").messages?.length ===
        count,
      30_000,
    );
  /** The writes to Spaces while `send` delivers `count` messages from `customer`, and until they settle. */
  const writesOf = async (customer: string, count: number, settleMs: number, send: () => Promise<unknown>) => {
    await takeWriteCount(proxy.origin);
    await send();
    await conversationHolds(customer, count);
    await sleep(settleMs);
    return takeWriteCount(proxy.origin);
  };
  const burstCustomer = "930000000000001";
  const burstWrites = await writesOf(burstCustomer, 100, 1000, () =>
    Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        bench.sendMessage(burstCustomer, `m_burst_${i}_${started}`, `burst ${i}`, Date.now() + i),
      ),
    ),
  );
  add(
    "writes",
    "burst of 100 messages to one conversation",
    burstWrites,
    "writes",
    `${(burstWrites / 100).toFixed(2)} per message`,
  );

  // A customer chatting with the bot: one message every 100 ms for 3 s, to one conversation.
  const chatCustomer = "930000000000002";
  const chatWrites = await writesOf(chatCustomer, 30, 1500, async () => {
    const chatStart = Date.now();
    for (let i = 0; i < 30; i++) {
      await bench.sendMessage(chatCustomer, `m_chat_${i}_${started}`, `chat ${i}`);
      await sleep(Math.max(0, chatStart + (i + 1) * 100 - Date.now()));
    }
  });
  add(
    "writes",
    "a customer chatting: 30 messages over 3 s to one conversation",
    chatWrites,
    "writes",
    `${(chatWrites / 30).toFixed(2)} per message (at most one write a second per conversation)`,
  );
}
