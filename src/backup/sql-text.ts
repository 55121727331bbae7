/**
 * The small part of SQL that our migrations and a D1 dump of our schema use: statements split at
 * top-level semicolons, tokens, and literals. Anything outside it is refused by the callers
 * (./dump-parse.ts says what that refusal buys).
 */

export type SqlValue = string | number | null | Uint8Array;

export interface Token {
  kind: "word" | "ident" | "string" | "number" | "blob" | "punct";
  text: string;
}

/** Splits SQL text into statements (without the `;`), skipping `--` and block comments. */
export function splitStatements(text: string): string[] {
  const out: string[] = [];
  let current = "";
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === "'" || ch === '"') {
      const end = closingQuote(text, i);
      current += text.slice(i, end + 1);
      i = end + 1;
      continue;
    }
    if (ch === "-" && text[i + 1] === "-") {
      const nl = text.indexOf("\n", i);
      i = nl === -1 ? text.length : nl;
      continue;
    }
    if (ch === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end === -1 ? text.length : end + 2;
      continue;
    }
    if (ch === ";") {
      if (current.trim()) out.push(current.trim());
      current = "";
      i++;
      continue;
    }
    current += ch;
    i++;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

/** Index of the quote that closes the one at `start` (a doubled quote is an escaped one). */
function closingQuote(text: string, start: number): number {
  const q = text[start]!;
  let i = start + 1;
  for (;;) {
    const next = text.indexOf(q, i);
    if (next === -1) throw new Error("unterminated quoted text");
    if (text[next + 1] === q) {
      i = next + 2;
      continue;
    }
    return next;
  }
}

/** Tokens of one statement; throws on any character outside identifiers, literals and ( ) , . = * - +. */
export function tokenize(statement: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < statement.length) {
    const ch = statement[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if ((ch === "X" || ch === "x") && statement[i + 1] === "'") {
      const end = closingQuote(statement, i + 1);
      const hex = statement.slice(i + 2, end);
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new Error("malformed blob literal");
      tokens.push({ kind: "blob", text: hex });
      i = end + 1;
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(statement.slice(i))!;
      tokens.push({ kind: "word", text: m[0] });
      i += m[0].length;
      continue;
    }
    if (ch === '"') {
      const end = closingQuote(statement, i);
      tokens.push({ kind: "ident", text: statement.slice(i + 1, end).replace(/""/g, '"') });
      i = end + 1;
      continue;
    }
    if (ch === "'") {
      const end = closingQuote(statement, i);
      tokens.push({ kind: "string", text: statement.slice(i + 1, end).replace(/''/g, "'") });
      i = end + 1;
      continue;
    }
    const num = /^\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(statement.slice(i));
    if (num) {
      tokens.push({ kind: "number", text: num[0] });
      i += num[0].length;
      continue;
    }
    if ("(),.=*-+".includes(ch)) {
      tokens.push({ kind: "punct", text: ch });
      i++;
      continue;
    }
    throw new Error(`unexpected character ${JSON.stringify(ch)}`);
  }
  return tokens;
}

/** A token's name when it is an identifier (bare or quoted). */
export const nameOf = (t: Token | undefined): string | null =>
  t && (t.kind === "word" || t.kind === "ident") ? t.text : null;

export const isWord = (t: Token | undefined, word: string) => t?.kind === "word" && t.text.toUpperCase() === word;

/**
 * Reads one literal at `tokens[i]` (NULL, a number with an optional sign, a string, a blob).
 * Returns the value and the index after it, or null when it is not a literal.
 */
export function readLiteral(tokens: Token[], i: number): { value: SqlValue; next: number } | null {
  const t = tokens[i];
  if (!t) return null;
  if (isWord(t, "NULL")) return { value: null, next: i + 1 };
  if (t.kind === "string") return { value: t.text, next: i + 1 };
  if (t.kind === "blob") {
    const bytes = new Uint8Array(t.text.length / 2);
    for (let b = 0; b < bytes.length; b++) bytes[b] = parseInt(t.text.slice(2 * b, 2 * b + 2), 16);
    return { value: bytes, next: i + 1 };
  }
  let sign = 1;
  let j = i;
  if (t.kind === "punct" && (t.text === "-" || t.text === "+")) {
    sign = t.text === "-" ? -1 : 1;
    j++;
  }
  const n = tokens[j];
  if (n?.kind === "number") return { value: sign * Number(n.text), next: j + 1 };
  return null;
}

/** An SQL literal for a value read from D1 or a journal. */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "NULL";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "boolean") return value ? "1" : "0";
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    const bytes =
      value instanceof ArrayBuffer
        ? new Uint8Array(value)
        : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    return `X'${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}'`;
  }
  if (Array.isArray(value)) return sqlLiteral(new Uint8Array(value as number[]));
  return `'${String(value).replace(/'/g, "''")}'`;
}

export const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
