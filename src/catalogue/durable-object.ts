import { DurableObject } from "cloudflare:workers";
import { ObjectMeta } from "../db/object-meta";
import { config } from "../config";
import { describeError, log } from "../lib/log";
import { PlatformError } from "../lib/platform-error";
import { backoffMs } from "../lib/retry";
import { shopOwner } from "../db/links";
import { JSON_TYPE } from "../spaces/client";
import { shopProductsKey } from "../spaces/keys";
import { ObjectWriter } from "../spaces/object-writer";
import { spaces, tokenStore } from "../services";
import { ShopAccess } from "../shopify/access";
import { AdminApi } from "../shopify/admin-api";
import { readProducts, type CatalogueProduct } from "../shopify/products";
import { PRODUCTS_PER_READ } from "../shopify/queries";
import type { Job } from "../jobs/queue-jobs";
import { CatalogueStore } from "./store";

/** Wait this long after a change before reading and writing, so changes arriving together are written together. */
const CHANGE_DELAY_MS = 200;
/** A busy shop's file is written at most this often (each write is the whole file). */
const MIN_UPLOAD_INTERVAL_MS = 1000;
/**
 * A product is read again at most this often: a product whose stock changes with every order (a
 * sale) costs one Admin API call per READ_SPACING_MS rather than one per alarm, and its latest
 * change still lands within it (plus the write).
 */
const READ_SPACING_MS = 3000;
/** Products read again in one run of the alarm; more wait for the next run (the file is written in between). */
const READS_PER_RUN = 100;
/** Removals are remembered this long: Shopify retries a delivery for 4 hours, a full read takes minutes. */
const REMOVAL_MEMORY_MS = 7 * 24 * 3600 * 1000;
/** A catalogue not held asks for a full read at most this often. */
const FULL_READ_REQUEST_INTERVAL_MS = 3600 * 1000;
/** Products read from storage at a time while the file is written. */
const UPLOAD_SLICE = 200;
/** Upload part size: the smallest S3 takes, so the upload holds as little as it can. */
const PART_SIZE = 5 * 1024 * 1024;

export interface UploadOutcome {
  key: string | null;
  written: boolean;
  products: number;
  bytes: number;
  /** Why nothing was written, when nothing was. */
  skipped?: "not installed" | "unchanged" | "not loaded";
}

export interface CatalogueSummary {
  loaded: boolean;
  products: number;
  pending: number;
  version: number;
  uploadedVersion: number;
}

/**
 * One shop's catalogue between syncs: every product's line of `shop_products.json`, so that a
 * product's change costs a read of that product and a write of the file from what is held, never a
 * walk of the catalogue. Changes are storage-only (concurrent calls cannot lose one); the Admin API
 * reads and the upload happen in the alarm, CHANGE_DELAY_MS after the first change, so a burst of
 * webhooks costs one write. A product is replaced only by a read at least as new as what is held,
 * and a removed one is not brought back by an older read: late or repeated deliveries roll nothing
 * back. Full reads (install, a catalogue not held) stream into it through `load`.
 */
