import { TokenCipher } from "../../src/lib/token-cipher.ts";
import { sqlLiteral } from "../../src/backup/dump.ts";

/**
 * SQL that seeds the tokens database with many merchants at once (for the benchmark): shops and
 * pages linked to user UUIDs, with tokens encrypted under the worker's key, as installs would leave.
 */
export async function seedSql(opts: {
  encryptionKey: string;
  shops: { shop: string; token: string }[];
  pages: { pageId: string; token: string }[];
  extraTokens: number;
}): Promise<string> {
  const cipher = await TokenCipher.create(opts.encryptionKey);
  const now = Date.now();
  const lines: string[] = [];
  const token = async (key: string, value: string) =>
    `INSERT INTO tokens (key, value, status, updated_at) VALUES (${sqlLiteral(key)}, ${sqlLiteral(await cipher.encrypt(value, key))}, 'active', ${now});`;
  for (const { shop, token: t } of opts.shops) {
    lines.push(await token(`shopify:${shop}`, t));
    lines.push(
      `INSERT INTO shops (shop, user_uuid, installed_at) VALUES (${sqlLiteral(shop)}, ${sqlLiteral(crypto.randomUUID())}, ${now});`,
    );
  }
  for (const { pageId, token: t } of opts.pages) {
    lines.push(await token(`facebook:page:${pageId}`, t));
    lines.push(
      `INSERT INTO pages (page_id, user_uuid, name, linked_at) VALUES (${sqlLiteral(pageId)}, ${sqlLiteral(crypto.randomUUID())}, NULL, ${now});`,
    );
  }
  // Merchants who left: tokens kept until redaction, not polled.
  for (let i = 0; i < opts.extraTokens; i++) lines.push(await token(`facebook:user:${String(5e14 + i)}`, `EAAold${i}`));
  return `${lines.join("\n")}\n`;
}
