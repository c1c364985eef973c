/**
 * May a shared cache store this response (RFC 9111 §3, §3.5)? Pure.
 *
 * Outpost adds one rule of its own that the issue tracker asks for: a
 * response that sets a cookie is never stored, because a cookie meant for one
 * user must never be replayed to another.
 */
import type { CacheDirectives } from "./cache-control";
import { HEURISTICALLY_CACHEABLE, hasExplicitFreshness } from "./freshness";

export type StoreDecision = { store: true } | { store: false; reason: string };

/** Status codes whose meaning we understand well enough to store (must-understand, §5.2.2.3). */
const UNDERSTOOD_STATUS = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 400, 403, 404, 405, 410, 414, 421, 451, 500, 501, 502, 503, 504]);

export interface StorableInput {
  method: string;
  status: number;
  requestHeaders: Headers;
  requestDirectives: CacheDirectives;
  responseHeaders: Headers;
  /** The governing directives (targeted field or Cache-Control). */
  responseDirectives: CacheDirectives;
}

export function storeDecision(input: StorableInput): StoreDecision {
  const { method, status, requestHeaders, requestDirectives, responseHeaders, responseDirectives: cc } = input;
  if (method !== "GET") return { store: false, reason: "method" };
  if (status < 200 || status === 206 || status === 304) return { store: false, reason: "status" };
  if (cc.mustUnderstand && !UNDERSTOOD_STATUS.has(status)) return { store: false, reason: "must-understand" };
  if (cc.noStore && !(cc.mustUnderstand && UNDERSTOOD_STATUS.has(status))) return { store: false, reason: "no-store" };
  if (requestDirectives.noStore) return { store: false, reason: "request-no-store" };
  if (cc.private === true) return { store: false, reason: "private" };
  if (requestHeaders.has("authorization") && !(cc.public || cc.sMaxAge !== undefined || cc.mustRevalidate)) {
    return { store: false, reason: "authorization" };
  }
  if (responseHeaders.has("set-cookie")) return { store: false, reason: "set-cookie" };
  const vary = responseHeaders.get("vary");
  if (vary?.split(",").some((v) => v.trim() === "*")) return { store: false, reason: "vary-star" };
  const reusable = cc.public || hasExplicitFreshness(responseHeaders, cc) || HEURISTICALLY_CACHEABLE.has(status);
  if (!reusable) return { store: false, reason: "not-cacheable-status" };
  // A response with no freshness and nothing to revalidate with could never be
  // reused, so storing it would only evict something useful.
  const explicit = hasExplicitFreshness(responseHeaders, cc);
  const validator = responseHeaders.has("etag") || responseHeaders.has("last-modified");
  const staleWindow = cc.staleWhileRevalidate !== undefined || cc.staleIfError !== undefined;
  if (!explicit && !validator && !staleWindow) return { store: false, reason: "no-freshness" };
  return { store: true };
}
