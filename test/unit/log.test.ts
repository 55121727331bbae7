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
});
