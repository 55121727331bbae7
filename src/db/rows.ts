import { z } from "zod";

/**
 * D1 answers rows as plain objects whose shape the migrations decide, not the code that reads
 * them: a row that does not match (a migration not applied, a column renamed) throws here, naming
 * the column, instead of travelling on as a wrong type.
 */
export function rowsOf<S extends z.ZodType>(result: D1Result | undefined, row: S): z.infer<S>[] {
  return (result?.results ?? []).map((r) => row.parse(r));
}

/** The first row of a result, parsed as in `rowsOf`; undefined when there is none. */
export function firstRowOf<S extends z.ZodType>(result: D1Result | undefined, row: S): z.infer<S> | undefined {
  const first = result?.results[0];
  return first === undefined ? undefined : row.parse(first);
}

/** Runs a statement and parses every row it answers, as in `rowsOf`. */
export async function allRows<S extends z.ZodType>(statement: D1PreparedStatement, row: S): Promise<z.infer<S>[]> {
  return rowsOf(await statement.all(), row);
}

/** Runs a statement and parses its first row, as in `rowsOf`; null when there is none. */
export async function firstRow<S extends z.ZodType>(
  statement: D1PreparedStatement,
  row: S,
): Promise<z.infer<S> | null> {
  const first = await statement.first();
  return first === null ? null : row.parse(first);
}

/**
 * Runs a statement and parses one column of its first row; null when there is no row. A missing
 * column throws, naming it.
 */
export async function firstValue<S extends z.ZodType>(
  statement: D1PreparedStatement,
  column: string,
  value: S,
): Promise<z.infer<S> | null> {
  const first = await statement.first();
  if (first === null) return null;
  // Parsed by `value` here; zod does not carry its type through a computed key.
  return z.object({ [column]: value }).parse(first)[column] as z.infer<S>;
}

/** The rows a Durable Object's SQLite answers, as `exec` gives them without a type argument. */
type SqlCursor = SqlStorageCursor<Record<string, SqlStorageValue>>;

/** One row of a Durable Object's SQLite parsed by `row`; a row that does not match throws, naming the table. */
function parseSqlRow<S extends z.ZodType>(value: unknown, row: S, table: string): z.infer<S> {
  const parsed = row.safeParse(value);
  if (!parsed.success)
    throw new Error(`A row of ${table} does not match: ${z.prettifyError(parsed.error)}`, { cause: parsed.error });
  return parsed.data;
}

/**
 * A Durable Object's SQLite rows, kept by tables an earlier version of the code may have written:
 * each row parsed by `row` as the cursor is read; one that does not match throws, naming `table`.
 */
export function sqlRows<S extends z.ZodType>(cursor: SqlCursor, row: S, table: string): z.infer<S>[] {
  const rows: z.infer<S>[] = [];
  for (const r of cursor) rows.push(parseSqlRow(r, row, table));
  return rows;
}

/** The one row of a cursor (`one()`: none or more throws), parsed as in `sqlRows`. */
export function sqlOne<S extends z.ZodType>(cursor: SqlCursor, row: S, table: string): z.infer<S> {
  return parseSqlRow(cursor.one(), row, table);
}

/** What a stored value is, for an error. */
const kindOf = (value: SqlStorageValue | undefined): string =>
  value === undefined ? "no value" : value === null ? "null" : value instanceof ArrayBuffer ? "a blob" : typeof value;

/**
 * One text value of a raw row (`cursor.raw()`), checked without a schema: for loops over many rows,
 * where a parse per row would cost more than the row. Anything else throws, naming the column.
 */
export function sqlText(value: SqlStorageValue | undefined, table: string, column: string): string {
  if (typeof value === "string") return value;
  throw new Error(`${table}.${column} holds ${kindOf(value)}, not text`);
}

/** One number of a raw row, checked as in `sqlText`. */
export function sqlNumber(value: SqlStorageValue | undefined, table: string, column: string): number {
  if (typeof value === "number") return value;
  throw new Error(`${table}.${column} holds ${kindOf(value)}, not a number`);
}
