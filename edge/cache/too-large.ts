/**
 * Keys whose object is too large to store here (its Content-Length past
 * cache.maxObjectBytes, or the shield's), kept a while as Varnish keeps a
 * hit-for-pass object: a Range request for one then asks the origin for that
 * range alone (pipeline/range-pass.ts) instead of reading the whole object
 * through to slice it, as a fill does. Per isolate, bounded; forgetting one
 * costs a full fetch, the next request remembers it again.
 */
import { LRUCache } from "lru-cache";

/** How long a key is remembered: Varnish's builtin hit-for-miss lifetime. An object that shrank meanwhile is only passed, never served wrong. */
export const TOO_LARGE_MEMORY_MS = 120_000;
/** At most this many keys per isolate (a few MB of URLs at most). */
const MAX_KEYS = 10_000;

export class TooLargeObjects {
  private readonly keys: LRUCache<string, true>;

  /** `clock`: what the lifetime is measured by (a test's own). */
  constructor(clock: { now(): number } = performance) {
    // workerd does not advance the lru-cache clock between requests unless resolution is 0.
    this.keys = new LRUCache<string, true>({ max: MAX_KEYS, ttl: TOO_LARGE_MEMORY_MS, ttlResolution: 0, ttlAutopurge: false, perf: clock });
  }

  remember(key: string): void {
    this.keys.set(key, true);
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }
}
