import { expect, it } from "vitest";
import { databaseSnapshot, spacesSnapshot } from "../helpers";

/** One thing an attacker or a broken client sends, and the status it must get. */
export interface AttackCase {
  name: string;
  status: number;
  send: () => Promise<Response>;
}

/**
 * Both databases but the count of wrong admin tokens per client (hashed): counting a refused guess
 * is the one change a refused request is meant to make.
 */
async function storedData(): Promise<string> {
  const { "sessions.admin_sign_in_failures": _counted, ...rest } = JSON.parse(await databaseSnapshot()) as Record<
    string,
    unknown
  >;
  return JSON.stringify(rest);
}

/**
 * Each case: the expected status, the JSON error body of the contract, and neither D1 nor Spaces
 * changed by it (compared row by row and key by key).
 */
export function attackTable(cases: AttackCase[]) {
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const db = await storedData();
    const objects = await spacesSnapshot();
    const res = await c.send();
    expect(res.status).toBe(c.status);
    if (c.status >= 400) {
      const body = await res.json<{ error: { code: string; message: string } }>();
      expect(body.error.code).toMatch(/^[a-z_]+$/);
      expect(body.error.message.length).toBeGreaterThan(0);
    } else {
      await res.body?.cancel();
    }
    // Queued work (if any slipped through) would show up shortly after the answer.
    await new Promise((r) => setTimeout(r, 50));
    expect(await storedData()).toBe(db);
    expect(await spacesSnapshot()).toBe(objects);
  });
}
