/**
 * The POP's two tiers behind one object: the in-isolate memory tier in front
 * of the second tier (the Cache API, or a shard's SQL store). Reads promote,
 * writes go to both, a 304 refreshes both, a vary manifest names variants,
 * and an invalidation forgets an object in both. The pipeline decides what to
 * keep; this object keeps it (undici's interceptor decides, its store stores).
 */
import type { CacheConfig } from "../../common/config";
import { variantKey } from "../../common/cache-key";
import { countBytes } from "../body";
import { guardStoredBody } from "../origin-body-guard";
import { offerRanges } from "../ranged-body";
import { waitAtMost } from "../wait";
import { knownSize, retentionSeconds, UNKNOWN_SIZE, type EntryMeta, type StoredRecord, type VaryManifest } from "./entry";
import type { MemoryTier } from "./memory-tier";
import type { CacheStore, FollowedBody, StoreBody } from "./store";

/** A stored entry found by a lookup. */
export interface Found {
  key: string;
  meta: EntryMeta;
  body: Uint8Array | ReadableStream<Uint8Array> | null;
  tier: "memory" | "cache-api";
}

/** What a lookup found at an object's key: its entry, or why not, and the vary manifest it passed. */
export type Lookup = { found: Found; manifest?: VaryManifest } | { found: undefined; reason: "uri-miss" | "vary-miss"; manifest?: VaryManifest };

interface TierRead {
  record: StoredRecord;
  body: Found["body"];
  tier: Found["tier"];
  storedAt: number;
}

/** Releases a body we will not send (a stream holds a connection or a Cache API read). */
export async function cancelBody(body: Found["body"] | ReadableStream | null): Promise<void> {
  if (body && !(body instanceof Uint8Array)) await body.cancel().catch(() => undefined);
}

export class Tiers {
  constructor(
    readonly memory: MemoryTier,
    private readonly second: () => CacheStore,
    private readonly config: CacheConfig,
    /** Whether writes go to the second tier now (not while its breaker is open). */
    private readonly secondTierWritable: () => boolean = () => true,
  ) {}

  get store(): CacheStore {
    return this.second();
  }

  /** How long an entry is kept in either tier. */
  retention(meta: EntryMeta): number {
    return retentionSeconds(meta, this.config.staleRetentionSeconds, this.config.maxRetentionSeconds);
  }

  /** The in-isolate tier alone, synchronously: the common hit. */
  inMemory(primaryKey: string, requestHeaders: Headers): { found: Found; manifest?: VaryManifest } | undefined {
    const primary = this.memory.get(primaryKey);
    if (!primary) return undefined;
    if (primary.record.kind === "entry") return { found: { key: primaryKey, meta: primary.record.meta, body: primary.body ?? null, tier: "memory" } };
    const manifest = primary.record.manifest;
    const key = variantKey(primaryKey, manifest.vary, requestHeaders, this.config.vary);
    const variant = this.memory.get(key);
    if (variant?.record.kind !== "entry" || variant.storedAt < manifest.since) return undefined;
    return { found: { key, meta: variant.record.meta, body: variant.body ?? null, tier: "memory" }, manifest };
  }

  /** Both tiers: the object's entry, or its variant for these request fields. */
  async lookup(primaryKey: string, requestHeaders: Headers): Promise<Lookup> {
    const primary = await this.read(primaryKey);
    if (!primary) return { found: undefined, reason: "uri-miss" };
    if (primary.record.kind === "entry") return { found: { key: primaryKey, meta: primary.record.meta, body: primary.body, tier: primary.tier } };
    const manifest = primary.record.manifest;
    const key = variantKey(primaryKey, manifest.vary, requestHeaders, this.config.vary);
    const variant = await this.read(key);
    if (variant?.record.kind !== "entry" || variant.storedAt < manifest.since) {
      await cancelBody(variant?.body ?? null);
      return { found: undefined, reason: "vary-miss", manifest };
    }
    return { found: { key, meta: variant.record.meta, body: variant.body, tier: variant.tier }, manifest };
  }

