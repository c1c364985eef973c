/**
 * What the pipeline's states share about one client request, and the small
 * helpers every state uses on stored entries.
 */
import type { EntryMeta, StoredRecord, VaryManifest } from "./cache/entry";
import type { StoreBody } from "./cache/store";
import type { Timing } from "./deliver";
import type { SiteConfig } from "../common/config";
import type { CacheDirectives } from "./http/cache-control";
import type { Pop } from "./pop";

/** Everything the states share about one client request. */
export interface Transaction {
  pop: Pop;
  request: Request;
  url: URL;
  site: SiteConfig;
  ctx: ExecutionContext;
  primaryKey: string;
  requestDirectives: CacheDirectives;
  pragmaNoCache: boolean;
  cf: IncomingRequestCfProperties | undefined;
  /** The vary manifest lookup found at the primary key, if any. */
  manifest?: VaryManifest;
  /** For Server-Timing. */
  timing: Timing;
  /**
   * When this request's answer must have its status line, ms since the epoch
   * (originFetch.deadlineMs, or what the POP left a shard): every trip forward
   * and every wait shares it. Infinity for requests with a body: an upload is
   * the client's time, bounded by its idle timeout instead.
   */
  deadline: number;
  /** Why this request went to the origin without its shield, for Cache-Status. */
  shieldBypass?: "shield-down" | "shield-ejected";
}

/** A stored entry found by lookup. */
export interface Found {
  key: string;
  meta: EntryMeta;
  body: Uint8Array | ReadableStream<Uint8Array> | null;
  tier: "memory" | "cache-api";
}

/** Storing is best effort: a failed put costs a later miss, never the client's response (the store keeps nothing of it). */
export async function safePut(tx: Transaction, key: string, record: StoredRecord, body: StoreBody, retention: number, now: number): Promise<boolean> {
  try {
    await tx.pop.store.put(key, record, body, retention, now);
    return true;
  } catch (err) {
    console.warn(`outpost: cache put failed for ${key}: ${(err as Error).message}`);
    return false;
  }
}

/** Releases a body we will not send (a stream holds a connection or a Cache API read). */
export async function cancelBody(body: Found["body"] | ReadableStream | null): Promise<void> {
  if (body && !(body instanceof Uint8Array)) await body.cancel().catch(() => undefined);
}

/** Milliseconds left of the request's budget (0 when spent), at most `cap`. */
export function budgetLeft(tx: Transaction, cap = Infinity, now = Date.now()): number {
  return Math.max(0, Math.min(cap, tx.deadline - now));
}
