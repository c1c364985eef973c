/**
 * One contract for every tier behind the in-isolate memory: the POP's Cache
 * API and the shield's SQLite storage (and, through an adapter, the memory
 * tier itself). A store keeps a record (entry metadata or a vary manifest),
 * its body, and a retention past which it forgets both. test/worker/stores.test.ts
 * runs one contract suite against each.
 */
import type { StoredRecord } from "./entry";

export interface StoredItem {
  record: StoredRecord;
  body: ReadableStream<Uint8Array> | Uint8Array | null;
  /** When it was put, ms since the epoch (purge and vary rules compare against it). */
  storedAt: number;
}

export type StoreBody = ReadableStream<Uint8Array> | Uint8Array | null;

/** A body being put, read as it is written (CacheStore.follow). */
export interface FollowedBody {
  record: StoredRecord;
  storedAt: number;
  /** The body from its start, each part once it is stored; it errors if the put fails. */
  body: ReadableStream<Uint8Array>;
  /** Resolves once its first bytes are stored (or it ended empty); rejects when the put failed before. */
  started: Promise<void>;
}

export interface CacheStore {
  get(key: string): Promise<StoredItem | undefined>;
  /** Resolves once the whole body is stored; rejects (and keeps nothing) when the body fails. */
  put(key: string, record: StoredRecord, body: StoreBody, retentionSeconds: number, storedAt: number): Promise<void>;
  delete(key: string): Promise<boolean>;
  /**
   * Bytes `start`..`end` (inclusive) of the body stored at `key`, read by the store itself, when
   * it can and the entry is still the one `stored` describes (put at that time, of that size);
   * undefined otherwise. Optional: a store without it has its bodies read from their start.
   */
  getRange?(key: string, start: number, end: number, stored: { storedAt: number; size: number }): Promise<ReadableStream<Uint8Array> | undefined>;
  /**
   * The streamed body of known size being put at `key` now, read as it is written, so that
   * any number of clients share one fill, each at its own pace; undefined when no such put is
   * under way. A put must be followable as soon as `put` has been called (before it awaits).
   * Optional: a store without it (the Cache API, whose puts cannot be read until whole) has
   * each client of a large object fill on its own.
   */
  follow?(key: string): FollowedBody | undefined;
}
