import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import { z } from "zod";
import { ROOT } from "../../dev/local-stack";

/** Debian's package puts its browser here; `.ci/run` installs it. */
const SYSTEM_CHROMIUM = "/usr/bin/chromium";
/** The npm package whose Chromium is used where the system has none (a devDependency). */
const NPM_CHROMIUM = "@sparticuz/chromium";

/**
 * Which Chromium the browser tests drive. `CHROMIUM_PATH` names a binary; `CHROMIUM_FROM=npm`
 * forces the one from npm even where the system has its own (`.ci/run` runs the layer both ways),
 * `CHROMIUM_FROM=system` refuses to fall back to it.
 */
const Choice = z.object({
  CHROMIUM_PATH: z.string().min(1).optional(),
  CHROMIUM_FROM: z.enum(["system", "npm"]).optional(),
});

export type ChromiumBinary = { path: string; from: "system" | "npm" };

/**
 * The choice alone: the system's Chromium (`CHROMIUM_PATH`, then `/usr/bin/chromium`) when there
 * is one, else the npm one. A `CHROMIUM_PATH` or `CHROMIUM_FROM=system` that finds nothing is an
 * error, not a quiet fallback.
 */
export function chooseChromium(
  env: Record<string, string | undefined>,
  exists: (path: string) => boolean,
): { from: "system"; path: string } | { from: "npm" } {
  const choice = Choice.parse(env);
  if (choice.CHROMIUM_FROM === "npm") return { from: "npm" };
  const path = choice.CHROMIUM_PATH ?? SYSTEM_CHROMIUM;
  if (exists(path)) return { from: "system", path };
  if (choice.CHROMIUM_PATH || choice.CHROMIUM_FROM === "system") {
    throw new Error(`No Chromium at ${path} (CHROMIUM_PATH, CHROMIUM_FROM=system)`);
  }
  return { from: "npm" };
}

let resolved: Promise<ChromiumBinary> | undefined;

/**
 * The browser binary as chooseChromium picks it; the npm one is unpacked once per version into
 * node_modules/.cache. Nothing is downloaded.
 */
export function chromiumBinary(): Promise<ChromiumBinary> {
  resolved ??= (async () => {
    const choice = chooseChromium(process.env, existsSync);
    return choice.from === "system" ? choice : { from: "npm", path: await unpackNpmChromium() };
  })();
  return resolved;
}

/** The installed version of the npm package (its major is its Chromium's). */
export function npmChromiumVersion(): string {
  const manifest = join(ROOT, "node_modules", ...NPM_CHROMIUM.split("/"), "package.json");
  return z.object({ version: z.string() }).parse(JSON.parse(readFileSync(manifest, "utf8"))).version;
}

async function unpackNpmChromium(): Promise<string> {
  const version = npmChromiumVersion();
  const home = join(ROOT, "node_modules", ".cache", `sparticuz-chromium-${version}`);
  const binary = join(home, "chromium");
  if (existsSync(binary)) return binary;

  // The package unpacks into os.tmpdir() and reuses whatever "chromium" it finds there (another
  // version's, or one a parallel run is still writing). Unpack into a folder of our own instead,
  // then move it into place in one step, so a half-written browser is never found.
  mkdirSync(join(ROOT, "node_modules", ".cache"), { recursive: true });
  const scratch = mkdtempSync(`${home}.unpacking-`);
  const tmpdirBefore = process.env.TMPDIR;
  let unpacked: string;
  try {
    process.env.TMPDIR = scratch;
    const { default: npmChromium } = await import("@sparticuz/chromium");
    unpacked = await npmChromium.executablePath();
  } finally {
    if (tmpdirBefore === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdirBefore;
  }
  if (unpacked !== join(scratch, "chromium")) {
    rmSync(scratch, { recursive: true, force: true });
    throw new Error(`${NPM_CHROMIUM} unpacked its browser to ${unpacked}, not into ${scratch}`);
  }
  try {
    renameSync(scratch, home);
  } catch (error) {
    // Another run moved its copy into place first: use that one.
    rmSync(scratch, { recursive: true, force: true });
    if (!existsSync(binary)) throw error;
  }
  return binary;
}

/** Headless, and nothing that would reach the network on its own; --no-sandbox as root. */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const SCREENSHOTS = join(ROOT, "test-results", "screenshots");

/** Chromium with a fresh profile each time. */
export async function openBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const { path } = await chromiumBinary();
  const profile = mkdtempSync(join(tmpdir(), "chromium-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: path,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** One Chromium for a test file: opened before its tests, closed after them. */
export function browserForFile(): { readonly context: BrowserContext } {
  let browser: Awaited<ReturnType<typeof openBrowser>> | undefined;
  beforeAll(async () => {
    browser = await openBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return {
    get context() {
      return browser!.context;
    },
  };
}

/** Saves a full-page screenshot under test-results/screenshots/<name>.png for review. */
export async function screenshot(page: Page, name: string) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The operator's sign-in to the console at `worker`, as a person types it. */
export async function signIn(page: Page, worker: string, token: string) {
  await page.goto(`${worker}/admin`);
  await page.getByLabel("Admin token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForLoadState("domcontentloaded");
}
