/**
 * The in-isolate tier: recently used records and small bodies held in memory,
 * bounded in bytes (keys, fields and bookkeeping as well as bodies). A hit here costs almost nothing; the Cache API behind it
 * costs about half a bare worker's throughput (see docs/PLATFORM-NOTES.md).
 */
import { LRUCache } from "lru-cache";
import type { StoredRecord } from "./entry";
import type { CacheStore } from "./store";

export interface MemoryItem {
  record: StoredRecord;
  /** The body, for entries; absent for vary manifests. */
  body?: Uint8Array;
  /** When the item was put, ms since the epoch; purge rules compare against it. */
  storedAt: number;
}

/**
 * What an item costs the heap beyond its strings and body: the item, record
 * and metadata objects, the LRU's slots, one small array per stored field.
 * Estimates on the safe side (strings at two bytes a character), so that a
 * flood of distinct URLs with long keys and many fields, not only large
 * bodies, meets the bound: the bound is what an isolate's 128 MB must hold.
 */
const OVERHEAD_BYTES = 1024;
const PER_FIELD_BYTES = 64;

function stringBytes(value: string): number {
  return 2 * value.length;
}

/** The heap an item holds under `key`, estimated from above. */
export function itemBytes(key: string, item: MemoryItem): number {
  let bytes = OVERHEAD_BYTES + stringBytes(key) + (item.body?.byteLength ?? 0);
  if (item.record.kind === "entry") {
    const meta = item.record.meta;
    bytes += stringBytes(meta.key) + stringBytes(meta.originId) + stringBytes(meta.bodyId ?? "");
    for (const [name, value] of meta.headers) bytes += PER_FIELD_BYTES + stringBytes(name) + stringBytes(value);
    for (const tag of meta.tags) bytes += PER_FIELD_BYTES + stringBytes(tag);
    for (const field of meta.noCacheFields ?? []) bytes += PER_FIELD_BYTES + stringBytes(field);
  } else {
    for (const field of item.record.manifest.vary) bytes += PER_FIELD_BYTES + stringBytes(field);
  }
  return bytes;
}

export class MemoryTier {
  private readonly lru: LRUCache<string, MemoryItem>;

  constructor(maxBytes: number) {
    this.lru = new LRUCache<string, MemoryItem>({
      maxSize: Math.max(OVERHEAD_BYTES, maxBytes),
      sizeCalculation: (item, key) => itemBytes(key, item),
      // workerd does not advance the lru-cache clock between requests unless resolution is 0.
      ttlResolution: 0,
      ttlAutopurge: false,
    });
  }

  get(key: string): MemoryItem | undefined {
    return this.lru.get(key);
  }

  set(key: string, item: MemoryItem, ttlSeconds: number): void {
    const size = itemBytes(key, item);
    if (size > this.lru.maxSize) return;
    this.lru.set(key, item, { ttl: Math.max(1, ttlSeconds) * 1000, size });
  }

  /** Whether there was an item to delete. */
  delete(key: string): boolean {
    return this.lru.delete(key);
  }

  /** Deletes every item for which the predicate holds (purges by tag, prefix, host). */
  deleteWhere(predicate: (key: string, item: MemoryItem) => boolean): number {
    let n = 0;
    for (const [key, item] of this.lru.entries()) {
      if (predicate(key, item)) {
        this.lru.delete(key);
        n++;
      }
    }
    return n;
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }
}

/** The memory tier behind the one store contract (the contract tests run it like the others). */
export function memoryStore(tier: MemoryTier): CacheStore {
  return {
    async get(key) {
      const item = tier.get(key);
      return item ? { record: item.record, body: item.body ?? null, storedAt: item.storedAt } : undefined;
    },
    async put(key, record, body, retentionSeconds, storedAt) {
      const bytes = body === null ? new Uint8Array(0) : body instanceof Uint8Array ? body : new Uint8Array(await new Response(body).arrayBuffer());
      tier.set(key, { record, body: record.kind === "entry" ? bytes : undefined, storedAt }, retentionSeconds);
    },
    async delete(key) {
      const had = tier.get(key) !== undefined;
      tier.delete(key);
      return had;
    },
  };
}
