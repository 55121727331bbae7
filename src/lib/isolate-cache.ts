import { createHash } from "node:crypto";

/**
 * Every cache that outlives a request lives in this isolate's memory, so each is declared through
 * this module: bounded (least recently used goes first, and an optional age after which an entry is
 * stale), named, and with a one-line reason. `listIsolateCaches()` is the list; tests start from an
 * empty isolate with `resetIsolateCaches()` (and `test/unit/isolate-cache.test.ts` names them all).
 */

export interface IsolateCacheInfo {
  name: string;
  why: string;
  /** Null when the cache is not bounded by a count; `why` then says what bounds it. */
  maxEntries: number | null;
  ttlMs: number | null;
}

interface Registered extends IsolateCacheInfo {
  clear: () => void;
}

const registry = new Map<string, Registered>();

/** Registers a cache kept in a shape of its own (a WeakMap, an index); `clear` empties it for tests. */
export function registerIsolateCache(info: Registered): void {
  if (registry.has(info.name)) throw new Error(`isolate cache ${info.name} is declared twice`);
  registry.set(info.name, info);
}

/** Every cache this isolate keeps between requests (those of the modules loaded so far). */
export function listIsolateCaches(): IsolateCacheInfo[] {
  return [...registry.values()].map(({ name, why, maxEntries, ttlMs }) => ({ name, why, maxEntries, ttlMs }));
}

/** Empties every registered cache: a test then sees what a fresh isolate would. */
export function resetIsolateCaches(): void {
  for (const cache of registry.values()) cache.clear();
}

/** A key for a cache whose entries depend on secrets: their SHA-256, never the secrets themselves. */
export function secretKey(...parts: string[]): string {
  return createHash("sha256").update(parts.join("\n")).digest("hex");
}

export interface IsolateCacheOptions {
  why: string;
  maxEntries: number;
  /** An entry older than this is stale: `get` forgets it and answers undefined. */
  ttlMs?: number;
}

/** A Map bounded to `maxEntries` (least recently used evicted first), entries optionally stale after `ttlMs`. */
export class IsolateCache<K, V> {
  private readonly entries = new Map<K, { value: V; at: number }>();

  constructor(private readonly options: IsolateCacheOptions) {}

  get(key: K, now = Date.now()): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (this.options.ttlMs !== undefined && now - entry.at >= this.options.ttlMs) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: K, value: V, now = Date.now()): V {
    this.entries.delete(key);
    this.entries.set(key, { value, at: now });
    while (this.entries.size > this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  /** The cached value, else `create()`'s, which is kept (a promise is shared by concurrent callers). */
  getOrCreate(key: K, create: () => V, now = Date.now()): V {
    const cached = this.get(key, now);
    return cached !== undefined ? cached : this.set(key, create(), now);
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Declares a bounded cache under `name` (module scope: one per isolate). */
export function isolateCache<K, V>(name: string, options: IsolateCacheOptions): IsolateCache<K, V> {
  const cache = new IsolateCache<K, V>(options);
  registerIsolateCache({
    name,
    why: options.why,
    maxEntries: options.maxEntries,
    ttlMs: options.ttlMs ?? null,
    clear: () => cache.clear(),
  });
  return cache;
}

/**
 * Declares a cache keyed on an object's identity (an environment, a database binding): it holds
 * nothing once the object is collected, so it needs no count bound. `why` must say so.
 */
export function isolateWeakCache<K extends object, V>(name: string, why: string): WeakCache<K, V> {
  const cache = new WeakCache<K, V>();
  registerIsolateCache({ name, why, maxEntries: null, ttlMs: null, clear: () => cache.clear() });
  return cache;
}

export class WeakCache<K extends object, V> {
  private map = new WeakMap<K, V>();

  getOrCreate(key: K, create: () => V): V {
    if (this.map.has(key)) return this.map.get(key)!;
    const value = create();
    this.map.set(key, value);
    return value;
  }

  clear(): void {
    this.map = new WeakMap();
  }
}