  /** One key from memory, else from the second tier, promoted to memory when small enough. */
  private async read(key: string): Promise<TierRead | undefined> {
    const inMemory = this.fromMemory(key);
    if (inMemory) return inMemory;
    const stored = await this.store.get(key);
    // Memory filled while the store answered (a fill, a refresh, another read): that copy is as new or newer.
    const meanwhile = this.fromMemory(key);
    if (meanwhile) {
      await cancelBody(stored?.body ?? null);
      return meanwhile;
    }
    if (!stored) return undefined;
    if (stored.record.kind === "entry" && knownSize(stored.record.meta) === undefined) {
      // Written before its size was known and never confirmed whole: not to be trusted.
      await cancelBody(stored.body);
      return undefined;
    }
    // Promoted by its real size: an entry whose size is not known yet stays where it is.
    const size = stored.record.kind === "entry" ? knownSize(stored.record.meta) : 0;
    if (size === undefined || size > this.config.memoryEntryMaxBytes) {
      // Streamed to the client as it is read: each chunk gets the lookup's bound, as the lookup did.
      const body = stored.body instanceof ReadableStream ? guardStoredBody(stored.body, this.config.lookupTimeoutMs) : stored.body;
      if (body instanceof ReadableStream && size !== undefined) this.offerStoredRanges(key, body, { storedAt: stored.storedAt, size });
      return { record: stored.record, body, tier: "cache-api", storedAt: stored.storedAt };
    }
    const bytes = stored.body instanceof Uint8Array ? stored.body : stored.body ? new Uint8Array(await new Response(stored.body).arrayBuffer()) : new Uint8Array(0);
    if (stored.record.kind === "entry" && bytes.byteLength !== size) {
      // A body shorter (or longer) than its record says was cut off on its way in.
      await this.store.delete(key);
      return undefined;
    }
    // Never over a copy that landed while the body was read.
    const landed = this.fromMemory(key);
    if (landed) return landed;
    const ttl = stored.record.kind === "entry" ? this.retention(stored.record.meta) : this.config.staleRetentionSeconds;
    this.memory.set(key, { record: stored.record, body: stored.record.kind === "entry" ? bytes : undefined, storedAt: stored.storedAt }, ttl);
    return { record: stored.record, body: bytes, tier: "cache-api", storedAt: stored.storedAt };
  }

  /** A range of a large body read by its store (ranged-body.ts), under the same bound as the body. */
  private offerStoredRanges(key: string, body: ReadableStream<Uint8Array>, stored: { storedAt: number; size: number }): void {
    const store = this.store;
    if (!store.getRange) return;
    offerRanges(body, async (start, end) => {
      const ranged = await store.getRange?.(key, start, end, stored);
      return ranged && guardStoredBody(ranged, this.config.lookupTimeoutMs);
    });
  }

  private fromMemory(key: string): TierRead | undefined {
    const held = this.memory.get(key);
    return held && { record: held.record, body: held.body ?? null, tier: "memory", storedAt: held.storedAt };
  }

  /**
   * Second-tier writes are best effort: a failed put costs a later miss,
   * never the client's response (the store keeps nothing of it).
   */
  async put(key: string, record: StoredRecord, body: StoreBody, retention: number, now: number): Promise<boolean> {
    if (!this.secondTierWritable()) {
      // A store that leaves lookups unanswered gets no writes either: a streamed body's client reads on alone.
      await cancelBody(body);
      return false;
    }
    try {
      await this.store.put(key, record, body, retention, now);
      return true;
    } catch (err) {
      console.warn(`outpost: cache put failed for ${key}: ${(err as Error).message}`);
      return false;
    }
  }

  /**
   * A whole body: in memory at once (the next request must find it), in the second tier behind
   * the response (the promise returned, for the caller's waitUntil), once `secondTierAfter` has
   * settled when given: a put writing while the answer still goes out shares its thread.
   */
  async keep(key: string, meta: EntryMeta, body: Uint8Array, now: number, secondTierAfter?: Promise<unknown>): Promise<boolean> {
    const record: StoredRecord = { kind: "entry", meta };
    const retention = this.retention(meta);
    if (body.byteLength <= this.config.memoryEntryMaxBytes) this.memory.set(key, { record, body, storedAt: now }, retention);
    if (secondTierAfter) await secondTierAfter.catch(() => undefined);
    return this.put(key, record, body, retention, now);
  }

