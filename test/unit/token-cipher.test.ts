import { describe, expect, it } from "vitest";
import { TokenCipher } from "../../src/lib/token-cipher";

const KEY_A = btoa(String.fromCharCode(...new Uint8Array(32).fill(1)));
const KEY_B = btoa(String.fromCharCode(...new Uint8Array(32).fill(2)));

describe("TokenCipher (AES-256-GCM with a key id)", () => {
  it("round-trips, with a fresh IV each time and no plaintext in the stored value", async () => {
    const cipher = await TokenCipher.create(KEY_A);
    const a = await cipher.encrypt("shpua_secret-token", "shopify:a.myshopify.com");
    const b = await cipher.encrypt("shpua_secret-token", "shopify:a.myshopify.com");
    expect(a).not.toBe(b);
    expect(a).not.toContain("secret");
    expect(a.startsWith(`v1.${cipher.keyId}.`)).toBe(true);
    expect(await cipher.decrypt(a, "shopify:a.myshopify.com")).toBe("shpua_secret-token");
  });

  it("fails loudly under a wrong key, a moved row or a tampered value", async () => {
    const a = await TokenCipher.create(KEY_A);
    const stored = await a.encrypt("token", "row-1");
    await expect((await TokenCipher.create(KEY_B)).decrypt(stored, "row-1")).rejects.toThrow(/not configured/);
    await expect(a.decrypt(stored, "row-2")).rejects.toThrow(/failed to decrypt/);
    const parts = stored.split(".");
    parts[3] = parts[3]!.slice(0, -2) + (parts[3]!.endsWith("AA") ? "BB" : "AA");
    await expect(a.decrypt(parts.join("."), "row-1")).rejects.toThrow(/failed to decrypt/);
    await expect(a.decrypt("plain-token", "row-1")).rejects.toThrow(/format/);
  });

  it("reads values of the previous key during a rotation, and writes with the new one", async () => {
    const old = await TokenCipher.create(KEY_A);
    const stored = await old.encrypt("token", "row");
    const rotated = await TokenCipher.create(KEY_B, [KEY_A]);
    expect(await rotated.decrypt(stored, "row")).toBe("token");
    expect((await rotated.encrypt("token", "row")).split(".")[1]).toBe(rotated.keyId);
    expect(rotated.keyId).not.toBe(old.keyId);
  });

  it("refuses a key that is not base64 of 32 bytes", async () => {
    await expect(TokenCipher.create(btoa("short"))).rejects.toThrow(/32 bytes/);
  });
});
