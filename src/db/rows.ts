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
