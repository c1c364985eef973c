/**
 * The pipeline's states and the steps between them, as Varnish's request
 * states (cache_req_fsm.c): each state does one thing and returns the next
 * step; one dispatcher (index.ts) owns the loop; a step a state may not take
 * is an error, answered as one (synth).
 */
import type { VaryManifest } from "../cache/entry";
import type { Found } from "../cache/tiers";
import type { CacheStatusEntry, ForwardReason } from "../http/cache-status";
import type { Transaction } from "../transaction";

/** "miss": the store did not answer in time (or its breaker kept the lookup from it), so whether it holds the object is not known. */
export type MissReason = "uri-miss" | "vary-miss" | "miss";

/** An answer of our own: an error, or a refusal, with its Cache-Status. */
export interface Synth {
  status: number;
  message: string;
  /** More JSON fields for the body. */
  extra?: Record<string, unknown>;
  cacheStatus: CacheStatusEntry;
  /** Seconds a client should wait before trying again (every failure of ours says). */
  retryAfter?: number;
}

export type Step =
  /** Both tiers, for the request's key. */
  | { to: "lookup" }
  /** A stored entry: fresh, stale, purged? */
  | { to: "hitOrStale"; found: Found; manifest?: VaryManifest }
  /** Nothing usable stored: fill from the origin (collapsed). */
  | { to: "miss"; reason: MissReason; manifest?: VaryManifest }
  /** A stored entry that must be validated first (stale, no-cache, soft-purged). */
  | { to: "revalidate"; found: Found; reason: ForwardReason; manifest?: VaryManifest }
  /** A range of an object too large to store: the range alone, from the origin, stored nowhere. */
  | { to: "rangePass"; reason: ForwardReason }
  /** A method the cache does not answer: to the origin, then invalidate after unsafe ones. */
  | { to: "pass" }
  /** A stored entry to the client. `heldFields`: fields no-cache="f" keeps from a reused answer. */
  | { to: "deliver"; found: Found; cacheStatus: CacheStatusEntry; age: number; heldFields?: readonly string[] }
  /** An answer of our own. */
  | { to: "synth"; answer: Synth }
  /** The answer, made. */
  | { to: "done"; response: Response | Promise<Response> };

export type State = Step["to"];
export type StepTo<S extends State> = Extract<Step, { to: S }>;

/** Where each state may go next: any other step is an error of ours. */
export const NEXT: { readonly [S in State]: readonly State[] } = {
  lookup: ["hitOrStale", "miss"],
  hitOrStale: ["deliver", "miss", "revalidate", "synth"],
  revalidate: ["deliver", "synth", "done"],
  miss: ["deliver", "rangePass", "synth", "done"],
  rangePass: ["synth", "done"],
  pass: ["synth", "done"],
  deliver: ["done"],
  synth: ["done"],
  done: [],
};

export const done = (response: Response | Promise<Response>): Step => ({ to: "done", response });

/** This POP's member of Cache-Status, with what the step adds. */
export function cacheStatusOf(tx: Transaction, fields: Omit<CacheStatusEntry, "cache"> = {}): CacheStatusEntry {
  return { cache: tx.pop.name, ...fields };
}
