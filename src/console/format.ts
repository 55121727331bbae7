/** How the console writes times and sizes: short, and the same in the page and the terminal. */

function span(s: number): string {
  if (s < 90 * 60) return `${Math.max(1, Math.round(s / 60))} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

/** A time relative to now in words: "just now", "4 min ago", "3 h ago", "in 2 days". */
export function age(at: number, now: number): string {
  const s = Math.round((now - at) / 1000);
  if (Math.abs(s) < 45) return "just now";
  return s > 0 ? `${span(s)} ago` : `in ${span(-s)}`;
}

/** `2026-12-02 07:41 UTC`. */
export const utc = (at: number) => `${new Date(at).toISOString().slice(0, 16).replace("T", " ")} UTC`;

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export const duration = (ms: number | null) =>
  ms === null ? "" : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
