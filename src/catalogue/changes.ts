import { Carpool } from "../lib/carpool";
import { IsolateCache, isolateWeakCache } from "../lib/isolate-cache";
import { catalogueStub } from "./durable-object";

/** Products changed at Shopify: `read` to read again (created, updated), `remove` gone. */
export interface ProductChange {
  read?: number[];
  remove?: number[];
}

/** Ids carried in one call to the catalogue object. */
const IDS_PER_TRIP = 1000;

const ids = (c: ProductChange) => (c.read?.length ?? 0) + (c.remove?.length ?? 0);

type Trips = IsolateCache<string, Carpool<ProductChange, { pending: number }>>;
const trips = isolateWeakCache<Env["CATALOGUES"], Trips>(
  "catalogue.change-trips",
  "the product changes being gathered per shop, for each catalogue binding; an entry dropped while in use only splits its trip",
);
/** Shops whose trips are kept per binding (least recently used dropped first). */
const SHOPS_KEPT = 1000;

/**
 * Hands a product change to the shop's catalogue object. Changes from concurrent webhooks of this
 * isolate go in one call (src/lib/carpool.ts): a bulk edit's burst of deliveries costs a few calls
 * rather than one each, and every delivery is still answered only once its change is stored.
 */
export function productsChanged(
  env: Env,
  shop: string,
  change: ProductChange,
  waitUntil?: (p: Promise<unknown>) => void,
): Promise<{ pending: number }> {
  const shops = trips.getOrCreate(
    env.CATALOGUES,
    () => new IsolateCache({ why: "trips per shop", maxEntries: SHOPS_KEPT }),
  );
  const carpool = shops.getOrCreate(
    shop,
    () =>
      new Carpool<ProductChange, { pending: number }>({
        fits: (taken, next) => taken.reduce((n, c) => n + ids(c), 0) + ids(next) <= IDS_PER_TRIP,
        async drive(changes) {
          const merged = {
            read: changes.flatMap((c) => c.read ?? []),
            remove: changes.flatMap((c) => c.remove ?? []),
          };
          const result = await catalogueStub(env, shop).changed(shop, merged);
          return changes.map(() => ({ result }));
        },
      }),
  );
  return carpool.ride(change, waitUntil);
}
