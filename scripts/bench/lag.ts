import { conversationKey, shopProductsKey } from "../../src/spaces/keys.ts";
import { control, shopifyWebhookRequest } from "../../dev/platform-client.ts";
import { add, percentile, waitFor } from "./report.ts";
import type { Bench } from "./stack.ts";

/** Bench section "lag": the time from a webhook's answer to its object being readable in Spaces. */
export async function benchLag(bench: Bench) {
  const { started, worker, secrets, spaces, uuid, benchShop, benchPage, shopify } = bench;
  console.log("\nWebhook to Spaces (time from the answer to the object being readable)");
  const messengerLag: number[] = [];
  for (let i = 0; i < 30; i++) {
    const customer = String(920000000000000 + i);
    const res = await bench.sendMessage(customer, `m_lag_${i}_${started}`, "lag");
    const answered = Date.now();
    if (res.status !== 200) throw new Error(`Messenger webhook answered ${res.status}`);
    await waitFor(
      "conversation",
      async () => (await spaces.getText(conversationKey(uuid, benchPage, customer))) !== null,
      30_000,
      10,
    );
    messengerLag.push(Date.now() - answered);
  }
  add(
    "lag",
    "Messenger message → conversation file p50 / p99",
    `${percentile(messengerLag, 50)} / ${percentile(messengerLag, 99)}`,
    "ms",
    "includes the 200 ms batching delay",
  );
  const shopifyLag: number[] = [];
  // The first round is not counted: a write of the bench shop's file left failing by the Spaces-down
  // runs is retried after a backoff, and the change waits behind it.
  for (let i = -1; i < 10; i++) {
    await control(shopify.origin, "shop", { shop: benchShop, products: 50, revision: 100 + i });
    const res = await fetch(
      await shopifyWebhookRequest(
        worker,
        secrets,
        benchShop,
        "products/update",
        { id: 1000001 },
        `lag-${i}-${started}`,
      ),
    );
    const answered = Date.now();
    if (res.status !== 200) throw new Error(`Shopify webhook answered ${res.status}`);
    await waitFor(
      "products file",
      async () => (await spaces.getText(shopProductsKey(uuid, benchShop)))?.includes(`rev ${100 + i}`),
      60_000,
      10,
    );
    if (i >= 0) shopifyLag.push(Date.now() - answered);
  }
  add(
    "lag",
    "Shopify products/update → products file p50 / p99",
    `${percentile(shopifyLag, 50)} / ${percentile(shopifyLag, 99)}`,
    "ms",
    "that product read again, the file written from the shop's catalogue object",
  );
}
