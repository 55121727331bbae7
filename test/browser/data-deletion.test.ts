import { createHmac } from "node:crypto";
import { describe, expect, inject, it } from "vitest";
import { control, loginFacebook, messageDelivery, messengerWebhookRequest } from "../../dev/platform-client";
import { browserForFile, screenshot } from "./chromium";

/**
 * A Meta Data Deletion Request as the person who asked sees it: Meta posts a signed_request, gives
 * the person the status URL the worker answered, and they open it in a browser.
 */

const stack = inject("stack");
const browser = browserForFile();
const stamp = Math.random().toString(36).slice(2, 8);

/** As Meta signs it: base64url(HMAC-SHA256(app secret, payload)) "." base64url(JSON payload). */
function signedRequest(payload: Record<string, unknown>) {
  const part = Buffer.from(JSON.stringify(payload)).toString("base64url");
  const mac = createHmac("sha256", stack.secrets.FACEBOOK_APP_SECRET).update(part).digest("base64url");
  return `${mac}.${part}`;
}

describe("a Meta data deletion request in Chromium", () => {
  it("the status page says received or in progress, then done with what was deleted, in words", async () => {
    const pageId = String(720000000000000 + Math.floor(Math.random() * 1e9));
    await control(stack.graph, "page", { id: pageId, name: `Deleted ${stamp}` });
    const { body } = await loginFacebook(stack.workerDirect, stack.graph, [pageId]);
    // The Graph fake's app-scoped id for a login that names no user: one per first page.
    const facebookUser = `5${pageId.slice(-15)}`;
    const customer = String(730000000000000 + Math.floor(Math.random() * 1e9));
    const delivery = messageDelivery(pageId, customer, `m_${stamp}`, `secret words ${stamp}`);
    expect((await fetch(await messengerWebhookRequest(stack.workerDirect, stack.secrets, delivery))).status).toBe(200);

    const signed = signedRequest({
      algorithm: "HMAC-SHA256",
      issued_at: Math.floor(Date.now() / 1000),
      user_id: facebookUser,
    });
    const res = await fetch(`${stack.workerDirect}/facebook/data-deletion`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ signed_request: signed }).toString(),
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { url: string; confirmation_code: string };
    expect(new URL(answer.url).origin).toBe(stack.worker);

    const page = await browser.context.newPage();
    const opened = await page.goto(answer.url);
    expect(opened!.status()).toBe(200);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Data deletion request");
    const first = (await page.textContent("body"))!;
    expect(first).toContain(answer.confirmation_code);
    expect(first).toMatch(/Received: your request is queued|In progress: your data is being deleted|Done:/);
    await screenshot(page, "data-deletion-first-visit");

    // The person comes back later: the queue has done the work.
    await expect
      .poll(
        async () => {
          await page.reload();
          return page.locator("[data-status]").getAttribute("data-status");
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toBe("done");
    const text = (await page.textContent("body"))!.replace(/\s+/g, " ");
    expect(text).toContain("Done: everything this app held from your Facebook account has been deleted.");
    const count = (name: string) => page.locator(`[data-count="${name}"]`).textContent();
    expect(await count("pages")).toBe("1");
    expect(await count("tokens")).toBe("2"); // the user's token and the page's
    expect(await count("conversations")).toBe("1");
    expect(Number(await count("objects"))).toBeGreaterThanOrEqual(1);
    // Nothing internal: no ids of the person or merchant, no message text, no error words.
    expect(text).not.toContain(facebookUser);
    expect(text).not.toContain(body.user_uuid);
    expect(text).not.toContain(`secret words ${stamp}`);
    expect(text).not.toMatch(/in_progress|facebook\.data_deletion|Error|undefined|null/);
    await screenshot(page, "data-deletion-done");
    await page.close();
  });
});
