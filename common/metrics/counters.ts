/**
 * The counters a POP keeps, declared once: name in the POP, exposition name
 * and help. The POP's zero values, its sync report and the control plane's
 * Prometheus text are all generated from this table.
 */
export const POP_COUNTERS = {
  requests: { metric: "outpost_requests_total", help: "Requests a POP has handled." },
  hits: { metric: "outpost_cache_hits_total", help: "Requests answered from the cache (fresh or stale-while-revalidate)." },
  misses: { metric: "outpost_cache_misses_total", help: "Requests that found nothing stored." },
  lookupsSkipped: {
    metric: "outpost_cache_lookups_skipped_total",
    help: "Lookups that did not ask the store behind memory: it had left too many unanswered in a row (its breaker was open).",
  },
  lookupTimeouts: {
    metric: "outpost_cache_lookup_timeouts_total",
    help: "Lookups the store behind memory did not answer within cache.lookupTimeoutMs: they went forward as misses.",
  },
  staleServes: { metric: "outpost_stale_serves_total", help: "Stale responses served (stale-while-revalidate and stale-if-error)." },
  collapsed: { metric: "outpost_collapsed_total", help: "Requests that waited for another request's fill or revalidation." },
  originRequests: { metric: "outpost_origin_requests_total", help: "Forward trips to origins (or to a shield)." },
  originErrors: { metric: "outpost_origin_errors_total", help: "Forward trips that failed, got a 5xx, or whose body stalled or broke off." },
  stored: { metric: "outpost_stored_total", help: "Responses stored." },
  retries: { metric: "outpost_retries_total", help: "Retries on another origin." },
  retriesDeniedByBudget: { metric: "outpost_retries_denied_total", help: "Retries refused by the retry budget." },
  originOverflows: {
    metric: "outpost_origin_overflows_total",
    help: "Origins passed over for a request because they had as many requests waiting as the isolate may send them (loadBalancing.maxRequestsPerOrigin, or the origin's maxRequests).",
  },
  panicRoutes: { metric: "outpost_panic_routes_total", help: "Misses routed in panic (too few healthy origins: all of them tried)." },
  compressions: { metric: "outpost_compressions_total", help: "Encoded variants made (once per object and coding)." },
  shieldRequests: { metric: "outpost_shield_requests_total", help: "Misses a POP sent to a shield shard." },
  servedBytes: { metric: "outpost_served_bytes_total", help: "Body bytes sent to clients." },
  originBytes: { metric: "outpost_origin_received_bytes_total", help: "Body bytes received from origins and shields: served minus this is what the cache saved them." },
  compressionSavedBytes: {
    metric: "outpost_compression_saved_bytes_total",
    help: "Body bytes compression kept off the wire (identity size minus encoded size, per encoded response).",
  },
  shieldBypasses: { metric: "outpost_shield_bypasses_total", help: "Misses that went to the origin directly because their shield shard was down, slow or ejected." },
} as const;

export type PopCounterName = keyof typeof POP_COUNTERS;
export type PopCounters = Record<PopCounterName, number>;

export function zeroCounters(): PopCounters {
  return Object.fromEntries(Object.keys(POP_COUNTERS).map((name) => [name, 0])) as PopCounters;
}
