/**
 * The folded catch-up through the colo's Cache API. After a deploy every
 * isolate of every colo is new and far behind at once: each asking the one
 * global object for its ~1 MiB answer would be 10,000 answers (10 GB) from one
 * object in a minute. The control API runs in the caller's colo (a service
 * binding runs where it is called), so the first isolate of a colo to ask
 * fetches the answer and keeps it in the colo's cache; the colo's other
 * isolates take it from there, within a local round trip.
 *
 * Which answer may serve whom: the isolate names the purge epoch and the
 * newest sequence number its sync reported (`after`). The object folds up to
 * at least `after - catchUpAfter / 2` (control/purge-pages.ts), so an answer
 * fetched for any `after` of one band of `catchUpAfter / 2` leaves every
 * isolate of that band fewer than `catchUpAfter` rules behind: it pages the
 * rest. A newer band (purges went on) fetches a newer answer.
 */
import { catchUpHeaderOf } from "../common/catch-up";

/** How long the colo keeps an answer: the length of a deploy's wave of new isolates, not more. */
const COLO_KEEP_SECONDS = 60;

export interface CatchUpRequest {
  epoch: string;
  /** The newest purge sequence the isolate's sync reported. */
  after: number;
  /** PURGE_CATCH_UP_AFTER. */
  catchUpAfter: number;
}

/** The answer for `request`, from the colo's cache when an isolate of the colo fetched it already, else from `fold`. */
export async function catchUpThroughColo(cache: Cache | undefined, request: CatchUpRequest, fold: () => Promise<Uint8Array<ArrayBuffer>>): Promise<Response> {
  const headers = { "content-type": "application/octet-stream", "cache-control": "no-store" };
  const band = Math.floor(request.after / Math.max(1, Math.floor(request.catchUpAfter / 2)));
  const key = new Request(`https://catch-up.outpost.internal/${encodeURIComponent(request.epoch)}/${band}`);
  // The colo's cache only spares the object work: when it fails, the isolate still gets its answer.
  const kept = await cache?.match(key).catch(() => undefined);
  if (kept) return new Response(kept.body, { headers: { ...headers, "x-outpost-catch-up": "colo" } });
  const bytes = await fold();
  // An answer of another epoch (the object lost its state) is the isolate's to refuse, not the colo's to keep.
  if (cache && catchUpHeaderOf(bytes).epoch === request.epoch) {
    const keep = new Response(bytes, { headers: { "content-type": "application/octet-stream", "cache-control": `max-age=${COLO_KEEP_SECONDS}` } });
    await cache.put(key, keep).catch(() => undefined);
  }
  return new Response(bytes, { headers: { ...headers, "x-outpost-catch-up": "control plane" } });
}
