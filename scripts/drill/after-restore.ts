import { conversationKey, pageMetadataKey, shopProductsKey } from "../../src/spaces/keys.ts";
import { step } from "../lib/ops.ts";
import {
  control,
  installShop,
  loginFacebook,
  messageDelivery,
  messengerWebhookRequest,
  nameChangeDelivery,
} from "../../dev/platform-client.ts";
import { cast, check, expectOk, sawLog, waitFor, type Drill } from "./stack.ts";

const { shopA, shopB, shopC, pageA, pageB, customer } = cast;

/** The token keys, UUIDs and the old session cookie after the restore; returns the browser's cookie. */
export async function identitiesSurvived(
  drill: Drill,
  before: { uuidA: string; cookieA: string; uuidB: string; keysBefore: string[] },
) {
  const { origin, secrets, shopify, graph } = drill;
  console.log("\nAfter the restore");
  const keysAfter = await drill.tokenKeys();
  check(
    "every token key as before the loss",
    JSON.stringify(keysAfter) === JSON.stringify(before.keysBefore),
    keysAfter.join(", "),
  );
  check(`the token of ${shopB}, written after the backup, survived`, keysAfter.includes(`shopify:${shopB}`));
  check(`the token of page ${pageB}, written after the backup, survived`, keysAfter.includes(`facebook:page:${pageB}`));
  check(`the removal of ${shopC}'s token after the backup survived`, !keysAfter.includes(`shopify:${shopC}`));

  const again = await step(`re-install ${shopA} with the old session cookie`, () =>
    installShop(origin, shopify.origin, secrets, shopA, before.cookieA),
  );
  check("the old session cookie still works", !again.newCookie);
  check(`${shopA} keeps its user UUID`, again.body.user_uuid === before.uuidA, again.body.user_uuid);
  const fbAgain = await step(`log page ${pageA} in again`, () =>
    loginFacebook(origin, graph.origin, [pageA], again.cookie),
  );
  check(`page ${pageA} keeps its user UUID`, fbAgain.body.user_uuid === before.uuidA);
  const bAgain = await step(`re-install ${shopB} from a new browser`, () =>
    installShop(origin, shopify.origin, secrets, shopB),
  );
  check(
    `${shopB} (installed after the backup) keeps its user UUID`,
    bAgain.body.user_uuid === before.uuidB,
    bAgain.body.user_uuid,
  );
  return again.cookie;
}

/** Webhooks and both polls after the restore, each waited for in Spaces. */
export async function webhooksAndPollsWork(drill: Drill, uuidA: string) {
  const { origin, secrets, shopify, graph } = drill;
  const messageCount = async () => (await drill.readJson(conversationKey(uuidA, pageA, customer))).messages?.length;
  await control(shopify.origin, "shop", { shop: shopA, products: 5, revision: 2 });
  await step("Shopify products/update webhook", async () => {
    await expectOk(drill.productUpdate(shopA, { id: 1000004, title: "Product 4 rev 2" }));
    await waitFor("5 products", async () => (await drill.readJson(shopProductsKey(uuidA, shopA))).count === 5);
  });
  await control(graph.origin, "page", { id: pageA, name: "Drill Shoes Renamed" });
  await step("page name change", async () => {
    await expectOk(messengerWebhookRequest(origin, secrets, nameChangeDelivery(pageA, "Drill Shoes Renamed")));
    await waitFor(
      "new name",
      async () => (await drill.readJson(pageMetadataKey(uuidA, pageA))).name === "Drill Shoes Renamed",
    );
  });
  await step("Messenger message", async () => {
    await expectOk(
      messengerWebhookRequest(origin, secrets, messageDelivery(pageA, customer, "m_after", "And to Porto?")),
    );
    await waitFor("2 messages", async () => (await messageCount()) === 2);
  });
  await control(graph.origin, "message", {
    page: pageA,
    customer,
    mid: "m_missed",
    text: "missed by webhooks",
    timestamp: Date.now(),
  });
  await step("both polls (Cron Triggers through /__scheduled)", async () => {
    for (const cron of ["0+3+*+*+*", "30+3+*+*+*"]) {
      const res = await fetch(`${origin}/__scheduled?cron=${cron}`);
      if (!res.ok) throw new Error(`/__scheduled answered ${res.status}`);
    }
    await waitFor(
      "polls",
      async () =>
        sawLog(`Polled shop ${shopA}: Success`) &&
        sawLog(`Polled conversations for page ${pageA}: Success`) &&
        sawLog(`Polled metadata for page ${pageB}: Success`),
    );
    await waitFor("missed message", async () => (await messageCount()) === 3);
  });
}
