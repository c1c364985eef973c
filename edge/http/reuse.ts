/**
 * May a stored response answer this request as it is (RFC 9111 §4, RFC 5861)?
 * Pure: it takes what the entry knows and the request's own directives.
 */
import { secondsOf, type CacheDirectives } from "./cache-control";
import { currentAge } from "./freshness";

export interface StoredFreshness {
  initialAge: number;
  responseTime: number;
  freshness: number;
  staleWhileRevalidate: number;
  staleIfError: number;
  mustRevalidate: boolean;
  /** s-maxage: stale only within the response's own explicit windows. */
  impliedRevalidate?: boolean;
  noCache: boolean;
}

export type ReuseDecision =
  /** Fresh: serve it. */
  | { kind: "fresh"; age: number; ttl: number }
  /** Stale, inside stale-while-revalidate (or max-stale): serve it, revalidate behind the response when asked. */
  | { kind: "stale-serve"; age: number; ttl: number; revalidate: boolean }
  /** Must be validated with the origin first; `reason` becomes Cache-Status fwd. */
  | { kind: "validate"; age: number; ttl: number; reason: "stale" | "request" };

export function reuseDecision(entry: StoredFreshness, request: CacheDirectives, pragmaNoCache: boolean, now: number): ReuseDecision {
  const age = currentAge(entry.initialAge, entry.responseTime, now);
  const ttl = entry.freshness - age;
  const requestNoCache = request.noCache !== false || (pragmaNoCache && request.names.size === 0);
  if (requestNoCache) return { kind: "validate", age, ttl, reason: "request" };
  const maxAge = secondsOf(request.maxAge);
  if (maxAge !== undefined && age > maxAge) return { kind: "validate", age, ttl, reason: "request" };
  const minFresh = secondsOf(request.minFresh);
  if (minFresh !== undefined && ttl < minFresh) return { kind: "validate", age, ttl, reason: "request" };
  if (entry.noCache) return { kind: "validate", age, ttl, reason: "stale" };
  if (ttl > 0) return { kind: "fresh", age, ttl };

  if (entry.mustRevalidate) return { kind: "validate", age, ttl, reason: "stale" };
  const staleFor = -ttl;
  if (request.maxStale !== undefined && !entry.impliedRevalidate) {
    const allowed = request.maxStale === "any" ? Infinity : (secondsOf(request.maxStale) ?? 0);
    if (staleFor <= allowed) return { kind: "stale-serve", age, ttl, revalidate: false };
  }
  if (staleFor < entry.staleWhileRevalidate) return { kind: "stale-serve", age, ttl, revalidate: true };
  return { kind: "validate", age, ttl, reason: "stale" };
}

/**
 * May a stale entry stand in for an origin that failed (RFC 5861 §4)? The
 * response's own stale-if-error, or the site's default window when the
 * response allows stale serving at all (an s-maxage response does only by its own).
 */
export function staleIfErrorAllows(entry: StoredFreshness, defaultWindow: number, now: number): boolean {
  if (entry.mustRevalidate || entry.noCache) return false;
  const window = entry.impliedRevalidate ? entry.staleIfError : Math.max(entry.staleIfError, defaultWindow);
  const ttl = entry.freshness - currentAge(entry.initialAge, entry.responseTime, now);
  return ttl > 0 || -ttl <= window;
}
