/**
 * What a regional relay and the global control object say to each other
 * (Durable Object RPC inside one script, never from a client): the relay's
 * held sync for news, and its batches of what its isolates told it.
 */
import type { Snapshot } from "../common/snapshot";
import type { Report, SyncReport } from "../common/wire";

/** A relay's sync: where it is. `purgeSeq` absent: a new relay, sent the newest window of rules. */
export interface RelaySyncRequest {
  relay: string;
  have: number;
  purgeSeq?: number;
  epoch?: string;
}

/** The global object's answer: the snapshot, its `purges` the rules right after `after`. */
export interface RelayAnswer {
  snapshot: Snapshot;
  after: number;
}

/** An isolate's sync as its relay took it: its report, and the newest rule the relay then sent it, when. */
export interface RelayedSync {
  report: SyncReport;
  /** The newest rule sent, numbered in `epoch`. */
  delivered: number;
  epoch?: string;
  at: number;
  /** Until when the relay holds the isolate's sync open (its bound); absent once the stream ended. */
  heldUntil?: number;
}

/** What a relay forwards at most every RELAY_FLUSH_MS (soon after news reached its isolates). */
export interface RelayBatch {
  relay: string;
  /** Isolates' syncs held by the relay now (for /metrics). */
  held: number;
  syncs: RelayedSync[];
  reports: Report[];
}
