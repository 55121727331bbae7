import type { StatusJson } from "../../src/console/read-model.ts";
import { age, bytes, duration } from "../../src/console/format.ts";

/** `GET /admin/status.json` as lines for a terminal: the console's sections, in the same words. */
export function statusText(origin: string, s: StatusJson): string {
  const now = Date.parse(s.generated_at!);
  const when = (iso: string | null | undefined, none = "none") => (iso ? age(Date.parse(iso), now) : none);
  const ok = (p: { ok: boolean; error?: string }) => (p.ok ? "ok" : `DOWN (${p.error ?? "no detail"})`);
  const run = (r: { at: string | null; ok: boolean; duration_ms: number | null; error?: string } | null) =>
    r
      ? `${r.ok ? "ok" : "FAILED"} ${when(r.at)}${r.duration_ms !== null ? ` (${duration(r.duration_ms)})` : ""}${r.error ? `: ${r.error}` : ""}`
      : "not recorded";
  const subs = (x: { ok: boolean; missing: string[] } | null) =>
    x ? (x.ok ? "ok" : `MISSING ${x.missing.join(",")}`) : "not checked";
  const lines: string[] = [];
  lines.push(`Status of ${origin} at ${s.generated_at}`);
  lines.push(
    `Health: D1 tokens ${ok(s.health.d1.tokens)}, D1 sessions ${ok(s.health.d1.sessions)}, Spaces ${ok(s.health.spaces)}`,
  );
  const backup = (name: string, b: StatusJson["backups"]["tokens"]) =>
    b ? `${name} ${when(b.at)} (${bytes(b.bytes)}, ${b.verified ? "verified" : "NOT VERIFIED"})` : `${name} NONE`;
  lines.push(
    `Backups: ${backup("tokens", s.backups.tokens)}; ${backup("sessions", s.backups.sessions)}${s.backups.error ? ` (${s.backups.error})` : ""}`,
  );
  lines.push(
    `Journal: newest entry ${s.journal.newest ? `${when(s.journal.newest.at)} (${s.journal.newest.key})` : "none"}`,
  );
  lines.push(`Dead jobs: ${s.dead_jobs.total}`);
  for (const j of s.dead_jobs.items)
    lines.push(`  ${j.id}  ${j.type} for ${j.subject}, ${j.attempts} attempts, ${when(j.failed_at)}: ${j.error}`);
  const m = s.merchants;
  const pages = Math.max(1, Math.ceil(m.total / m.per_page));
  lines.push(
    `Merchants: ${m.total}${m.search ? ` matching "${m.search}"` : ""} (page ${m.page} of ${pages}, ${m.per_page} a page)`,
  );
  const rows: string[][] = [];
  for (const merchant of m.items) {
    rows.push([merchant.user_uuid]);
    for (const shop of merchant.shops)
      rows.push([
        "  shopify",
        shop.shop,
        shop.token,
        `webhook ${when(shop.last_webhook_at)}`,
        `sync ${run(shop.last_sync)}`,
        `subscriptions ${subs(shop.subscriptions)}`,
      ]);
    for (const page of merchant.pages)
      rows.push([
        "  facebook",
        `${page.page_id} ${JSON.stringify(page.name ?? "")}`,
        page.token,
        "",
        `poll ${run(page.last_poll)}`,
        `subscriptions ${subs(page.subscriptions)}`,
      ]);
  }
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(0, ...rows.filter((r) => r.length > 1).map((r) => r[i]!.length)));
  for (const r of rows)
    lines.push(
      r.length === 1
        ? r[0]!
        : r
            .map((cell, i) => (i < widths.length ? cell.padEnd(widths[i]!) : cell))
            .join("  ")
            .trimEnd(),
    );
  return lines.join("\n");
}
