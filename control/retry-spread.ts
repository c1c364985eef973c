/**
 * How widely the isolates spread their first retry after a failed sync,
 * told to them with every sync. When the control object goes away every held
 * sync breaks at once; retries spread over this window arrive at about
 * RECONNECTS_PER_SECOND whatever the number of isolates, well inside what one
 * Durable Object takes (on the order of 1,000 requests a second), and a small
 * network (the local one, a site's first POPs) still comes back within a
 * second or two. Pure.
 */

/** Reconnections a second the object invites after an outage. */
export const RECONNECTS_PER_SECOND = 200;
const MIN_SPREAD_MS = 1000;
/** The isolates' own cap on a backoff (edge/snapshot-client.ts's MAX_BACKOFF_MS). */
const MAX_SPREAD_MS = 60_000;

export function retrySpreadMs(isolates: number): number {
  return Math.min(MAX_SPREAD_MS, Math.max(MIN_SPREAD_MS, Math.ceil((isolates / RECONNECTS_PER_SECOND) * 1000)));
}