export class Catalogue extends DurableObject<Env> {
  private readonly store: CatalogueStore;
  private readonly meta: ObjectMeta;
  private alarmPending: boolean | undefined;
  private lastUploadAt = 0;
  /** Uploads run one after another, each from the state when it starts. */
  private uploads: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new CatalogueStore(ctx.storage.sql);
    this.meta = new ObjectMeta(ctx.storage.sql);
  }

  private version = () => Number(this.meta.get("version") ?? 0);
  private bump = () => this.meta.set("version", this.version() + 1);

  private put(product: CatalogueProduct): boolean {
    const changed = this.store.put(product, Date.now());
    if (changed) this.bump();
    return changed;
  }

  private remove(id: number): boolean {
    const held = this.store.remove(id, Date.now());
    if (held) this.bump();
    return held;
  }

  private async scheduleAt(at: number) {
    await this.ctx.storage.setAlarm(at);
    this.alarmPending = true;
  }

  private async wake() {
    if (this.alarmPending === true) return;
    if (this.alarmPending === false || (await this.ctx.storage.getAlarm()) === null) {
      await this.scheduleAt(Math.max(Date.now() + CHANGE_DELAY_MS, this.lastUploadAt + MIN_UPLOAD_INTERVAL_MS));
    }
    this.alarmPending = true;
  }

  /**
   * Products changed at Shopify: `read` are read again (created, updated, their stock changed),
   * `remove` are dropped now. Returns how many reads wait.
   */
  async changed(shop: string, change: { read?: number[]; remove?: number[] }): Promise<{ pending: number }> {
    this.meta.set("shop", shop);
    const seq = Number(this.meta.get("seq") ?? 0) + 1;
    this.meta.set("seq", seq);
    this.store.addPending(change.read ?? [], seq);
    for (const id of change.remove ?? []) this.remove(id);
    await this.wake();
    return { pending: this.store.countPending() };
  }

  /** A full read starts: products not seen by it and not written since are removed as it goes. */
  async beginLoad(shop: string): Promise<{ startedAt: number }> {
    this.meta.set("shop", shop);
    return { startedAt: Date.now() };
  }

  /**
   * A slice of a full read, in id order: the products with ids in (`after`, `upTo`] (`upTo` null:
   * all after) are exactly `products`; held ones missing from it are gone from the shop, unless
   * written after the read began (a webhook's newer read).
   */
  async load(
    products: CatalogueProduct[],
    after: number,
    upTo: number | null,
    startedAt: number,
  ): Promise<{ changed: number; removed: number }> {
    let changed = 0;
    for (const p of products) if (this.put(p)) changed++;
    const seen = new Set(products.map((p) => p.id));
    let removed = 0;
    for (const held of this.store.versionsBetween(after, upTo)) {
      if (!seen.has(held.id) && held.writtenAt < startedAt && this.remove(held.id)) removed++;
    }
    if (upTo === null) {
      this.meta.set("loaded_at", Date.now());
      this.store.forgetRemovedBefore(Date.now() - REMOVAL_MEMORY_MS);
    }
    return { changed, removed };
  }

  /**
   * A page of Shopify's `id, updatedAt` list (ids in (`after`, `upTo`]) compared with what is held:
   * products held but not listed are removed now; the ids of those new or changed are returned,
   * to be read again.
   */
  async compare(
    versions: { id: number; updatedAt: string }[],
    after: number,
    upTo: number | null,
    startedAt: number,
  ): Promise<{ read: number[]; removed: number }> {
    const held = new Map(this.store.versionsBetween(after, upTo).map((h) => [h.id, h]));
    const read = versions.filter((v) => held.get(v.id)?.updatedAt !== v.updatedAt).map((v) => v.id);
    const listed = new Set(versions.map((v) => v.id));
    let removed = 0;
    for (const h of held.values()) {
      if (!listed.has(h.id) && h.writtenAt < startedAt && this.remove(h.id)) removed++;
    }
    if (removed) await this.wake();
    return { read, removed };
  }

  async summary(): Promise<CatalogueSummary> {
    return {
      loaded: this.meta.get("loaded_at") !== null,
      products: this.store.countProducts(),
      pending: this.store.countPending(),
      version: this.version(),
      uploadedVersion: Number(this.meta.get("uploaded_version") ?? 0),
    };
  }

  /**
   * Writes the products file if it is behind what is held; with `checkStored`, also when the object
   * is missing from Spaces (one HEAD when it is up to date).
   */
  async publish(opts: { checkStored?: boolean; partSize?: number } = {}): Promise<UploadOutcome> {
    const run = this.uploads.then(() => this.upload(opts));
    this.uploads = run.catch(() => undefined);
    return run;
  }

  private async upload(opts: { checkStored?: boolean; partSize?: number }): Promise<UploadOutcome> {
    const shop = this.meta.get("shop");
    const products = this.store.countProducts();
    if (!shop || this.meta.get("loaded_at") === null)
      return { key: null, written: false, products, bytes: 0, skipped: "not loaded" };
    // The shop's merchant, looked up at upload time: the file follows the shop's current link.
    const owner = await shopOwner(this.env.TOKENS_DB, shop);
    if (!owner?.installed) return { key: null, written: false, products, bytes: 0, skipped: "not installed" };
    const key = shopProductsKey(owner.userUuid, shop);
    const version = this.version();
    const current = version <= Number(this.meta.get("uploaded_version") ?? 0) && this.meta.get("uploaded_key") === key;
    if (current && !(opts.checkStored && (await spaces(this.env).storedHashes(key)) === null)) {
      return { key, written: false, products, bytes: 0, skipped: "unchanged" };
    }
    this.lastUploadAt = Date.now();
    const lastBytes = Number(this.meta.get("uploaded_bytes") ?? 0);
    const file = new ObjectWriter(spaces(this.env), key, opts.partSize ?? PART_SIZE, JSON_TYPE, "write", lastBytes);
    let count = 0;
    try {
      await file.write(`{"shop":${JSON.stringify(shop)},"products":[`);
      // Read in slices between awaits: changes made meanwhile land in a later slice or the next upload.
      for (let after = 0; ;) {
        const slice = this.store.bodiesAfter(after, UPLOAD_SLICE);
        if (!slice.length) break;
        // Each stored line goes to the part as it is: no string joining lines, so nothing of a slice's size.
        for (const row of slice) {
          await file.write(count++ === 0 ? "\n" : ",\n");
          await file.write(row.body);
        }
        after = slice[slice.length - 1]!.id;
      }
      await file.write(`\n],"count":${count}}\n`);
      const result = await file.finish();
      this.meta.set("uploaded_version", version);
      this.meta.set("uploaded_key", key);
      this.meta.set("uploaded_bytes", result.bytes);
      if (result.written)
        log.info(`Uploaded ${key} to Spaces`, { shop, key, products: count, bytes: result.bytes, version });
      return { key, written: result.written, products: count, bytes: result.bytes };
    } catch (err) {
      await file.abort();
      throw err;
    }
  }

  async alarm(): Promise<void> {
    this.alarmPending = false;
    const shop = this.meta.get("shop");
    if (!shop) return;
    try {
      const batch = this.store.pendingBatch(READS_PER_RUN, Date.now() - READ_SPACING_MS);
      if (batch.length) {
        const owner = await shopOwner(this.env.TOKENS_DB, shop);
        if (!owner?.installed) {
          for (const p of batch) this.store.donePending(p.id, p.seq);
          log.info(`Product changes of ${shop} dropped: not installed`, { shop, products: batch.length });
          return;
        }
        const cfg = config(this.env, "shopify");
        const api = new AdminApi(cfg, new ShopAccess(cfg, await tokenStore(this.env), shop));
        let changed = 0;
        for (let i = 0; i < batch.length; i += PRODUCTS_PER_READ) {
          const group = batch.slice(i, i + PRODUCTS_PER_READ);
          // The products as Shopify holds them now are the truth; null: it no longer exists.
          const readAt = Date.now();
          const products = await readProducts(
            api,
            group.map((p) => p.id),
          );
          for (const [k, { id, seq }] of group.entries()) {
            const product = products[k]!;
            if (product ? this.put(product) : this.remove(id)) changed++;
            this.store.donePending(id, seq);
            this.store.readDone(id, readAt, Date.now() - READ_SPACING_MS);
          }
        }
        log.info(`Read ${batch.length} changed products of ${shop}: ${changed} changed`, {
          shop,
          read: batch.length,
          changed,
          api_calls: api.calls,
        });
      }
      const outcome = await this.publish();
      this.meta.set("failures", 0);
      if (outcome.skipped === "not loaded") await this.requestFullRead(shop);
      const behind = !outcome.skipped && this.version() > Number(this.meta.get("uploaded_version") ?? 0);
      const soonest = Math.max(Date.now() + CHANGE_DELAY_MS, this.lastUploadAt + MIN_UPLOAD_INTERVAL_MS);
      const readable = this.store.pendingBatch(1, Date.now() - READ_SPACING_MS).length > 0;
      const spaced = this.store.earliestRecentRead(Date.now() - READ_SPACING_MS);
      if (readable || behind) await this.scheduleAt(soonest);
      // Only products read lately wait: the alarm comes back when the first of them may be read.
      else if (spaced !== null) await this.scheduleAt(Math.max(soonest, spaced + READ_SPACING_MS));
    } catch (err) {
      const failures = Number(this.meta.get("failures") ?? 0) + 1;
      this.meta.set("failures", failures);
      const throttled = err instanceof PlatformError && err.kind === "throttled" ? err.retryAfterMs : undefined;
      const delay = throttled ?? backoffMs(failures, 1000, 15 * 60_000);
      log.warn(
        `Catalogue of ${shop} not brought up to date (attempt ${failures}), retrying in ${delay} ms: ${describeError(err)}`,
        { shop },
      );
      await this.scheduleAt(Date.now() + delay);
    }
  }

  /**
   * A change came for a catalogue not held yet (a shop installed before catalogues were kept, or
   * whose install sync failed): one full read is queued, at most once an hour.
   */
  private async requestFullRead(shop: string) {
    if (Date.now() - Number(this.meta.get("full_read_requested_at") ?? 0) < FULL_READ_REQUEST_INTERVAL_MS) return;
    await this.env.JOBS.send({ type: "shopify.sync", shop, reason: "webhook" } satisfies Job, { contentType: "json" });
    this.meta.set("full_read_requested_at", Date.now());
    log.info(`Full read of ${shop} queued: its catalogue is not held yet`, { shop });
  }

  /** Forgets the whole catalogue (the shop's data redacted). Returns how many products were held. */
  async forget(): Promise<number> {
    const held = this.store.countProducts();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.meta.reset();
    this.alarmPending = false;
    this.store.createTables();
    return held;
  }
}

/** The Durable Object of one shop's catalogue. */
export function catalogueStub(env: Env, shop: string) {
  return env.CATALOGUES.get(env.CATALOGUES.idFromName(shop));
}
