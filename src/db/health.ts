import { z } from "zod";
import { firstRowOf } from "./rows";

/** The cheapest query a database answers: for /health, which anyone may call. */
export async function pingDatabase(db: D1Database): Promise<void> {
  await db.prepare("SELECT 1").first();
}

/** Row counts of the tables the operator watches (for /admin/status.json, behind the token). */
export async function tokenDatabaseCounts(db: D1Database): Promise<Record<string, number>> {
  const tables = ["tokens", "shops", "pages"] as const;
  const results = await db.batch(tables.map((t) => db.prepare(`SELECT COUNT(*) AS n FROM ${t}`)));
  const count = z.object({ n: z.number() });
  return Object.fromEntries(tables.map((t, i) => [t, firstRowOf(results[i], count)?.n ?? 0]));
}
