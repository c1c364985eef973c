/**
 * Freshness and age (RFC 9111 §4.2) for a shared cache. Pure: every clock
 * reading is a parameter, so tests can put a response at any age.
 */
import { secondsOf, type CacheDirectives } from "./cache-control";
import { parseHttpDate } from "./dates";

/** Status codes that RFC 9110 §15.1 lets a cache reuse with heuristic freshness. */
export const HEURISTICALLY_CACHEABLE = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

/** RFC 9111 §4.2.2 suggests 10% of the time since Last-Modified. */
export const HEURISTIC_FRACTION = 0.1;
/** A cap so a file untouched for years is not trusted for months. */
export const HEURISTIC_MAX_SECONDS = 86400;

export type FreshnessSource = "s-maxage" | "max-age" | "expires" | "heuristic" | "none";

export interface Freshness {
  /** Seconds the response stays fresh, measured from its generation at the origin. */
  lifetime: number;
  source: FreshnessSource;
}

/**
 * How long a response stays fresh in a shared cache. `directives` are the
 * governing ones (see targeted.ts); `headers` give Expires, Date and
 * Last-Modified. `responseTime` stands in for a missing or invalid Date.
 */
export function freshnessLifetime(status: number, headers: Headers, directives: CacheDirectives, responseTime: number): Freshness {
  const sMaxAge = secondsOf(directives.sMaxAge);
  if (sMaxAge !== undefined) return { lifetime: sMaxAge, source: "s-maxage" };
  const maxAge = secondsOf(directives.maxAge);
  if (maxAge !== undefined) return { lifetime: maxAge, source: "max-age" };

  const expiresHeader = headers.get("expires");
  if (expiresHeader !== null) {
    // An invalid Expires, "0" included, means already expired (§5.3).
    const expires = parseHttpDate(expiresHeader);
    if (expires === undefined) return { lifetime: 0, source: "expires" };
    const date = parseHttpDate(headers.get("date")) ?? responseTime;
    return { lifetime: Math.max(0, Math.floor((expires - date) / 1000)), source: "expires" };
  }

  if (HEURISTICALLY_CACHEABLE.has(status) || directives.public) {
    const lastModified = parseHttpDate(headers.get("last-modified"));
    if (lastModified !== undefined) {
      const date = parseHttpDate(headers.get("date")) ?? responseTime;
      const sinceModified = Math.max(0, (date - lastModified) / 1000);
      return {
        lifetime: Math.min(HEURISTIC_MAX_SECONDS, Math.floor(sinceModified * HEURISTIC_FRACTION)),
        source: "heuristic",
      };
    }
  }
  return { lifetime: 0, source: "none" };
}

/** True when the response says how long it may be reused, not counting heuristics. */
export function hasExplicitFreshness(headers: Headers, directives: CacheDirectives): boolean {
  return directives.sMaxAge !== undefined || directives.maxAge !== undefined || headers.get("expires") !== null;
}

/**
 * The Age header as delta-seconds (RFC 9111 §5.1). Missing counts as 0. A
 * list (one line "0, 7200", or several lines, which Headers joins the same
 * way) is read by its first member, parameters set aside. A first member that
 * is not a non-negative integer (a float, a negative number, text) makes the
 * whole field invalid, and an invalid Age is ignored: it counts as absent.
 */
export function ageHeaderValue(headers: Headers): number {
  const raw = headers.get("age");
  if (raw === null) return 0;
  const comma = raw.indexOf(",");
  const first = comma === -1 ? raw : raw.slice(0, comma);
  const semicolon = first.indexOf(";");
  const value = (semicolon === -1 ? first : first.slice(0, semicolon)).trim();
  if (!/^\d+$/.test(value)) return 0;
  return Math.min(Number(value), 2147483648);
}

/**
 * The corrected initial age of a response when it arrived (§4.2.3), in seconds.
 * requestTime and responseTime are in milliseconds since the epoch.
 */
export function correctedInitialAge(headers: Headers, requestTime: number, responseTime: number): number {
  const date = parseHttpDate(headers.get("date"));
  const apparentAge = date === undefined ? 0 : Math.max(0, (responseTime - date) / 1000);
  const responseDelay = Math.max(0, (responseTime - requestTime) / 1000);
  const age = ageHeaderValue(headers);
  const correctedAgeValue = age + responseDelay;
  return Math.max(apparentAge, correctedAgeValue);
}

/** current_age of §4.2.3, in whole seconds as the Age header carries it. */
export function currentAge(initialAge: number, responseTime: number, now: number): number {
  const residentTime = Math.max(0, (now - responseTime) / 1000);
  return Math.floor(initialAge + residentTime);
}
