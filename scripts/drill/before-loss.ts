import { conversationKey, shopProductsKey } from "../../src/spaces/keys.ts";
import { backup } from "../backup.ts";
import {
  control,
  installShop,
  loginFacebook,
  messageDelivery,
  messengerWebhookRequest,
  shopifyWebhookRequest,
} from "../../dev/platform-client.ts";
import { step } from "../lib/ops.ts";
import { cast, check, expectOk, waitFor, type Drill } from "./stack.ts";

const { shopA, shopB, shopC, pageA, pageB, customer } = cast;

/** Shop A installed and page A logged in from one browser, webhooks received, their objects in Spaces. */
export async function beforeTheLoss(drill: Drill) {
  const { origin, secrets, shopify, graph } = drill;
  console.log("\nBefore the loss");
  const a = await step(`install ${shopA}`, () => installShop(origin, shopify.origin, secrets, shopA));
  const uuidA: string = a.body.user_uuid;
  // Each callback gives the browser a new session id: it keeps the latest cookie.
  const fbA = await step(`log page ${pageA} in, same browser`, () =>
    loginFacebook(origin, graph.origin, [pageA], a.cookie),
  );
  check("Shopify install and Facebook login share one UUID", fbA.body.user_uuid === uuidA, uuidA);
  await step(`install ${shopC} (to be uninstalled after the backup)`, () =>
    installShop(origin, shopify.origin, secrets, shopC),
  );
  await control(shopify.origin, "shop", { shop: shopA, products: 4, revision: 1 });
  await step("Shopify products/update webhook", async () => {
    // Each product's webhook brings that product: the four of them, as Shopify sends one each.
    for (let i = 0; i < 4; i++)
      await expectOk(drill.productUpdate(shopA, { id: 1000000 + i, title: `Product ${i} rev 1` }));
  });
  await step("Messenger message from a customer", async () => {
    await expectOk(
      messengerWebhookRequest(origin, secrets, messageDelivery(pageA, customer, "m_before", "Do you ship to Lisbon?")),
    );
  });
  await step("wait for the webhooks' objects in Spaces", async () => {
    await waitFor("products file", async () => (await drill.readJson(shopProductsKey(uuidA, shopA))).count === 4);
    await waitFor(
      "conversation file",
      async () => (await drill.spaces.getText(conversationKey(uuidA, pageA, customer))) !== null,
    );
  });
  return { uuidA, cookieA: fbA.cookie };
}

/**
 * The backup, then token changes it does not hold: shop B and page B from a new browser, shop C
 * uninstalled. Returns the token keys at the moment between (the point-in-time target) and at the end.
 */
export async function backupThenChanges(drill: Drill) {
  const { origin, secrets, shopify, graph, target } = drill;
  console.log("\nBackup");
  await backup(target);
  console.log("\nAfter the backup");
  const b = await step(`install ${shopB} in a new browser`, () => installShop(origin, shopify.origin, secrets, shopB));
  const uuidB: string = b.body.user_uuid;
  await step(`log page ${pageB} in with that browser`, () => loginFacebook(origin, graph.origin, [pageB], b.cookie));
  // The moment the point-in-time rehearsal goes back to: shopC still installed, shopB already there.
  const keysAtMoment = await drill.tokenKeys();
  await new Promise((r) => setTimeout(r, 20));
  const moment = Date.now();
  await new Promise((r) => setTimeout(r, 20));
  await step(`uninstall ${shopC} (app/uninstalled)`, async () => {
    await expectOk(
      shopifyWebhookRequest(
        origin,
        secrets,
        shopC,
        "app/uninstalled",
        { domain: shopC, myshopify_domain: shopC },
        crypto.randomUUID(),
      ),
    );
  });
  return { uuidB, keysAtMoment, moment, keysBefore: await drill.tokenKeys() };
}
