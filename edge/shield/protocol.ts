/**
 * How a POP talks to a shield shard, through the control worker's
 * /__shield/{region}/{shard} route. The fields are ours alone: the route
 * checks the POP token and the shard drops them all before its pipeline sees
 * the request, so none of them reaches an origin.
 */
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
  /** "1": not a fill but an invalidation of the URL's key (RFC 9111 §4.4, after an unsafe request at a POP). */
  invalidate: "x-outpost-invalidate",
} as const;

/** Marks an answer as the shield's own failure (not an origin's): the POP then goes to the origin itself. */
export const SHIELD_UNAVAILABLE = "x-outpost-shield-unavailable";

export function shieldUnavailable(reason: string): Response {
  return new Response(JSON.stringify({ error: "shield unavailable", reason }) + "\n", {
    status: 503,
    headers: { "content-type": "application/json", "cache-control": "no-store", [SHIELD_UNAVAILABLE]: "1", "retry-after": "1" },
  });
}
