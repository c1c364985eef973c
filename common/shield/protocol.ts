/**
 * How a POP talks to a shield shard, through the control worker's
 * SHIELD_ROUTE (edge/shield/route.ts). The fields are ours alone (every one
 * starts with x-outpost-, which no tier takes from a client or an origin): the
 * route checks the POP token and the shard drops them all before its pipeline
 * sees the request, so none of them reaches an origin.
 */
/** The route a POP sends a shard its miss on, on the control host (Hono's path syntax). */
export const SHIELD_ROUTE = "/__shield/:region/:shard";

/** SHIELD_ROUTE for one shard. */
export function shieldRoutePath(region: string, shard: number): string {
  return SHIELD_ROUTE.replace(":region", encodeURIComponent(region)).replace(":shard", String(shard));
}

export const SHIELD_FIELDS = {
  /** The POP token (never Authorization: the client's own goes on to the origin). */
  token: "x-outpost-pop-token",
  /** The client's URL as the key holds it. */
  url: "x-outpost-url",
  /** "region:shard". */
  shard: "x-outpost-shield",
  /** The purge position of the POP: the shard applies as much before answering. */
  purgeSeq: "x-outpost-purge-seq",
  purgeEpoch: "x-outpost-purge-epoch",
  /** "1" on a POST: not a fill but an invalidation of the URL's key (RFC 9111 §4.4, after an unsafe request at a POP). */
  invalidate: "x-outpost-invalidate",
  /** A random value per request, which the shard's answer echoes in SHIELD_ANSWER. */
  nonce: "x-outpost-nonce",
  /** Milliseconds the POP will still wait: the shard answers within them, so the POP can relay its answer. */
  budget: "x-outpost-budget-ms",
} as const;

/**
 * On every answer the shard's pipeline gives, the request's nonce. An answer
 * without it is the shard's (or the route's) own failure, never an origin's:
 * the POP then goes to the origin itself. No origin can forge it: origins never
 * see the nonce, and every tier drops x-outpost- fields an origin sends.
 */
export const SHIELD_ANSWER = "x-outpost-shield-answer";

/** What a POP keeps of its budget to relay a shard's answer (the shard gets the rest, see SHIELD_FIELDS.budget). */
export const SHIELD_RELAY_MARGIN_MS = 250;

/** The shard's own failure: no SHIELD_ANSWER, so the POP goes to the origin itself. */
export function shieldUnavailable(reason: string): Response {
  return new Response(`${JSON.stringify({ error: "shield unavailable", reason })}\n`, {
    status: 503,
    headers: { "content-type": "application/json", "cache-control": "no-store", "retry-after": "1" },
  });
}
