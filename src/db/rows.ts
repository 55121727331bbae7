import type { z } from "zod";

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