  /**
   * A body too large for memory, stored as it streams to the client. Past
   * maxObjectBytes the store fails and nothing partial is kept. Without a
   * Content-Length the second tier cannot tell the size later, so once the
   * whole body has passed the entry is written again with its size. A body
   * of known size (within maxObjectBytes, as store.ts checks) goes to the
   * store as it is, uncounted: each store takes it as that size or fails,
   * and a stream of the runtime's is not read chunk by chunk in JavaScript.
   */
  async keepStreamed(key: string, meta: EntryMeta, body: ReadableStream<Uint8Array>, now: number): Promise<void> {
    const retention = this.retention(meta);
    if (meta.size !== UNKNOWN_SIZE) return void (await this.put(key, { kind: "entry", meta }, body, retention, now));
    let total: number | undefined;
    const counted = countBytes(body, this.config.maxObjectBytes, (n) => (total = n));
    const stored = await this.put(key, { kind: "entry", meta }, counted, retention, now);
    if (!stored || total === undefined) return;
    const again = await this.store.get(key);
    if (!again || again.storedAt !== now) return void cancelBody(again?.body ?? null);
    await this.put(key, { kind: "entry", meta: { ...meta, size: total } }, again.body, retention, now);
  }

  /**
   * A large body of known size kept at its origin's pace and read back as it is written, by its
   * own client and by any collapsed onto its fill (CacheStore.follow). Undefined, `body` never
   * called, where the second tier cannot be followed or takes no writes now.
   */
  keepFollowed(key: string, meta: EntryMeta, body: () => ReadableStream<Uint8Array>, now: number): { kept: Promise<boolean>; read: FollowedBody } | undefined {
    const store = this.store;
    if (!store.follow || meta.size === UNKNOWN_SIZE || !this.secondTierWritable()) return undefined;
    const kept = this.put(key, { kind: "entry", meta }, body(), this.retention(meta), now);
    const read = store.follow(key);
    // The store's contract (store.ts): a put is followable once called. Broken, it is our bug.
    if (!read) throw new Error("a followable store had no put under way to follow");
    return { kept, read };
  }

  /** The body being kept at `key` now, read as it is written: for a request collapsed onto its fill. */
  follow(key: string): FollowedBody | undefined {
    return this.store.follow?.(key);
  }

  /** Re-stores an entry freshened by a 304, in both tiers. */
  async refresh(found: Found, meta: EntryMeta): Promise<void> {
    const retention = this.retention(meta);
    const now = Date.now();
    if (found.body instanceof Uint8Array) {
      if (found.body.byteLength <= this.config.memoryEntryMaxBytes) this.memory.set(found.key, { record: { kind: "entry", meta }, body: found.body, storedAt: now }, retention);
      await this.put(found.key, { kind: "entry", meta }, found.body, retention, now);
      return;
    }
    // A large body was streamed to the client: take it again from the second tier.
    const again = await this.store.get(found.key);
    if (again?.body) await this.put(found.key, { kind: "entry", meta }, again.body, retention, now);
  }

  /**
   * Records which fields select an object's variants: in memory at once, in
   * the second tier behind the response. A manifest with the same fields is
   * kept, so its variants stay valid.
   */
  recordVary(primaryKey: string, fields: string[], current: VaryManifest | undefined, now: number, waitUntil: (p: Promise<unknown>) => void): void {
    if (current && current.vary.join(",") === fields.join(",")) return;
    const record: StoredRecord = { kind: "vary", manifest: { v: 1, vary: fields, since: now - 1 } };
    const retention = this.config.staleRetentionSeconds;
    this.memory.set(primaryKey, { record, storedAt: now }, retention);
    waitUntil(this.put(primaryKey, record, null, retention, now));
  }

  /**
   * Forgets an object: its entry, or its vary manifest (which orphans its
   * variants). Whether the colo had a copy (here, or in the store it shares).
   * The store gets cache.lookupTimeoutMs to say: a colo cache gone quiet must
   * not hold the answer that waits on this. Its delete goes on (`keepAlive`,
   * a waitUntil), and, not knowing, the colo counts as having had a copy.
   */
  async invalidate(key: string, keepAlive: (work: Promise<unknown>) => void): Promise<boolean> {
    const inMemory = this.memory.delete(key);
    const deleting = this.store.delete(key);
    keepAlive(deleting);
    const inStore = await waitAtMost(deleting, this.config.lookupTimeoutMs, true);
    return inMemory || inStore;
  }
}
