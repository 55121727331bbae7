import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { chooseChromium, chromiumBinary, npmChromiumVersion, openBrowser } from "./chromium";

/**
 * Which Chromium the browser tests drive: the system's where there is one, else the one inside the
 * npm package, so `npm ci && npm test` needs no browser installed by hand.
 */

const only =
  (...present: string[]) =>
  (path: string) =>
    present.includes(path);

describe("choosing Chromium", () => {
  it("takes /usr/bin/chromium when it exists, and the npm one when it does not", () => {
    expect(chooseChromium({}, only("/usr/bin/chromium"))).toEqual({ from: "system", path: "/usr/bin/chromium" });
    expect(chooseChromium({}, only())).toEqual({ from: "npm" });
  });

  it("takes CHROMIUM_PATH before /usr/bin/chromium, and refuses one that is not there", () => {
    const env = { CHROMIUM_PATH: "/opt/chromium/chrome" };
    expect(chooseChromium(env, only("/opt/chromium/chrome", "/usr/bin/chromium"))).toEqual({
      from: "system",
      path: "/opt/chromium/chrome",
    });
    expect(() => chooseChromium(env, only("/usr/bin/chromium"))).toThrow("No Chromium at /opt/chromium/chrome");
  });

  it("CHROMIUM_FROM=npm takes the npm one beside a system browser; =system never falls back to it", () => {
    expect(chooseChromium({ CHROMIUM_FROM: "npm" }, only("/usr/bin/chromium"))).toEqual({ from: "npm" });
    expect(() => chooseChromium({ CHROMIUM_FROM: "system" }, only())).toThrow("No Chromium at /usr/bin/chromium");
    expect(() => chooseChromium({ CHROMIUM_FROM: "firefox" }, only("/usr/bin/chromium"))).toThrow();
  });
});

describe("the Chromium this run drives", () => {
  it("is the chosen binary: the npm package's version, or what the system binary says it is", async () => {
    const binary = await chromiumBinary();
    const expected =
      binary.from === "npm" ? npmChromiumVersion() : execFileSync(binary.path, ["--version"], { encoding: "utf8" });
    const major = (version: string) => /(\d+)\./.exec(version)?.[1];
    const browser = await openBrowser();
    try {
      const running = browser.context.browser()?.version() ?? "";
      expect(major(running)).toBeDefined();
      expect(major(running)).toBe(major(expected));
    } finally {
      await browser.close();
    }
  });
});
