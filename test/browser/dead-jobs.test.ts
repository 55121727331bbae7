import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { control, installShop, shopifyWebhookRequest } from "../../dev/platform-client";
import { browserForFile, screenshot, signIn } from "./chromium";

/**
 * A job that really died (a catalogue sync that Shopify throttled on every delivery the queue
 * made), found and retried by the operator from the console once the cause is gone.
 */

const stack = inject("stack");
const browser = browserForFile();
const stamp = Math.random().toString(36).slice(2, 8);
const shop = `deadjob-${stamp}.myshopify.com`;

beforeAll(async () => {
  await control(stack.shopify, "shop", { shop, products: 2 });
  await installShop(stack.workerDirect, stack.shopify, stack.secrets, shop);
});
afterAll(async () => {
  await control(stack.shopify, "faults", { faults: [] });
});

describe("a dead job in the console, in Chromium", () => {
  it("the operator finds it, retries it once the cause is gone, and the page says it succeeded", async () => {
    // Every Admin API call answers 429 with Retry-After: 0 from now on: each delivery of the job
    // fails at once and the queue retries it a second later, until it gives up and keeps it dead.
    await control(stack.shopify, "faults", { faults: [{ kind: "429", times: 100_000, retryAfter: "0" }] });
    // `shop/update` queues a job (a product change goes to the shop's catalogue object instead).
    const shopResource = { id: 1, name: "Changed", myshopify_domain: shop, updated_at: new Date().toISOString() };
    const res = await fetch(
      await shopifyWebhookRequest(stack.workerDirect, stack.secrets, shop, "shop/update", shopResource, `wh-${stamp}`),
    );
    expect(await res.json()).toMatchObject({ queued: "metadata" });

    const page = await browser.context.newPage();
    await signIn(page, stack.worker, stack.secrets.ADMIN_TOKEN);
    expect(new URL(page.url()).pathname).toBe("/admin");
    const retry = page.getByRole("button", { name: `Retry shopify.metadata for ${shop}` });
    await expect
      .poll(
        async () => {
          await page.reload();
          return retry.count();
        },
        { timeout: 80_000, interval: 2000 },
      )
      .toBe(1);
    const deadJobs = page.getByRole("table", { name: /Dead jobs/ });
    const cells = deadJobs.getByRole("row").filter({ has: retry }).getByRole("cell");
    expect(await cells.nth(0).textContent()).toBe("shopify.metadata");
    expect(await cells.nth(1).textContent()).toBe(shop);
    expect(await cells.nth(2).textContent()).toMatch(/429/);
    expect(await cells.nth(3).textContent()).toBe("9"); // every delivery the queue made
    await screenshot(page, "console-dead-job");

    // The cause goes away (Shopify answers again); the operator clicks Retry.
    await control(stack.shopify, "faults", { faults: [] });
    await retry.click();
    await page.waitForURL(/notice=retried/);
    expect(await page.getByRole("status").textContent()).toContain("The job ran again and succeeded.");
    expect(await retry.count()).toBe(0);
    expect(await deadJobs.getByRole("row").filter({ hasText: shop }).count()).toBe(0);
    await screenshot(page, "console-dead-job-retried");
    await page.close();
  }, 120_000);
});
