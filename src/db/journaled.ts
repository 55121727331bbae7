import type { RowJournal, RowRef } from "../backup/journal";

/**
 * The one way a journaled table is written (tokens, links, Meta logins and deletion requests; the
 * list is src/backup/journal.ts): the statements in one D1 transaction, then every row they changed
 * journaled, so a store's method cannot write a row and forget to journal it.
 */

/** A statement and the journaled rows it changes. */
export interface JournaledWrite {
  statement: D1PreparedStatement;
  /**
   * The row it writes; or, for a statement that finds its rows itself (a `DELETE ... RETURNING`,
   * a write that may change nothing), the rows its result names; or null for a write of derived
   * state (not journaled) that belongs in the same transaction.
   */
  ref: RowRef | null | ((result: D1Result) => RowRef[]);
}

/** Runs the writes in one transaction, journals their rows, and returns their results in order. */
export async function commitJournaled(
  db: D1Database,
  journal: RowJournal,
  writes: JournaledWrite[],
  deadlineMs?: number,
): Promise<D1Result[]> {
  if (!writes.length) return [];
  const results = await db.batch(writes.map((w) => w.statement));
  const refs = writes.flatMap(({ ref }, i) => (typeof ref === "function" ? ref(results[i]!) : ref ? [ref] : []));
  if (refs.length) await journal(refs, deadlineMs);
  return results;
}
