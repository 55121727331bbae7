import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Page } from "playwright-core";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { ROOT } from "../../dev/local-stack";
import { control, installShop, loginFacebook } from "../../dev/platform-client";
import { browserForFile, screenshot, signIn as signInAs } from "./chromium";

/** The operator console in Chromium: sign-in, the cookie it leaves, search, escaping, signed-out visits. */

const stack = inject("stack");
const browser = browserForFile();
const stamp = Math.random().toString(36).slice(2, 8);
const shop = `browser-${stamp}.myshopify.com`;
const evilPage = {
  id: String(700000000000000 + Math.floor(Math.random() * 1e9)),
  name: `<script>alert("pwned")</script> Page ${stamp}`,
};
let merchant: string;
let evilMerchant: string;

beforeAll(async () => {
  // Merchants arrive as they do in production: an install and a login through the fakes.
  await control(stack.shopify, "shop", { shop, products: 2 });
  merchant = (await installShop(stack.workerDirect, stack.shopify, stack.secrets, shop)).body.user_uuid;
  await control(stack.graph, "page", evilPage);
  evilMerchant = (await loginFacebook(stack.workerDirect, stack.graph, [evilPage.id])).body.user_uuid;
});

const signIn = (page: Page, token = stack.secrets.ADMIN_TOKEN) => signInAs(page, stack.worker, token);

describe("the operator console in Chromium", () => {
  it("signs in: a wrong token is refused, the right one opens the console", async () => {
    const page = await browser.context.newPage();
    await page.goto(`${stack.worker}/admin`);
    expect(new URL(page.url()).pathname).toBe("/admin/sign-in");
    await screenshot(page, "console-sign-in");
    await signIn(page, "not-the-admin-token-at-all");
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("That admin token is not right.");
    await screenshot(page, "console-sign-in-wrong-token");
    await signIn(page);
    expect(new URL(page.url()).pathname).toBe("/admin");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Operator console");
    await screenshot(page, "console-main");
    await page.close();
  });

  it("keeps the sign-in as a host-only __Host- cookie: HttpOnly, Secure, SameSite=Strict, an hour", async () => {
    const cookies = await browser.context.cookies(stack.worker);
    const admin = cookies.find((c) => c.name === "__Host-admin");
    expect(admin).toBeDefined();
    expect(admin!.value).toMatch(/^[0-9a-f]{64}$/);
    expect(admin!.httpOnly).toBe(true);
    expect(admin!.secure).toBe(true);
    expect(admin!.sameSite).toBe("Strict");
    expect(admin!.path).toBe("/");
    expect(admin!.domain).toBe("localhost");
    const life = admin!.expires - Date.now() / 1000;
    expect(life).toBeGreaterThan(3500);
    expect(life).toBeLessThanOrEqual(3600);
    // Not readable from a page (HttpOnly): nothing in document.cookie.
    const page = await browser.context.newPage();
    await page.goto(`${stack.worker}/admin`);
    expect(await page.evaluate("document.cookie")).toBe("");
    await page.close();
  });

  it("finds a merchant by shop name and shows its shop and token state", async () => {
    const page = await browser.context.newPage();
    await page.goto(`${stack.worker}/admin`);
    await page.getByLabel(/Search by shop/).fill(`browser-${stamp}`);
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForURL(/\?q=/);
    const table = page.getByRole("table", { name: /Merchants/ });
    await expect.poll(() => table.textContent()).toContain(shop);
    const text = (await table.textContent())!;
    expect(text).toContain(merchant);
    expect(text).toContain("active");
    expect(text).not.toContain(evilMerchant);
    await screenshot(page, "console-search");
    await page.close();
  });

  it("renders a page named <script> as text", async () => {
    const page = await browser.context.newPage();
    let dialogs = 0;
    page.on("dialog", async (d) => {
      dialogs++;
      await d.dismiss();
    });
    await page.goto(`${stack.worker}/admin?q=${encodeURIComponent(`Page ${stamp}`)}`);
    const table = page.getByRole("table", { name: /Merchants/ });
    expect(await table.textContent()).toContain(`<script>alert("pwned")</script> Page ${stamp}`);
    expect(await page.locator("script").count()).toBe(0);
    expect(dialogs).toBe(0);
    await screenshot(page, "console-script-name");
    await page.close();
  });

  it("npm run status prints the same merchants and states as the console", async () => {
    const { stdout } = await promisify(execFile)(
      join(ROOT, "node_modules", ".bin", "tsx"),
      [join(ROOT, "scripts", "status.ts"), "--remote", stack.workerDirect, "--search", `browser-${stamp}`],
      { env: { ...process.env, ADMIN_TOKEN: stack.secrets.ADMIN_TOKEN } },
    );
    expect(stdout).toContain(merchant);
    expect(stdout).toMatch(new RegExp(`${shop.replace(/\./g, "\\.")}\\s+active`));
    expect(stdout).toContain("Merchants: 1");
    expect(stdout).not.toContain(stack.secrets.ADMIN_TOKEN);
  });

  it("signs out, and a signed-out browser is sent to the sign-in form from every console URL", async () => {
    const page = await browser.context.newPage();
    await page.goto(`${stack.worker}/admin`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/admin\/sign-in/);
    expect(await page.getByRole("status").textContent()).toContain("You are signed out.");
    for (const path of ["/admin", `/admin?q=${stamp}`, "/admin?page=2", "/admin/dead-jobs", "/admin/anything/else"]) {
      const response = await page.goto(`${stack.worker}${path}`);
      expect(new URL(page.url()).pathname, path).toBe("/admin/sign-in");
      expect(response!.status()).toBe(200);
      const body = (await page.textContent("body"))!;
      expect(body).not.toContain(shop);
      expect(body).not.toContain(merchant);
    }
    await page.close();
  });
});
