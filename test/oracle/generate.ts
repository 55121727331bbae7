/**
 * Seeded generators of the inputs Shopify's library and the worker are both asked about: strings
 * with unicode (emoji, combining marks, look-alikes), reserved and percent characters, whitespace,
 * and the edges of each format. The same seed gives the same inputs on every run.
 */

/** mulberry32: small, fast, good enough to spread test inputs. */
export function seeded(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chance = (p: number) => next() < p;
  return { next, int, pick, chance };
}

export type Random = ReturnType<typeof seeded>;

/** Pieces a value is made of: each a kind of character that breaks naive encodings. */
const PIECES = [
  "a",
  "Z",
  "0",
  "9",
  "-",
  "_",
  ".",
  "~",
  " ",
  "  ",
  "\t",
  "&",
  "=",
  "+",
  "%",
  "%20",
  "%2B",
  "%zz",
  "/",
  "?",
  "#",
  ";",
  ",",
  ":",
  "@",
  "!",
  "*",
  "'",
  "(",
  "[]",
  '"',
  "<",
  "\\",
  "é",
  "e\u0301",
  "ü",
  "ß",
  "İ",
  "\u212a",
  "а", // Cyrillic a
  "中文",
  "日本",
  "\u00a0",
  "\u200b",
  "😀",
  "👩‍💻",
  "🇫🇷",
  "\u{1f9ea}",
  "\n",
] as const;

export function randomText(r: Random, maxPieces = 8): string {
  let out = "";
  const n = r.int(maxPieces + 1);
  for (let i = 0; i < n; i++) out += r.chance(0.5) ? r.pick(PIECES) : String.fromCharCode(97 + r.int(26));
  return out;
}

/** A base64 `host` as Shopify sends it (admin.shopify.com/store/<name>), often with `=` padding. */
export function randomHost(r: Random): string {
  const name = "shop" + "x".repeat(r.int(4)) + r.int(1000);
  return btoa(`admin.shopify.com/store/${name}`);
}

/** Keys of the queries Shopify sends, and others in every case and with odd characters. */
export const SHOPIFY_KEYS = ["code", "shop", "state", "timestamp", "host", "embedded", "locale", "session", "id_token"];
const ODD_KEYS = [
  "A",
  "B",
  "a",
  "b",
  "Shop",
  "SHOP",
  "_x",
  "x_y",
  "x1",
  "x-y",
  "x.y",
  "é",
  "z z",
  "a&b",
  "a=b",
  "😀",
  "1",
  "10",
  "2",
];

export function randomKey(r: Random): string {
  return r.chance(0.5) ? r.pick(SHOPIFY_KEYS) : r.chance(0.6) ? r.pick(ODD_KEYS) : randomText(r, 3) || "k";
}

export function shuffle<T>(r: Random, items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Shop inputs: real shapes, near misses and attacks. */
export function randomShopInput(r: Random): string {
  const names = [
    "acme",
    "acme-7cu19ngr",
    "a",
    "9shop",
    "-acme",
    "acme_x",
    "ACME",
    "AcMe-1",
    "x".repeat(60),
    "x".repeat(61),
    "x".repeat(63),
    "x".repeat(64),
  ];
  const name = r.chance(0.7) ? r.pick(names) : randomText(r, 4);
  const suffixes = [
    ".myshopify.com",
    ".myshopify.com",
    ".MYSHOPIFY.COM",
    ".MyShopify.com",
    ".myshopify.com/",
    ".myshopify.com//",
    ".myshopify.com.evil.test",
    ".myshopify.io",
    ".shopify.com",
    ".shop.dev",
    ".evil.test",
    ".myshopify.com:443",
    ".myshopify.com\n",
    ".myshopify.com ",
    "",
    "",
  ];
  let shop = name + r.pick(suffixes);
  if (r.chance(0.05)) shop = `admin.shopify.com/store/${name}`;
  if (r.chance(0.05)) shop = `https://${shop}`;
  if (r.chance(0.05)) shop = `evil.com/${shop}`;
  if (r.chance(0.08)) shop = r.pick([" ", "\t", "\n", "\u00a0"]) + shop;
  if (r.chance(0.08)) shop = shop + r.pick([" ", "\t", "\n", "\u00a0"]);
  return shop;
}
