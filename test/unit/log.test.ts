import { afterEach, describe, expect, it } from "vitest";
import { log, redact, scrub, setLogSink } from "../../src/lib/log";

afterEach(() => setLogSink(null));

describe("log lines", () => {
  it("are one JSON object with the sentence as message and the ids as fields", () => {
    const lines: string[] = [];
    setLogSink((l) => lines.push(l));
    log.info("Uploaded users/x/page_metadata.json to Spaces", { page_id: "123" });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      level: "info",
      message: "Uploaded users/x/page_metadata.json to Spaces",
      page_id: "123",
    });
  });

  it("never carry a registered secret or a token-shaped value", () => {
    const lines: string[] = [];
    setLogSink((l) => lines.push(l));
    redact("my-registered-secret");
    log.warn("failed with my-registered-secret", { detail: "x my-registered-secret y" });
    log.info("url https://g/x?access_token=EAAB123&appsecret_proof=abc&fields=id");
    log.info('body {"access_token":"shpua_abcdef","scope":"read"} and shprt_0123 and EAAGm0PX4ZCpsBAKZC');
    const all = lines.join("\n");
    for (const leaked of [
      "my-registered-secret",
      "EAAB123",
      "shpua_abcdef",
      "shprt_0123",
      "EAAGm0PX4ZCpsBAKZC",
      "proof=abc",
    ]) {
      expect(all).not.toContain(leaked);
    }
    expect(all).toContain("fields=id");
  });

  it("scrub leaves ordinary text alone", () => {
    expect(scrub("Polled metadata for page 123: Success")).toBe("Polled metadata for page 123: Success");
  });

  it("removes every occurrence of every registered value, overlapping ones and line ends included", () => {
    redact("tok-alpha-1234");
    redact("1234-beta-tok");
    redact("cookie0value");
    const line = "tok-alpha-1234-beta-tok|cookie0valuecookie0value|xtok-alpha-1234";
    expect(scrub(line)).toBe("[redacted]|[redacted]|x[redacted]");
    expect(scrub("cookie0valu e")).toBe("cookie0valu e");
  });

  it("finds the same values as a search for each one, with thousands registered", () => {
    // A small deterministic generator: values share prefixes and tails, as real tokens do.
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const pick = (alphabet: string, n: number) =>
      Array.from({ length: n }, () => alphabet[next() % alphabet.length]).join("");
    const values = Array.from(
      { length: 1500 },
      (_, i) => `${["sess_", "tok_", ""][i % 3]}${pick("abc01", 4 + (i % 9))}`,
    );
    for (const v of values) redact(v);
    for (let round = 0; round < 100; round++) {
      const parts = Array.from({ length: 6 }, () =>
        next() % 2 ? values[next() % values.length]! : pick("abc01 _", 8),
      );
      const line = parts.join("");
      const expectedClean = values.every((v) => !line.includes(v));
      const out = scrub(line);
      if (expectedClean) expect(out).toBe(line);
      for (const v of values) expect(out.includes(v), `${v} left in ${out}`).toBe(false);
    }
  });

  it("keeps configured secrets after thousands of newer tokens, and forgets the oldest tokens", () => {
    redact("configured-secret-value", true);
    redact("oldest-token-value");
    for (let i = 0; i < 2100; i++) redact(`later-token-${i}`);
    expect(scrub("configured-secret-value later-token-2099")).toBe("[redacted] [redacted]");
    expect(scrub("oldest-token-value")).toBe("oldest-token-value");
  });
});
