/**
 * Work from concurrent requests of one isolate, sent together: items handed in while a trip is
 * under way travel in the next one, so a burst of requests shares round trips instead of queueing
 * one each. Every caller still waits for its own item to be carried and gets its own result.
 *
 * Nothing crosses from one request to another but plain data: callers hand over items (the driver
 * makes every I/O object itself) and read their results from a plain object, as the runtime forbids
 * one request to use another's I/O objects or settle its promises. Callers riding in another
 * request's trip therefore poll on their own timers.
 */

/** How one item of a trip ended. */
export type Outcome<R> = { result: R } | { error: unknown };

export interface CarpoolOptions<I, R> {
  /** Carries a trip's items; one outcome per item, in order. Never rejects. */
  drive: (items: I[]) => Promise<Outcome<R>[]>;
  /** Whether `next` still fits in a trip already holding `taken` (one item always fits). */
  fits?: (taken: I[], next: I) => boolean;
}

interface Seat<I, R> {
  item: I;
  taken: boolean;
  outcome?: Outcome<R>;
}

/** How often a caller whose item travels in another request's trip looks for its outcome. */
const POLL_MS = 2;
/** A caller gives up (its delivery is then answered 503, so the platform sends it again) after this. */
export const CARPOOL_WAIT_LIMIT_MS = 15_000;

export class Carpool<I, R> {
  private queue: Seat<I, R>[] = [];
  /** When the trip under way left; 0 when none is. */
  private drivingSince = 0;

  constructor(private readonly options: CarpoolOptions<I, R>) {}

  /**
   * Carries `item` in the next trip, driving it when none is under way. Pass the request's
   * `waitUntil` so that a trip carrying other requests' items outlives the request that drives it.
   */
  async ride(item: I, waitUntil?: (p: Promise<unknown>) => void): Promise<R> {
    const seat: Seat<I, R> = { item, taken: false };
    this.queue.push(seat);
    const deadline = Date.now() + CARPOOL_WAIT_LIMIT_MS;
    while (!seat.outcome) {
      // A trip under way for longer than callers wait died with its request: another may go.
      if (!seat.taken && (!this.drivingSince || Date.now() - this.drivingSince > CARPOOL_WAIT_LIMIT_MS)) {
        // Nothing under way: this caller drives what is waiting, its own item first in line or
        // behind others (a queue longer than one trip goes round again).
        const since = (this.drivingSince = Date.now());
        const trip = this.drive(this.take()).finally(() => {
          if (this.drivingSince === since) this.drivingSince = 0;
        });
        waitUntil?.(trip);
        await trip;
        continue;
      }
      if (Date.now() > deadline) {
        // Not taken yet: withdrawn, so a request answered with an error is not carried behind its back.
        if (!seat.taken) this.queue.splice(this.queue.indexOf(seat), 1);
        throw new Error("The trip carrying this work did not finish in time");
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    if ("error" in seat.outcome) throw seat.outcome.error;
    return seat.outcome.result;
  }

  private take(): Seat<I, R>[] {
    const trip: Seat<I, R>[] = [];
    const items: I[] = [];
    while (this.queue.length) {
      const next = this.queue[0]!;
      if (trip.length && this.options.fits && !this.options.fits(items, next.item)) break;
      this.queue.shift();
      next.taken = true;
      trip.push(next);
      items.push(next.item);
    }
    return trip;
  }

  private async drive(trip: Seat<I, R>[]): Promise<void> {
    let outcomes: Outcome<R>[];
    try {
      outcomes = await this.options.drive(trip.map((s) => s.item));
    } catch (error) {
      outcomes = trip.map(() => ({ error }));
    }
    trip.forEach((seat, i) => (seat.outcome = outcomes[i] ?? { error: new Error("no outcome for this item") }));
  }
}
