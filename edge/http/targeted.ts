/**
 * Which cache-control field governs Outpost (RFC 9213 targeted fields).
 *
 * The most specific field present wins and the less specific ones are ignored
 * entirely, as RFC 9213 §2.2 asks: Outpost-CDN-Cache-Control (ours alone), then
 * CDN-Cache-Control (every CDN), then Surrogate-Control (the older convention),
 * then Cache-Control. A targeted field that fails to parse to any directive is
 * treated as absent, so that garbage cannot switch off the origin's Cache-Control.
 */
import { parseCacheControl, type CacheDirectives } from "./cache-control";

export const TARGETED_FIELDS = ["outpost-cdn-cache-control", "cdn-cache-control", "surrogate-control"] as const;
export type GoverningField = (typeof TARGETED_FIELDS)[number] | "cache-control";

/** Fields meant for Outpost only: they never reach the client. */
export const FIELDS_REMOVED_BEFORE_CLIENT = ["outpost-cdn-cache-control", "surrogate-control"] as const;

export interface GoverningDirectives {
  field: GoverningField;
  directives: CacheDirectives;
}

export function governingDirectives(headers: Headers): GoverningDirectives {
  for (const field of TARGETED_FIELDS) {
    const value = headers.get(field);
    if (value === null) continue;
    const directives = parseCacheControl(value);
    if (directives.names.size > 0) return { field, directives };
  }
  return { field: "cache-control", directives: parseCacheControl(headers.get("cache-control")) };
}
